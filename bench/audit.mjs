// Audit-trail performance targets (audit issue), measured in one run:
// - writing: ≥ 20,000 entries/s sustained from one process (group commit);
// - with 1,000,000 entries on disk: `log --limit 50` ≤ 200 ms, `log --agent X` (a full scan)
//   ≤ 3 s, `log summary` ≤ 5 s, `log verify` ≤ 10 s; and the file size.
// The commands are the built CLI, spawned, as a user runs them; `node -e 0` is the baseline.
// Usage: node bench/audit.mjs   (after npm run build; ENTRIES=1000000 by default)
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAuditWriter } from '../dist/src/audit/writer.js';
import { median, timeCommand } from './lib.mjs';

const ENTRIES = Number(process.env.ENTRIES ?? 1_000_000);
const RUNS = Number(process.env.RUNS ?? 3);
const FSYNC = process.env.AGENTSECRETS_AUDIT_FSYNC ?? 'interval';
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const home = await mkdtemp(join(tmpdir(), 'agentsecrets-bench-audit-'));
const dir = join(home, 'audit');

// 1. Write ENTRIES entries from one process, as the proxy does: many appends in flight.
const agents = Array.from({ length: 50 }, (_, i) => `agent-${i}`);
const writer = createAuditWriter({ dir, fsync: FSYNC });
const started = performance.now();
let inFlight = [];
for (let i = 0; i < ENTRIES; i++) {
  // One call in a thousand is by a rare agent: `log --agent rare-agent` has to scan it all.
  const agent = i % 1000 === 500 ? 'rare-agent' : agents[i % agents.length];
  inFlight.push(
    writer.append({
      workspace: 'local',
      project: 'default',
      environment: i % 3 === 0 ? 'production' : 'development',
      agent_id: agent,
      identity_level: i % 4 === 0 ? 'anonymous' : 'issued',
      token_id: `tok_${i % 97}`,
      source: 'proxy',
      method: i % 5 === 0 ? 'POST' : 'GET',
      target_url: `https://api.example.com/v1/items/${i}`,
      domain: i % 7 === 0 ? 'api.stripe.com' : 'api.example.com',
      secret_keys: ['API_KEY'],
      auth_styles: ['bearer'],
      status: i % 20 === 0 ? 'BLOCKED' : 'OK',
      status_code: i % 20 === 0 ? 403 : 200,
      reason: i % 20 === 0 ? 'domain_not_in_allowlist' : null,
      redacted: i % 11 === 0,
      duration_ms: 1 + (i % 50),
    }),
  );
  if (inFlight.length >= 2000) {
    await Promise.all(inFlight);
    inFlight = [];
  }
}
await Promise.all(inFlight);
await writer.close();
const writeSeconds = (performance.now() - started) / 1000;
const rate = ENTRIES / writeSeconds;

let bytes = 0;
const segments = (await readdir(dir)).filter((n) => n.startsWith('seg-'));
for (const name of segments) bytes += (await stat(join(dir, name))).size;

// 2. Query the log with the CLI.
const env = { PATH: process.env.PATH, HOME: home, AGENTSECRETS_HOME: home };
const time = (args) =>
  median(
    Array.from({ length: RUNS }, () => timeCommand(process.execPath, [cli, ...args], { env })),
  );
const baseline = median(
  Array.from({ length: RUNS }, () => timeCommand(process.execPath, ['-e', '0'], { env })),
);
const results = [
  ['log --limit 50', time(['log', '--limit', '50']), 200],
  ['log --agent rare-agent', time(['log', '--agent', 'rare-agent', '--limit', '100000']), 3000],
  ['log summary', time(['log', 'summary']), 5000],
  ['log verify', time(['log', 'verify']), 10_000],
];
await rm(home, { recursive: true, force: true });

console.log(
  `audit log: ${ENTRIES.toLocaleString('en')} entries, AGENTSECRETS_AUDIT_FSYNC=${FSYNC} (written to the OS before each append resolves; fsync every 1 s)`,
);
console.log(
  `  write: ${rate.toFixed(0)} entries/s sustained from one process (${writeSeconds.toFixed(1)} s); target ≥ 20,000  ${rate >= 20_000 ? 'OK' : 'MISSED'}`,
);
console.log(
  `  on disk: ${(bytes / 1024 / 1024).toFixed(1)} MiB in ${segments.length} segment(s), ${(bytes / ENTRIES).toFixed(0)} bytes per entry`,
);
console.log(`  node -e 0 baseline: ${baseline.toFixed(0)} ms (median of ${RUNS})`);
let ok = rate >= 20_000;
for (const [label, ms, target] of results) {
  const pass = ms <= target;
  ok &&= pass;
  console.log(
    `  ${label.padEnd(24)} ${ms.toFixed(0).padStart(6)} ms  (target ≤ ${target} ms)  ${pass ? 'OK' : 'MISSED'}`,
  );
}
process.exitCode = ok ? 0 : 1;
