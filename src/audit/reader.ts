import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno } from '../store/fs.js';
import { CHECKPOINT_FILE, parseCheckpoint } from './checkpoints.js';
import { needleBuffers, openIfExists } from './scan.js';
import { type AuditEntry, parseSegmentName } from './format.js';

/** One segment file of the log. */
export interface Segment {
  name: string;
  path: string;
  seq: number;
  day: string;
}

/**
 * The log's segments, oldest first, from the prune base on (read once per call unless
 * `fromSeq` is given): a file numbered below it is not part of the log, whatever it holds.
 */
export async function listSegments(dir: string, fromSeq?: number): Promise<Segment[]> {
  const from = fromSeq ?? (await pruneBaseSeq(dir));
  return (await listAllSegments(dir)).filter((s) => s.seq >= from);
}

/** Every segment file, oldest first, including any below the prune base (verify, prune). */
export async function listAllSegments(dir: string): Promise<Segment[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  return names
    .map((name) => ({ name, parsed: parseSegmentName(name) }))
    .filter(
      (s): s is { name: string; parsed: { seq: number; day: string } } => s.parsed !== undefined,
    )
    .map(({ name, parsed }) => ({ name, path: join(dir, name), ...parsed }))
    .sort((a, b) => a.seq - b.seq);
}

/**
 * The number of the first segment after the latest prune (0 if never pruned), as the newest
 * checkpoint carries it: a read of the checkpoint file's last few lines.
 */
export async function pruneBaseSeq(dir: string): Promise<number> {
  for await (const line of linesBackward(join(dir, CHECKPOINT_FILE), { chunkSize: 16 * 1024 })) {
    const cp = parseCheckpoint(line);
    if (cp !== null) return cp.base === null ? 0 : (parseSegmentName(cp.base.segment)?.seq ?? 0);
  }
  return 0;
}

/** Parses one line of the log; undefined when it is not a JSON object. */
export function parseEntry(line: string): AuditEntry | undefined {
  try {
    const value = JSON.parse(line) as unknown;
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as AuditEntry)
      : undefined;
  } catch {
    return undefined;
  }
}

const CHUNK = 1024 * 1024;

/**
 * Lines of a file from the end to the start (complete lines only, without their newline).
 * With `prefilter`, only lines containing every one of those strings are decoded and
 * yielded: the bytes are searched for the longest one, so a scan for a rare value decodes
 * almost nothing.
 */
export async function* linesBackward(
  path: string,
  options: { prefilter?: readonly string[]; chunkSize?: number } = {},
): AsyncGenerator<string> {
  const chunkSize = options.chunkSize ?? CHUNK;
  const fh = await openIfExists(path);
  if (fh === undefined) return;
  const needles = needleBuffers(options.prefilter);
  try {
    let end = (await fh.stat()).size;
    let carry = Buffer.alloc(0);
    while (end > 0) {
      const length = Math.min(end, chunkSize);
      const buf = Buffer.allocUnsafe(length);
      await fh.read(buf, 0, length, end - length);
      end -= length;
      const data = carry.length > 0 ? Buffer.concat([buf, carry]) : buf;
      // data[first, data.length) holds whole lines; data[0, first) may be a partial line.
      const first = data.indexOf(0x0a) + 1;
      if (first === 0) {
        carry = Buffer.from(data);
        continue;
      }
      const lines =
        needles.length === 0 ? allBackward(data, first) : matchingBackward(data, first, needles);
      for (const line of lines) yield line;
      carry = Buffer.from(data.subarray(0, first - 1));
    }
    if (carry.length > 0) {
      const line = carry.toString('utf8');
      if (needles.every((n) => carry.includes(n))) yield line;
    }
  } finally {
    await fh.close();
  }
}

/** The lines in data[from, length), last first. data[from - 1] is a newline or from is 0. */
function* allBackward(data: Buffer, from: number): Generator<string> {
  let stop = data.length;
  if (data[stop - 1] === 0x0a) stop--;
  while (stop >= from) {
    // Never pass a negative offset: lastIndexOf counts those from the end.
    const nl = stop === 0 ? -1 : data.lastIndexOf(0x0a, stop - 1);
    const start = Math.max(nl + 1, from);
    if (start < stop) yield data.toString('utf8', start, stop);
    if (start <= from) return;
    stop = nl;
  }
}

/** The lines in data[from, length) that contain every needle, last first. */
function* matchingBackward(
  data: Buffer,
  from: number,
  needles: readonly Buffer[],
): Generator<string> {
  const [longest, ...rest] = needles;
  let limit = data.length; // only matches starting before this offset remain
  while (limit > from) {
    const at = data.lastIndexOf(longest!, limit - 1);
    if (at < from) return;
    const lineStart = at === 0 ? 0 : data.lastIndexOf(0x0a, at - 1) + 1;
    let lineEnd = data.indexOf(0x0a, at);
    if (lineEnd === -1) lineEnd = data.length;
    const line = data.subarray(lineStart, lineEnd);
    if (rest.every((n) => line.includes(n))) yield data.toString('utf8', lineStart, lineEnd);
    limit = lineStart - 1;
  }
}

/** Entries newest first, across segments, until `limit` have matched `filter`. */
export async function newestEntries(
  dir: string,
  limit: number,
  filter: (entry: AuditEntry) => boolean = () => true,
): Promise<AuditEntry[]> {
  const found: AuditEntry[] = [];
  const segments = await listSegments(dir);
  for (let i = segments.length - 1; i >= 0 && found.length < limit; i--) {
    for await (const line of linesBackward(segments[i]!.path)) {
      const entry = parseEntry(line);
      if (entry !== undefined && filter(entry)) found.push(entry);
      if (found.length >= limit) break;
    }
  }
  return found;
}

/**
 * Follows the log: yields every entry appended after the call, from any writer, until
 * `signal` aborts. Polls, because file watching misses appends on some filesystems.
 */
export async function* followEntries(
  dir: string,
  options: { signal?: AbortSignal; intervalMs?: number } = {},
): AsyncGenerator<AuditEntry> {
  const interval = options.intervalMs ?? 250;
  const from = await pruneBaseSeq(dir);
  const last = (await listSegments(dir, from)).at(-1);
  let position = { seq: last?.seq ?? 0, offset: last ? (await stat(last.path)).size : 0 };
  while (!options.signal?.aborted) {
    for (const segment of await listSegments(dir, from)) {
      if (segment.seq < position.seq) continue;
      if (segment.seq > position.seq) position = { seq: segment.seq, offset: 0 };
      const size = (await stat(segment.path).catch(() => undefined))?.size ?? 0;
      if (size <= position.offset) continue;
      const fh = await open(segment.path, 'r');
      try {
        const buf = Buffer.alloc(size - position.offset);
        await fh.read(buf, 0, buf.length, position.offset);
        const end = buf.lastIndexOf(0x0a);
        if (end === -1) continue;
        position.offset += end + 1;
        for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
          const entry = parseEntry(line);
          if (entry !== undefined) yield entry;
        }
      } finally {
        await fh.close();
      }
    }
    try {
      await sleep(interval, undefined, { signal: options.signal });
    } catch {
      return;
    }
  }
}
