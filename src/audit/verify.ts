import { createHash, type KeyObject } from 'node:crypto';
import { type Checkpoint, checkpointSignatureValid, readCheckpoints } from './checkpoints.js';
import { GENESIS_HASH } from './format.js';
import { listSegments } from './reader.js';
import { forEachLine } from './scan.js';

/** Where the log first breaks, and why. */
export interface ChainBreak {
  segment: string;
  /** 1-based line number inside the segment. */
  line: number;
  entryId: string | null;
  problem:
    | 'malformed'
    | 'hash_mismatch'
    | 'broken_link'
    | 'truncated'
    | 'checkpoint_mismatch'
    | 'checkpointed_entry_missing'
    | 'bad_checkpoint_signature'
    | 'damaged_checkpoint';
}

export interface ChainReport {
  ok: boolean;
  entries: number;
  segments: number;
  head: string;
  firstBreak: ChainBreak | null;
  checkpoints: {
    total: number;
    /** Checkpoints whose entry was found with the signed hash. */
    matched: number;
    /** Whether signatures were checked (a public key was available). */
    signaturesChecked: boolean;
  };
  /** The last entry a valid checkpoint vouches for, if any. */
  signedThrough: { segment: string; entryId: string } | null;
  /** Entries after the last checkpoint: intact as a chain, but not yet signed. */
  unsignedTail: number;
  /** Where verification started: genesis, or the base a prune recorded. */
  base: { segment: string | null; prevHash: string; pruned: string[] };
}

// Every line ends with the same fixed-width tail: ,"prev_hash":"<64>","hash":"<64>"}
const TAIL = 154;
const PREV_AT = TAIL - 14; // offset of prev_hash's value, counted from the end
const HASH_AT = 66;

/**
 * Walks every segment: each entry's hash, its link to the one before, and every checkpoint.
 * `publicKey` (the audit signing key's public half) checks the checkpoints' signatures; a
 * checkpoint that does not verify is damage, one that is missing its entry is damage, and
 * entries after the last checkpoint are reported as an unsigned tail, not as damage.
 */
export async function verifyChain(
  dir: string,
  options: { publicKey?: KeyObject } = {},
): Promise<ChainReport> {
  const segments = await listSegments(dir);
  const checkpointLines = await readCheckpoints(dir);
  const report: ChainReport = {
    ok: true,
    entries: 0,
    segments: segments.length,
    head: GENESIS_HASH,
    firstBreak: null,
    checkpoints: {
      total: checkpointLines.length,
      matched: 0,
      signaturesChecked: options.publicKey !== undefined,
    },
    signedThrough: null,
    unsignedTail: 0,
    base: { segment: null, prevHash: GENESIS_HASH, pruned: [] },
  };
  const fail = (
    segment: string,
    line: number,
    entryId: string | null,
    problem: ChainBreak['problem'],
  ) => {
    report.ok = false;
    report.firstBreak ??= { segment, line, entryId, problem };
  };

  // Checkpoints first: a bad one is damage whatever the chain says.
  const checkpoints: Checkpoint[] = [];
  checkpointLines.forEach((cp, i) => {
    if (cp === null) return fail('checkpoints.jsonl', i + 1, null, 'damaged_checkpoint');
    if (options.publicKey !== undefined && !checkpointSignatureValid(cp, options.publicKey)) {
      return fail('checkpoints.jsonl', i + 1, cp.entry_id, 'bad_checkpoint_signature');
    }
    checkpoints.push(cp);
  });
  // The latest prune says where the remaining log starts and what it links back to.
  const prune = checkpoints.filter((cp) => cp.kind === 'prune').at(-1);
  let prev = GENESIS_HASH;
  let startSeq = 0;
  const pruned = checkpoints.filter((cp) => cp.kind === 'prune').flatMap((cp) => cp.removed);
  if (prune !== undefined) {
    prev = prune.head;
    const base = segments.find((s) => s.name === prune.segment);
    if (base === undefined) fail(prune.segment, 0, null, 'truncated');
    startSeq = base?.seq ?? Infinity;
    report.base = { segment: prune.segment, prevHash: prune.head, pruned };
  }
  const pending = new Map<string, Checkpoint>();
  for (const cp of checkpoints)
    if (cp.kind === 'head') pending.set(`${cp.segment}\u0000${cp.entry_id}`, cp);
  let sinceCheckpoint = 0;

  for (const segment of segments) {
    if (segment.seq < startSeq) continue;
    let stop = false;
    const halt = (): false => {
      stop = true;
      return false;
    };
    await forEachLine(segment.path, (line, lineNo, partial) => {
      const id = line.startsWith('{"id":"') ? line.slice(7, line.indexOf('"', 7)) : null;
      if (partial) {
        fail(segment.name, lineNo, id, 'truncated');
        return halt();
      }
      const n = line.length;
      if (
        n < TAIL + 8 ||
        !line.startsWith(',"prev_hash":"', n - TAIL) ||
        !line.startsWith('","hash":"', n - PREV_AT + 64) ||
        !line.endsWith('"}')
      ) {
        fail(segment.name, lineNo, id, 'malformed');
        return halt();
      }
      const stored = line.slice(n - HASH_AT, n - 2);
      const linked = line.slice(n - PREV_AT, n - PREV_AT + 64);
      const actual = createHash('sha256')
        .update(`${line.slice(0, n - 75)}}`, 'utf8')
        .digest('hex');
      if (actual !== stored) {
        fail(segment.name, lineNo, id, 'hash_mismatch');
        return halt();
      }
      if (linked !== prev) {
        fail(segment.name, lineNo, id, 'broken_link');
        return halt();
      }
      prev = stored;
      report.entries++;
      sinceCheckpoint++;
      const key = `${segment.name}\u0000${id}`;
      const cp = pending.get(key);
      if (cp !== undefined) {
        pending.delete(key);
        if (cp.head !== stored) {
          fail(segment.name, lineNo, id, 'checkpoint_mismatch');
          return halt();
        }
        report.checkpoints.matched++;
        report.signedThrough = { segment: segment.name, entryId: id! };
        sinceCheckpoint = 0;
      }
      return true;
    });
    if (stop) break;
  }
  report.head = prev;
  report.unsignedTail = sinceCheckpoint;
  // A checkpoint whose entry never appeared: that entry was removed (or a segment truncated).
  if (report.ok) {
    for (const cp of pending.values()) {
      if (!pruned.includes(cp.segment)) {
        fail(cp.segment, 0, cp.entry_id, 'checkpointed_entry_missing');
        break;
      }
    }
  }
  return report;
}
