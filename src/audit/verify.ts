import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { GENESIS_HASH, lineHashes } from './format.js';
import { listSegments } from './reader.js';

/** Where the chain first breaks, and why. */
export interface ChainBreak {
  segment: string;
  /** 1-based line number inside the segment. */
  line: number;
  entryId: string | null;
  problem: 'malformed' | 'hash_mismatch' | 'broken_link' | 'truncated';
}

export interface ChainReport {
  ok: boolean;
  entries: number;
  segments: number;
  head: string;
  firstBreak: ChainBreak | null;
}

/** Walks every segment and checks each entry's hash and its link to the one before. */
export async function verifyChain(dir: string): Promise<ChainReport> {
  const segments = await listSegments(dir);
  let prev = GENESIS_HASH;
  let entries = 0;
  for (const segment of segments) {
    let lineNo = 0;
    const lines = createInterface({ input: createReadStream(segment.path), crlfDelay: Infinity });
    for await (const line of lines) {
      lineNo++;
      const idMatch = /^\{"id":"([^"]+)"/.exec(line);
      const at = (problem: ChainBreak['problem']): ChainReport => ({
        ok: false,
        entries,
        segments: segments.length,
        head: prev,
        firstBreak: { segment: segment.name, line: lineNo, entryId: idMatch?.[1] ?? null, problem },
      });
      const hashes = lineHashes(line);
      if (hashes === undefined) return at('malformed');
      if (hashes.stored !== hashes.actual) return at('hash_mismatch');
      const link = /"prev_hash":"([0-9a-f]{64})","hash":"[0-9a-f]{64}"\}$/.exec(line);
      if (link === null || link[1] !== prev) return at('broken_link');
      prev = hashes.stored;
      entries++;
    }
  }
  return { ok: true, entries, segments: segments.length, head: prev, firstBreak: null };
}
