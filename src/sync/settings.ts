/** `AGENTSECRETS_SYNC_INTERVAL_MS` (default 2,000) and `AGENTSECRETS_SYNC_MAX_STALENESS` (s, default 900). */
export function syncSettings(env: Readonly<Record<string, string | undefined>>): {
  intervalMs: number;
  maxStalenessMs: number;
} {
  const interval = Number(env.AGENTSECRETS_SYNC_INTERVAL_MS ?? 2_000);
  const staleness = Number(env.AGENTSECRETS_SYNC_MAX_STALENESS ?? 900);
  return {
    intervalMs: Number.isFinite(interval) && interval >= 100 ? interval : 2_000,
    maxStalenessMs: (Number.isFinite(staleness) && staleness > 0 ? staleness : 900) * 1000,
  };
}
