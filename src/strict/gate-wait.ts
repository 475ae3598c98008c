/**
 * The back-off of strict mode's passphrase gate (issue 14): a few wrong passphrases are free,
 * then each waits twice as long. Shared by the terminal gate (src/cli/strict-gate.ts, which
 * keeps the failures in gate.json) and the key holder, which also keeps them in memory for the
 * attempts made on the dashboard (an agent can delete gate.json, not the key holder's memory).
 */

/** Failures older than this are forgotten. */
export const GATE_WINDOW_MS = 15 * 60_000;
const FREE_FAILURES = 3;
const MAX_WAIT_MS = 15 * 60_000;

/** How long the gate stays shut after these failures (timestamps in ms), from `now`. */
export function gateWait(failures: readonly number[], now: number): number {
  const recent = failures.filter((t) => now - t < GATE_WINDOW_MS);
  if (recent.length < FREE_FAILURES) return 0;
  const wait = Math.min(MAX_WAIT_MS, 30_000 * 2 ** (recent.length - FREE_FAILURES));
  return Math.max(0, Math.max(...recent) + wait - now);
}
