// What `scrubber.find` costs on realistic answers with no secret in them (the common case),
// this build against the pre-change reference copy (test/core/scrub-reference/), in the same
// run, rounds alternating. Bodies: a JSON list of customers (ids like cus_0abcdefghijklmnop,
// emails, URLs) of 1.6 KB, 10 KiB and 1 MiB; the 1 MiB body is also streamed in 64 KiB
// chunks (as bench/scrub.mjs does). Scopes: 10 and 1,000 secrets. Figures are CPU time
// (process.cpuUsage) per call, the median of ROUNDS rounds.
//   npm run build && node bench/scrub-body.mjs        (ROUNDS=5, SCOPES=10,1000)
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { compileScrubber } from '../dist/src/core/scrub/scrubber.js';
import { createScrubState } from '../dist/src/core/scrub/stream.js';
import { median } from './lib.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const SCOPES = (process.env.SCOPES ?? '10,1000').split(',').map(Number);

// The reference, transpiled on the fly (it is test-only TypeScript, not in dist).
const refDir = join(tmpdir(), `scrub-reference-${process.pid}`);
mkdirSync(refDir, { recursive: true });
for (const name of ['matcher', 'views', 'scrubber']) {
  const source = readFileSync(
    new URL(`../test/core/scrub-reference/${name}.ts`, import.meta.url),
    'utf8',
  );
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2023 },
  });
  writeFileSync(join(refDir, `${name}.js`), outputText);
}
const reference = await import(pathToFileURL(join(refDir, 'scrubber.js')).href);
rmSync(refDir, { recursive: true, force: true });

let seed = 17;
const random = () => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 4294967296;
};
const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const token = (n, a = alphabet) =>
  Array.from({ length: n }, () => a[Math.floor(random() * a.length)]).join('');

function jsonList(size) {
  const items = [];
  let length = 0;
  for (let i = 0; length < size; i++) {
    const text = JSON.stringify({
      id: `cus_${token(17)}`,
      object: 'customer',
      email: `${token(8)}@example.com`,
      name: `Jane Doe ${i}`,
      created: 1700000000 + i,
      url: `/v1/customers/cus_${token(17)}`,
      livemode: false,
    });
    items.push(text);
    length += text.length + 1;
  }
  return Buffer.from(`{"object":"list","data":[${items.join(',')}],"has_more":false}`);
}

const bodies = [
  ['1.6 KB', jsonList(1550)],
  ['10 KiB', jsonList(10 * 1024)],
  ['1 MiB', jsonList(1 << 20)],
];

function cpuUs(fn, calls) {
  const c = process.cpuUsage();
  for (let i = 0; i < calls; i++) fn();
  const u = process.cpuUsage(c);
  return (u.user + u.system) / calls;
}

function stream(scrubber, body) {
  const state = createScrubState(scrubber);
  for (let at = 0; at < body.length; at += 65536) state.push(body.subarray(at, at + 65536));
  state.end();
}

console.log(
  `scrubber.find CPU per call, this build vs pre-change reference; ${new Date().toISOString()}`,
);
for (const count of SCOPES) {
  const values = Array.from({ length: count }, (_, i) =>
    i % 3 === 0
      ? `sk_live_${token(32, ALNUM)}`
      : i % 3 === 1
        ? `ghp_${token(36, ALNUM)}`
        : token(40, ALNUM),
  );
  const builds = { reference: reference.compileScrubber(values), this: compileScrubber(values) };
  for (const [label, body] of bodies) {
    const cases = [[`find ${label}`, (s) => s.find(body)]];
    if (body.length > 100_000) cases.push([`stream ${label}`, (s) => stream(s, body)]);
    for (const [name, run] of cases) {
      for (const s of Object.values(builds)) {
        if (s.find(body).length !== 0) throw new Error('the body holds a secret');
      }
      const calls = Math.max(3, Math.round(2_000_000 / body.length));
      const times = { reference: [], this: [] };
      for (const s of Object.values(builds)) cpuUs(() => run(s), calls); // warm up
      for (let round = 0; round < ROUNDS; round++) {
        for (const build of round % 2 === 0 ? ['reference', 'this'] : ['this', 'reference']) {
          times[build].push(cpuUs(() => run(builds[build]), calls));
        }
      }
      const ref = median(times.reference);
      const cur = median(times.this);
      const fmt = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`);
      console.log(
        `${String(count).padStart(5)} secrets  ${name.padEnd(14)} reference ${fmt(ref).padStart(9)}  this ${fmt(cur).padStart(9)}  this/ref ${((100 * cur) / ref).toFixed(1)}%  (${((ref * 1000) / body.length).toFixed(1)} -> ${((cur * 1000) / body.length).toFixed(1)} ns/byte)`,
      );
    }
  }
}
