// Would handing the audit writer's hashing and file write to a worker_thread pay (issue 17)?
// A prototype, not the writer: per batch of BATCH entries (the proxy-cpu load averages ~17),
// (a) main: UTF-8 + SHA-256 chain + one writeSync on the main thread, as the writer does;
// (b) worker: main posts the batch's strings, the worker hashes and writes them and answers with
//     the hashes, main awaits the answer (as append would before releasing a response).
// Reported: the main thread's CPU per entry (/proc/self/task/<pid>/stat: the main thread's tid
// is the pid; 10 ms ticks) and the process's (process.cpuUsage(), all threads: what
// bench/proxy-cpu.mjs counts). Run: `BATCH=16 node bench/audit-worker-handoff.mjs`.
// Measured 2026-12-06 on the 2-core machine, batch 16: main thread 3.1-3.5 -> 1.1-1.2 µs/entry
// while several GB of earlier runs' files were being written back (slow writes), 1.9 -> 1.9-2.1
// once they were gone; the process 3.1-3.6 -> 5.0-5.9 either way. Batch 1 (a single client):
// main 5.3 -> 11.9, process 5.3 -> 25.2. At best it moves ~2 µs of main-thread CPU per entry and
// adds more than that to the process; the writer stays on the main thread.
import { Worker } from 'node:worker_threads';
import { openSync, readFileSync, writeSync, mkdtempSync, rmSync } from 'node:fs';
import { hash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const BATCH = Number(process.env.BATCH ?? 16),
  N = 100000;
const dir = mkdtempSync(join(tmpdir(), 'wp-'));
const mainTicks = () => {
  const f = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10000;
};
const open =
  '{"id":"req_01JF3ZK4M9Q7T8W2X5Y6Z0A1B2","timestamp":"2026-12-06T00:30:01.123Z","workspace":"local","project":"default","environment":"development","agent_id":"bench-agent","identity_level":"issued","token_id":"tok_abcdef123456","source":"proxy","method":"GET","target_url":"http://127.0.0.1:41234/v1/balance","domain":"127.0.0.1","secret_keys":["BENCH_API_KEY"],"auth_styles":["bearer"],"status":"OK","status_code":200,"reason":null,"redacted":false,"duration_ms":0.812,"private_override":"loopback","command":null,"policy":"workspace-default","prev_hash":"';
const buf = Buffer.allocUnsafe(1 << 20);
function encodeWrite(fd, strs, prev) {
  let at = 0;
  const hashes = [];
  for (const s of strs) {
    const st = at;
    at += buf.write(s + prev + '"', at, 'utf8');
    buf[at] = 0x7d;
    prev = hash('sha256', buf.subarray(st, at + 1), 'hex');
    at += buf.write(',"hash":"' + prev + '"}\n', at, 'latin1');
    hashes.push(prev);
  }
  writeSync(fd, buf, 0, at);
  return hashes;
}
const w = new Worker(
  `
const { parentPort } = require('node:worker_threads'); const { writeSync } = require('node:fs'); const { hash } = require('node:crypto');
const buf = Buffer.allocUnsafe(1 << 20);
parentPort.on('message', ({ fd, strs, prev }) => {
  let at = 0; const hashes = [];
  for (const s of strs) { const st = at; at += buf.write(s + prev + '"', at, 'utf8'); buf[at] = 0x7d; prev = hash('sha256', buf.subarray(st, at + 1), 'hex'); at += buf.write(',"hash":"' + prev + '"}\\n', at, 'latin1'); hashes.push(prev); }
  writeSync(fd, buf, 0, at); parentPort.postMessage(hashes);
});`,
  { eval: true },
);
let resolveAck;
w.on('message', (h) => resolveAck(h));
const fdA = openSync(join(dir, 'a'), 'a'),
  fdB = openSync(join(dir, 'b'), 'a');
async function run(mode) {
  const m0 = mainTicks(),
    c0 = process.cpuUsage();
  let prev = '0'.repeat(64);
  for (let i = 0; i < N; i += BATCH) {
    const strs = [];
    for (let j = 0; j < BATCH; j++) strs.push(open.replace('01JF', String(i + j).padStart(4, '0')));
    // the batch waits for the next turn either way
    await new Promise((r) => setImmediate(r));
    if (mode === 'main') prev = encodeWrite(fdA, strs, prev).at(-1);
    else {
      w.postMessage({ fd: fdB, strs, prev });
      prev = (await new Promise((r) => (resolveAck = r))).at(-1);
    }
  }
  const c = process.cpuUsage(c0);
  return { main: (mainTicks() - m0) / N, proc: (c.user + c.system) / N };
}
const res = { main: [], worker: [] };
await run('main');
await run('worker');
for (let r = 0; r < 5; r++) for (const m of ['main', 'worker']) res[m].push(await run(m));
for (const m of ['main', 'worker']) {
  const s = res[m].map((x) => x.main).sort((a, b) => a - b),
    p = res[m].map((x) => x.proc).sort((a, b) => a - b);
  console.log(
    `batch ${BATCH} ${m}: main-thread CPU µs/entry median ${s[2].toFixed(2)}, process ${p[2].toFixed(2)}`,
  );
}
await w.terminate();
rmSync(dir, { recursive: true, force: true });
