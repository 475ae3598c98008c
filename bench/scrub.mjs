// What scrubbing a response costs with 1,000 secrets in scope (redaction issue).
// Targets: a 10 KiB response adds at most 1 ms median, a 1 MiB response at most 20 ms.
// Baseline in the same run: the same bytes streamed through with nothing to scrub (an empty
// scope), in the same 64 KiB chunks, so the figure is what the scan adds. Each run is timed by
// the wall clock and by this process's CPU time (process.cpuUsage): on a shared machine the
// CPU time is the steadier figure of the work done, and the one the target is judged on; both
// are printed.
import { randomBytes } from 'node:crypto';
import { compileScrubber } from '../dist/src/core/scrub/scrubber.js';
import { createScrubState } from '../dist/src/core/scrub/stream.js';
import { median, percentile } from './lib.mjs';

const SECRETS = Number(process.env.SECRETS ?? 1000);
const RUNS = Number(process.env.RUNS ?? 60);
const CHUNK = 64 * 1024;
const TARGETS = { '10 KiB': 1, '1 MiB': 20 };

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const token = (n) => Array.from(randomBytes(n), (b) => alphabet[b % 62]).join('');
const values = Array.from({ length: SECRETS }, (_, i) =>
  i % 3 === 0 ? `sk_live_${token(32)}` : i % 3 === 1 ? `ghp_${token(36)}` : token(40),
);

/** A realistic JSON API response of about `size` bytes: ids, text, URLs, a little escaping. */
function jsonBody(size) {
  const items = [];
  let length = 0;
  for (let i = 0; length < size; i++) {
    const item = {
      id: `ch_${token(24)}`,
      object: 'charge',
      amount: 1000 + i,
      currency: 'usd',
      description: `Order #${i} for "Jane Doe" <jane@example.com> & co, see https://example.com/o/${i}?a=1&b=2`,
      metadata: { sku: `SKU-${i}`, note: 'line one\nline two\ttabbed', path: '/v1/charges' },
      created: 1700000000 + i,
      livemode: false,
    };
    const text = JSON.stringify(item);
    items.push(text);
    length += text.length + 1;
  }
  return Buffer.from(`{"data":[${items.join(',')}]}`).subarray(0, size);
}

function cpuMs(usage) {
  return (usage.user + usage.system) / 1000;
}

function streamThrough(scrubber, body) {
  const state = createScrubState(scrubber);
  let out = 0;
  for (let at = 0; at < body.length; at += CHUNK) {
    out += state.push(body.subarray(at, at + CHUNK)).length;
  }
  return out + state.end().length;
}

const compileStart = performance.now();
const scope = compileScrubber(values);
const compileMs = performance.now() - compileStart;
const empty = compileScrubber([]);

console.log(
  `scrubbing with ${SECRETS} secrets in scope (compiled once in ${compileMs.toFixed(0)} ms), ${new Date().toISOString()}`,
);
let failed = false;
for (const [label, size] of [
  ['10 KiB', 10 * 1024],
  ['1 MiB', 1024 * 1024],
]) {
  const body = jsonBody(size);
  const scoped = [];
  const baseline = [];
  const runs = size > 100_000 ? Math.max(10, RUNS / 3) : RUNS * 10;
  const wall = [];
  const cpuBase = [];
  for (let i = 0; i < runs + 5; i++) {
    let t = performance.now();
    let c = process.cpuUsage();
    streamThrough(empty, body);
    const baseCpu = cpuMs(process.cpuUsage(c));
    const base = performance.now() - t;
    t = performance.now();
    c = process.cpuUsage();
    const out = streamThrough(scope, body);
    const tookCpu = cpuMs(process.cpuUsage(c));
    const took = performance.now() - t;
    if (out !== body.length) throw new Error('a benign body was changed');
    if (i >= 5) {
      baseline.push(base);
      wall.push(took);
      cpuBase.push(baseCpu);
      scoped.push(tookCpu);
    }
  }
  const added = median(scoped) - median(cpuBase);
  const addedWall = median(wall) - median(baseline);
  const ok = added <= TARGETS[label];
  failed ||= !ok;
  console.log(
    `  ${label.padEnd(7)} added CPU median ${added.toFixed(3)} ms (p99 ${percentile(scoped, 99).toFixed(3)}); added wall median ${addedWall.toFixed(3)} ms (p99 ${percentile(wall, 99).toFixed(3)}); pass-through ${median(baseline).toFixed(3)} ms; target <= ${TARGETS[label]} ms  ${ok ? 'OK' : 'MISSED'}`,
  );
}

// Echoes are found at the same cost: one value planted in several encodings in 1 MiB.
const planted = Buffer.concat([
  jsonBody(512 * 1024),
  Buffer.from(`"${encodeURIComponent(values[7])}" ${Buffer.from(values[9]).toString('base64')}`),
  jsonBody(512 * 1024),
]);
const t = performance.now();
const { count } = scope.redact(planted);
console.log(
  `  1 MiB with 2 planted echoes (URL-encoded, base64): ${count} found in ${(performance.now() - t).toFixed(1)} ms`,
);
if (count !== 2) failed = true;
process.exitCode = failed ? 1 : 0;
