import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isErrno } from '../store/fs.js';
import { type AuditEntry, parseSegmentName } from './format.js';

/** One segment file of the log. */
export interface Segment {
  name: string;
  path: string;
  seq: number;
  day: string;
}

/** The log's segments, oldest first. */
export async function listSegments(dir: string): Promise<Segment[]> {
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

const CHUNK = 256 * 1024;

/** Lines of a file from the end to the start (complete lines only). */
export async function* linesBackward(path: string): AsyncGenerator<string> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  try {
    let end = (await fh.stat()).size;
    let carry = Buffer.alloc(0);
    while (end > 0) {
      const length = Math.min(end, CHUNK);
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, end - length);
      end -= length;
      let data = carry.length > 0 ? Buffer.concat([buf, carry]) : buf;
      let stop = data.length;
      for (;;) {
        const nl = data.lastIndexOf(0x0a, stop - 1);
        if (nl === -1) break;
        if (nl + 1 < stop) yield data.subarray(nl + 1, stop).toString('utf8');
        stop = nl;
      }
      data = data.subarray(0, stop);
      carry = Buffer.from(data);
    }
    if (carry.length > 0) yield carry.toString('utf8');
  } finally {
    await fh.close();
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
  const segments = await listSegments(dir);
  const last = segments.at(-1);
  let position = { seq: last?.seq ?? 0, offset: last ? (await stat(last.path)).size : 0 };
  while (!options.signal?.aborted) {
    for (const segment of await listSegments(dir)) {
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
