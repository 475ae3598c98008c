import type { AuditEntry } from '../audit/format.js';
import { type AuditFilter, matchesFilter, rawNeedles } from '../audit/query.js';
import { linesBackward, listSegments, parseEntry } from '../audit/reader.js';

/**
 * One page of the Activity view: the newest entries that match the same filters as `log`
 * (src/audit/query.ts), older than a cursor. Reads backward from the end and stops when the
 * page is full, so the first page costs the same on any size of log.
 */

/** Where the next page starts: the last row shown. */
export interface Cursor {
  timestamp: string;
  id: string;
}

/** A page of entries, newest first, and the cursor of the next one. */
export interface ActivityPage {
  entries: AuditEntry[];
  next: Cursor | null;
}

/** Encodes a cursor for a URL. */
export function encodeCursor(cursor: Cursor): string {
  return `${cursor.timestamp}~${cursor.id}`;
}

/** Decodes a cursor; undefined when malformed. */
export function decodeCursor(text: string | undefined): Cursor | undefined {
  if (text === undefined || text === '') return undefined;
  const [timestamp, id] = text.split('~');
  if (timestamp === undefined || id === undefined || !/^[\w.:-]+$/.test(timestamp + id))
    return undefined;
  return { timestamp, id };
}

/** Reads one page. */
export async function activityPage(
  dir: string,
  filter: AuditFilter,
  limit: number,
  before?: Cursor,
): Promise<ActivityPage> {
  const scoped: AuditFilter =
    before === undefined
      ? filter
      : {
          ...filter,
          until:
            filter.until !== undefined && filter.until < before.timestamp
              ? filter.until
              : before.timestamp,
        };
  const needles = rawNeedles(scoped);
  const sinceDay = scoped.since?.slice(0, 10).replace(/-/g, '');
  const found: AuditEntry[] = [];
  // Entries at the cursor's own timestamp come before it only once the cursor was passed.
  let passed = before === undefined;
  const segments = await listSegments(dir);
  for (let i = segments.length - 1; i >= 0; i--) {
    if (sinceDay !== undefined && i + 1 < segments.length && segments[i + 1]!.day < sinceDay) break;
    for await (const line of linesBackward(segments[i]!.path, { prefilter: needles })) {
      // Newer than the cursor: skipped on the timestamp's bytes, without a parse.
      if (!passed && timestampOf(line) > before!.timestamp) continue;
      const entry = parseEntry(line);
      if (entry === undefined) continue;
      if (!passed) {
        if (entry.timestamp > before!.timestamp) continue;
        if (entry.timestamp === before!.timestamp) {
          if (entry.id === before!.id) passed = true;
          continue;
        }
        passed = true;
      }
      if (!matchesFilter(entry, scoped)) continue;
      if (found.length === limit) {
        const last = found[found.length - 1]!;
        return { entries: found, next: { timestamp: last.timestamp, id: last.id } };
      }
      found.push(entry);
    }
  }
  return { entries: found, next: null };
}

/** An entry line's timestamp, read from its bytes (the writer puts it second, DESIGN §8). */
function timestampOf(line: string): string {
  const at = line.indexOf('"timestamp":"');
  return at === -1 ? '' : line.slice(at + 13, line.indexOf('"', at + 13));
}
