// CPU per audit append in the key holder's writer (issue 17), this build against another, in one
// process with rounds alternating: each build's writer holds the lease (as the key holder's does)
// and takes BATCH appends per event-loop turn (under the proxy-cpu load a batch averages ~17),
// each awaited as the engine awaits its entry. Also measured: the same loop with no writer (the
// harness's own cost). CPU from process.cpuUsage(); a proxy call makes one append.
//
// Run: `npm run build && BASE_DIR=/work/main node bench/audit-writer-cpu.mjs` (BASE_DIR: a built
// checkout to compare with). BATCH= (default 1 and 16), N= (appends per round), ROUNDS=.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './lib.mjs';

const BATCHES = (process.env.BATCH ?? '1,16').split(',').map(Number);
const N = Number(process.env.N ?? 50_000);
const ROUNDS = Number(process.env.ROUNDS ?? 7);
const builds = { this: fileURLToPath(new URL('../dist/src/audit/writer.js', import.meta.url)) };
if (process.env.BASE_DIR !== undefined)
  builds.base = resolve(process.env.BASE_DIR, 'dist/src/audit/writer.js');

// A proxied call's entry, as the engine records it (with its request id).
let calls = 0;
const entry = () => ({
  id: `req_01JF3ZK4M9Q7T8W2X${String(calls++).padStart(6, '0')}`,
  workspace: 'local',
  project: 'default',
  environment: 'development',
  agent_id: 'bench-agent',
  identity_level: 'issued',
  token_id: 'tok_abcdef123456',
  source: 'proxy',
  method: 'GET',
  target_url: 'http://127.0.0.1:41234/v1/balance',
  domain: '127.0.0.1',
  secret_keys: ['BENCH_API_KEY'],
  auth_styles: ['bearer'],
  status: 'OK',
  status_code: 200,
  reason: null,
  redacted: false,
  duration_ms: 0.8123456,
  private_override: '127.0.0.1/32',
  policy: 'workspace-default',
  detail: null,
});

const home = await mkdtemp(join(tmpdir(), 'agentsecrets-bench-audit-writer-'));
const writers = { none: { append: async () => ({}), close: async () => {} } };
for (const [name, path] of Object.entries(builds)) {
  const { createAuditWriter } = await import(path);
  writers[name] = createAuditWriter({ dir: join(home, name) });
  writers[name].hold?.(join(home, `${name}.sock`));
}

async function round(writer, n, batch) {
  const before = process.cpuUsage();
  for (let i = 0; i < n; i += batch) {
    const appends = [];
    for (let j = 0; j < batch; j++) {
      appends.push(writer.append(entry()));
    }
    await Promise.all(appends);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

try {
  for (const batch of BATCHES) {
    const results = Object.fromEntries(Object.keys(writers).map((name) => [name, []]));
    for (const name of Object.keys(writers)) await round(writers[name], 10_000, batch);
    for (let r = 0; r < ROUNDS; r++)
      for (const name of Object.keys(writers))
        results[name].push(await round(writers[name], N, batch));
    for (const [name, values] of Object.entries(results)) {
      const all = values.map((v) => v.toFixed(2)).join(' ');
      console.log(
        `batch ${batch}, ${name}: CPU/append median ${median(values).toFixed(2)} µs (${all})`,
      );
    }
  }
} finally {
  for (const writer of Object.values(writers)) await writer.close();
  await rm(home, { recursive: true, force: true });
}
