import { open } from 'node:fs/promises';
import { timeOfOrderedId } from '../core/ids.js';
import { readCheckpoints } from './checkpoints.js';
import type { AuditEntry } from './format.js';
import { lineHashes } from './format.js';
import { listSegments, parseEntry, type Segment } from './reader.js';
import { forEachLine, openIfExists } from './scan.js';

/** One entry with its place in the log and in the chain. */
export interface LocatedEntry {
  entry: AuditEntry;
  segment: string;
  line: number;
  /** The entry's own bytes hash to its stored hash. */
  hashValid: boolean;
  /** The previous entry's id, if it is in the same segment. */
  previousId: string | null;
  /** The next entry's id and whether it links back to this one. */
  next: { id: string; linksBack: boolean } | null;
  /** A signed checkpoint names this entry. */
  checkpointed: boolean;
}

/** How far around a found line its neighbours are read (an entry is far smaller). */
const WINDOW = 256 * 1024;

/**
 * Finds an entry by id. Entry ids are time-ordered, so the segment whose first entry is the
 * newest one not after the id's time is searched first, then its neighbours outward; every
 * segment is still searched before the answer is "not found". Each search is a prefiltered
 * scan (memchr speed over the bytes, nothing decoded but the one line).
 */
export async function locateEntry(dir: string, id: string): Promise<LocatedEntry | undefined> {
  const needle = `{"id":${JSON.stringify(id)},`;
  for (const segment of await searchOrder(await listSegments(dir), id)) {
    let hit: { line: string; lineNo: number; offset: number } | undefined;
    await forEachLine(
      segment.path,
      (line, lineNo, partial, offset) => {
        if (partial || !line.startsWith(needle)) return true;
        hit = { line, lineNo, offset };
        return false;
      },
      { prefilter: [needle] },
    );
    if (hit === undefined) continue;
    const entry = parseEntry(hit.line);
    if (entry === undefined) return undefined;
    const hashes = lineHashes(hit.line);
    const around = await neighbours(segment.path, hit.offset, Buffer.byteLength(hit.line));
    const nextEntry = around.next === undefined ? undefined : parseEntry(around.next);
    return {
      entry,
      segment: segment.name,
      line: hit.lineNo,
      hashValid: hashes !== undefined && hashes.stored === hashes.actual,
      previousId: around.previous?.startsWith('{"id":"')
        ? around.previous.slice(7, around.previous.indexOf('"', 7))
        : null,
      next:
        nextEntry === undefined
          ? null
          : { id: nextEntry.id, linksBack: nextEntry.prev_hash === entry.hash },
      checkpointed: (await readCheckpoints(dir)).some(
        ({ cp }) => cp !== null && cp.kind === 'head' && cp.entry_id === id,
      ),
    };
  }
  return undefined;
}

/**
 * Segments in the order to search them for `id`: by the time in the id when it has one (the
 * likely segment, then the next one, since an entry is written when its call ends, then
 * outward), newest first otherwise.
 */
async function searchOrder(segments: Segment[], id: string): Promise<Segment[]> {
  const newestFirst = [...segments].reverse();
  const at = timeOfOrderedId(id);
  if (at === undefined || segments.length < 2) return newestFirst;
  const starts = await Promise.all(segments.map((s) => firstTimestamp(s.path)));
  let likely = 0;
  starts.forEach((t, i) => {
    if (t !== undefined && t <= at) likely = i;
  });
  const order: Segment[] = [];
  for (let d = 0; order.length < segments.length; d++) {
    for (const i of d === 0 ? [likely] : [likely + d, likely - d]) {
      const s = segments[i];
      if (s !== undefined) order.push(s);
    }
  }
  return order;
}

/** The time of a segment's first entry, from its first line. */
async function firstTimestamp(path: string): Promise<number | undefined> {
  const fh = await openIfExists(path);
  if (fh === undefined) return undefined;
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const match = /"timestamp":"([^"]+)"/.exec(buf.toString('utf8', 0, bytesRead));
    const t = match === null ? NaN : Date.parse(match[1]!);
    return Number.isNaN(t) ? undefined : t;
  } finally {
    await fh.close();
  }
}

/** The lines just before and just after the line at [offset, offset + length). */
async function neighbours(
  path: string,
  offset: number,
  length: number,
): Promise<{ previous?: string; next?: string }> {
  const fh = await open(path, 'r');
  try {
    const out: { previous?: string; next?: string } = {};
    if (offset > 0) {
      const start = Math.max(0, offset - WINDOW);
      const buf = Buffer.alloc(offset - start);
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      // buf ends with the previous line's newline.
      const end = bytesRead - 1;
      const from = buf.lastIndexOf(0x0a, end - 1) + 1;
      if (from > 0 || start === 0) out.previous = buf.toString('utf8', from, end);
    }
    const buf = Buffer.alloc(WINDOW);
    const { bytesRead } = await fh.read(buf, 0, buf.length, offset + length + 1);
    const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
    if (nl > 0) out.next = buf.toString('utf8', 0, nl);
    return out;
  } finally {
    await fh.close();
  }
}
