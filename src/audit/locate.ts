import { readCheckpoints } from './checkpoints.js';
import type { AuditEntry } from './format.js';
import { lineHashes } from './format.js';
import { listSegments, parseEntry } from './reader.js';
import { forEachLine } from './scan.js';

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

/** Finds an entry by id (a full scan, pre-filtered on the raw bytes). */
export async function locateEntry(dir: string, id: string): Promise<LocatedEntry | undefined> {
  const needle = `{"id":${JSON.stringify(id)},`;
  for (const segment of await listSegments(dir)) {
    let found: LocatedEntry | undefined;
    let previous: string | null = null;
    await forEachLine(segment.path, (line, lineNo) => {
      if (found !== undefined) {
        const nextEntry = parseEntry(line);
        if (nextEntry !== undefined)
          found.next = { id: nextEntry.id, linksBack: nextEntry.prev_hash === found.entry.hash };
        return false;
      }
      if (!line.startsWith(needle)) {
        previous = line.startsWith('{"id":"') ? line.slice(7, line.indexOf('"', 7)) : null;
        return true;
      }
      const entry = parseEntry(line);
      if (entry === undefined) return false;
      const hashes = lineHashes(line);
      found = {
        entry,
        segment: segment.name,
        line: lineNo,
        hashValid: hashes !== undefined && hashes.stored === hashes.actual,
        previousId: previous,
        next: null,
        checkpointed: false,
      };
      return true;
    });
    if (found !== undefined) {
      const located: LocatedEntry = found;
      located.checkpointed = (await readCheckpoints(dir)).some(
        ({ cp }) => cp !== null && cp.kind === 'head' && cp.entry_id === id,
      );
      return located;
    }
  }
  return undefined;
}
