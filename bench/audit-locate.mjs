// One audit entry by id (`log show <id>`, the dashboard's entry detail; issue 16 review finding
// 11), on a log of ENTRIES entries over 14 days: the newest, a middle and the oldest entry.
// Baseline in the same run: the earlier lookup, a full decoding scan from the oldest segment.
// Usage: node bench/audit-locate.mjs   (after npm run build; ENTRIES=1000000, RUNS=5 by default)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { locateEntry } from '../dist/src/audit/locate.js';
import { listSegments, parseEntry } from '../dist/src/audit/reader.js';
import { forEachLine } from '../dist/src/audit/scan.js';
import { createAuditWriter } from '../dist/src/audit/writer.js';
import { median, ms } from './lib.mjs';

const ENTRIES = Number(process.env.ENTRIES ?? 1_000_000);
const RUNS = Number(process.env.RUNS ?? 5);
const dir = await mkdtemp(join(tmpdir(), 'agentsecrets-bench-locate-'));
const span = 14 * 86_400_000;
const t0 = Date.now() - span;
let clock = t0;
const writer = createAuditWriter({ dir, fsync: 'never', now: () => new Date(clock) });
const ids = [];
let inFlight = [];
for (let i = 0; i < ENTRIES; i++) {
  clock = t0 + Math.floor((i / ENTRIES) * span);
  inFlight.push(
    writer
      .append({
        workspace: 'local',
        project: 'default',
        environment: 'development',
        agent_id: `agent-${i % 20}`,
        identity_level: 'issued',
        token_id: `tok_${i % 97}`,
        source: 'proxy',
        method: 'GET',
        target_url: `https://api.example.com/v1/items/${i}`,
        domain: 'api.example.com',
        secret_keys: ['API_KEY'],
        auth_styles: ['bearer'],
        status: 'OK',
        status_code: 200,
        reason: null,
        redacted: false,
        duration_ms: 1 + (i % 50),
      })
      .then((e) => {
        if (i === 0 || i === ENTRIES >> 1 || i === ENTRIES - 1) ids.push([i, e.id]);
      }),
  );
  if (inFlight.length >= 2000) {
    await Promise.all(inFlight);
    inFlight = [];
  }
}
await Promise.all(inFlight);
await writer.close();
const segments = await listSegments(dir);

/** The lookup before this change: every line decoded, oldest segment first. */
async function fullScan(id) {
  const needle = `{"id":${JSON.stringify(id)},`;
  for (const segment of segments) {
    let found;
    await forEachLine(segment.path, (line) => {
      if (!line.startsWith(needle)) return true;
      found = parseEntry(line);
      return false;
    });
    if (found !== undefined) return found;
  }
  return undefined;
}

async function timed(fn) {
  const samples = [];
  for (let r = 0; r < RUNS; r++) {
    const start = performance.now();
    const out = await fn();
    if (out === undefined) throw new Error('entry not found');
    samples.push(performance.now() - start);
  }
  return median(samples);
}

console.log(`log: ${ENTRIES} entries in ${segments.length} segments`);
console.log('| entry | full scan (before) | locateEntry (now) |');
console.log('|---|---|---|');
for (const [i, id] of ids.sort((a, b) => b[0] - a[0])) {
  const label = i === 0 ? 'oldest' : i === ENTRIES - 1 ? 'newest' : 'middle';
  console.log(
    `| ${label} | ${ms(await timed(() => fullScan(id)))} | ${ms(await timed(() => locateEntry(dir, id)))} |`,
  );
}
await rm(dir, { recursive: true, force: true });
