import { createHash, type KeyObject } from 'node:crypto';
import {
  type Checkpoint,
  CHECKPOINT_FILE,
  type CheckpointHead,
  type CheckpointLine,
  checkpointSignatureValid,
  followsLine,
  readCheckpoints,
} from './checkpoints.js';
import { entryIdOf, GENESIS_HASH, sha256Hex } from './format.js';
import { listAllSegments, type Segment } from './reader.js';
import { forEachLine } from './scan.js';

/** What can be wrong, at the first place it is wrong. */
export type ChainProblem =
  | 'malformed'
  | 'hash_mismatch'
  | 'broken_link'
  | 'truncated'
  | 'checkpoint_mismatch'
  | 'checkpointed_entry_missing'
  | 'bad_checkpoint_signature'
  | 'damaged_checkpoint'
  | 'broken_checkpoint_chain'
  | 'checkpoints_missing'
  | 'checkpoint_head_mismatch'
  | 'segment_below_prune_base';

/** Where the log first breaks, and why. */
export interface ChainBreak {
  segment: string;
  /** 1-based line number inside the segment (or the checkpoint file); 0 for a whole file. */
  line: number;
  entryId: string | null;
  problem: ChainProblem;
}

/** A check that needs the vault and could not be made: the log is then not reported intact. */
export type UncheckedPart = 'signatures' | 'checkpoint_head';

export interface ChainReport {
  /** No damage found in what could be checked (see `unchecked` for what could not). */
  ok: boolean;
  entries: number;
  segments: number;
  head: string;
  firstBreak: ChainBreak | null;
  checkpoints: {
    total: number;
    /** Checkpoints whose entry was found with the signed hash and count. */
    matched: number;
    /** Whether signatures were checked (a public key was available). */
    signaturesChecked: boolean;
    /** Whether the checkpoint head recorded in the vault was read and compared. */
    headChecked: boolean;
    /** The number of the newest checkpoint the vault records, if any. */
    recordedHead: number | null;
  };
  /** The last entry a valid checkpoint vouches for, if any. */
  signedThrough: { segment: string; entryId: string } | null;
  /** Entries after the last checkpoint: intact as a chain, but not yet signed. */
  unsignedTail: number;
  /** Where verification started: genesis, or the base a prune recorded. */
  base: { segment: string | null; prevHash: string; pruned: string[] };
  /** Checks that need the vault and could not be made. */
  unchecked: UncheckedPart[];
  /** The newest segment ends in a line still being written (neither counted nor damage). */
  inProgress: boolean;
}

/** What the vault vouches for. */
export interface VerifyOptions {
  /** The audit signing key's public half; without it, signatures are not checked. */
  publicKey?: KeyObject;
  /**
   * The checkpoint head the vault records: null when the vault was read and holds none (nor,
   * without `publicKey`, a signing key); absent when the vault could not be read.
   */
  recordedHead?: CheckpointHead | null;
}

/**
 * Walks every segment: each entry's hash, its link to the one before, and every checkpoint.
 * The checkpoints must form an unbroken, signed chain that reaches the head the vault records;
 * a checkpoint missing its entry is damage, and entries after the last checkpoint are reported
 * as an unsigned tail, not as damage. A line still being written at the end of the newest
 * segment is passed over, since this reads without the audit lock.
 */
export async function verifyChain(dir: string, options: VerifyOptions = {}): Promise<ChainReport> {
  // Checkpoints first: every entry they name was on disk before them, so the listing that
  // follows has its segment even if a writer rotated meanwhile.
  const lines = await readCheckpoints(dir);
  const segments = await listAllSegments(dir);
  const report = emptyReport(segments.length, lines.length, options);
  const fail = (found: ChainBreak | null) => {
    if (found === null) return;
    report.ok = false;
    report.firstBreak ??= found;
  };
  const { checkpoints, problem } = checkCheckpointFile(lines, options);
  fail(problem);
  const prunes = checkpoints.filter((cp) => cp.kind === 'prune');
  const prune = prunes.at(-1);
  if (prune !== undefined) {
    report.base = {
      segment: prune.segment,
      prevHash: prune.head,
      pruned: prunes.flatMap((cp) => cp.removed),
    };
  }
  const kept = keptSegments(segments, prune, fail);
  const matcher = checkpointMatcher(checkpoints, prune?.entries ?? 0, report);
  const walk = await walkChain(kept, report.base.prevHash, matcher.visit);
  fail(walk.break);
  report.head = walk.prev;
  report.entries = walk.entries;
  report.inProgress = walk.inProgress;
  report.unsignedTail = matcher.sinceLast();
  if (report.ok) fail(matcher.unmatched(report.base.pruned));
  if (options.publicKey !== undefined && walk.entries > 0 && lines.length === 0)
    fail({ segment: CHECKPOINT_FILE, line: 1, entryId: null, problem: 'checkpoints_missing' });
  report.unchecked = uncheckedParts(options, lines.length, walk.entries);
  return report;
}

function emptyReport(segments: number, checkpoints: number, options: VerifyOptions): ChainReport {
  return {
    ok: true,
    entries: 0,
    segments,
    head: GENESIS_HASH,
    firstBreak: null,
    checkpoints: {
      total: checkpoints,
      matched: 0,
      signaturesChecked: options.publicKey !== undefined,
      headChecked: options.recordedHead !== undefined,
      recordedHead: options.recordedHead?.n ?? null,
    },
    signedThrough: null,
    unsignedTail: 0,
    base: { segment: null, prevHash: GENESIS_HASH, pruned: [] },
    unchecked: [],
    inProgress: false,
  };
}

/** What could not be checked for want of the vault, given what there was to check. */
function uncheckedParts(
  options: VerifyOptions,
  checkpoints: number,
  entries: number,
): UncheckedPart[] {
  if (options.recordedHead !== undefined) return [];
  const parts: UncheckedPart[] = [];
  if (options.publicKey === undefined && checkpoints > 0) parts.push('signatures');
  // Without the recorded head, a log whose checkpoints were all deleted looks like one that
  // never had any.
  if (checkpoints > 0 || entries > 0) parts.push('checkpoint_head');
  return parts;
}

/**
 * Every checkpoint line: parsed, signed, numbered one after the other and linked to the line
 * before; and the line the vault names as the head still there, unchanged. Returns the
 * usable checkpoints and the first problem.
 */
function checkCheckpointFile(
  lines: readonly CheckpointLine[],
  options: VerifyOptions,
): { checkpoints: Checkpoint[]; problem: ChainBreak | null } {
  const checkpoints: Checkpoint[] = [];
  let problem: ChainBreak | null = null;
  const note = (index: number, cp: Checkpoint | null, kind: ChainProblem) => {
    problem ??= {
      segment: CHECKPOINT_FILE,
      line: index + 1,
      entryId: cp?.entry_id ?? null,
      problem: kind,
    };
  };
  lines.forEach(({ cp }, i) => {
    if (cp === null) return note(i, null, 'damaged_checkpoint');
    if (!signatureTrusted(cp, options)) return note(i, cp, 'bad_checkpoint_signature');
    if (!followsOn(cp, lines[i - 1])) note(i, cp, 'broken_checkpoint_chain');
    checkpoints.push(cp);
  });
  const head = options.recordedHead;
  if (head !== undefined && head !== null) {
    const line = lines[head.n - 1];
    if (line === undefined) note(lines.length, null, 'checkpoints_missing');
    else if (sha256Hex(line.line) !== head.hash)
      note(head.n - 1, line.cp, 'checkpoint_head_mismatch');
  }
  return { checkpoints, problem };
}

function signatureTrusted(cp: Checkpoint, options: VerifyOptions): boolean {
  if (options.publicKey !== undefined) return checkpointSignatureValid(cp, options.publicKey);
  // A vault that was read and holds no signing key vouches for no checkpoint.
  return options.recordedHead === undefined;
}

/** The checkpoint has the next number, links to the line before and carries its prune base. */
function followsOn(cp: Checkpoint, before: CheckpointLine | undefined): boolean {
  const base =
    cp.kind === 'prune' ? { segment: cp.segment, entries: cp.entries } : (before?.cp?.base ?? null);
  if (cp.base?.segment !== base?.segment || cp.base?.entries !== base?.entries) return false;
  return before === undefined ? cp.n === 1 && cp.prev === GENESIS_HASH : followsLine(cp, before);
}

/** The segments from the prune base on; those below it, or a missing base, are damage. */
function keptSegments(
  segments: readonly Segment[],
  prune: Checkpoint | undefined,
  fail: (found: ChainBreak) => void,
): readonly Segment[] {
  if (prune === undefined) return segments;
  const base = segments.find((s) => s.name === prune.segment);
  if (base === undefined) {
    fail({ segment: prune.segment, line: 0, entryId: null, problem: 'truncated' });
    return [];
  }
  const below = segments.find((s) => s.seq < base.seq);
  if (below !== undefined)
    fail({ segment: below.name, line: 0, entryId: null, problem: 'segment_below_prune_base' });
  return segments.filter((s) => s.seq >= base.seq);
}

/**
 * Matches head checkpoints to the entries they name, as the walk reaches them: the hash and
 * the entry count (`baseEntries` came before the walk's start) must be the signed ones.
 */
function checkpointMatcher(
  checkpoints: readonly Checkpoint[],
  baseEntries: number,
  report: ChainReport,
) {
  const pending = new Map<string, Checkpoint[]>();
  for (const cp of checkpoints) {
    if (cp.kind !== 'head') continue;
    const key = `${cp.segment}\u0000${cp.entry_id}`;
    pending.set(key, [...(pending.get(key) ?? []), cp]);
  }
  let since = 0;
  const visit: EntryVisit = (segment, _line, id, hash, count) => {
    since++;
    const key = `${segment}\u0000${id}`;
    const named = pending.get(key);
    if (named === undefined) return undefined;
    pending.delete(key);
    if (named.some((cp) => cp.head !== hash || cp.entries !== baseEntries + count))
      return 'checkpoint_mismatch';
    report.checkpoints.matched += named.length;
    report.signedThrough = { segment, entryId: id! };
    since = 0;
    return undefined;
  };
  return {
    visit,
    sinceLast: () => since,
    /** A checkpoint whose entry never appeared: that entry was removed (or a segment cut). */
    unmatched(pruned: readonly string[]): ChainBreak | null {
      for (const [cp] of pending.values()) {
        if (cp !== undefined && !pruned.includes(cp.segment))
          return {
            segment: cp.segment,
            line: 0,
            entryId: cp.entry_id,
            problem: 'checkpointed_entry_missing',
          };
      }
      return null;
    },
  };
}

/** Called for each intact entry: its place, id, hash and number in the walk (from 1). */
export type EntryVisit = (
  segment: string,
  line: number,
  id: string | null,
  hash: string,
  count: number,
) => ChainProblem | undefined;

/** The outcome of a walk along the chain. */
export interface ChainWalk {
  /** The hash of the last intact entry (or the starting hash). */
  prev: string;
  entries: number;
  break: ChainBreak | null;
  inProgress: boolean;
}

/**
 * Walks the entries of `segments` in order, from an entry whose hash is `prev`: every hash
 * and every link, stopping at the first break. A partial last line in the last segment is a
 * line still being written (no lock is held), not damage.
 */
export async function walkChain(
  segments: readonly Segment[],
  prev: string,
  visit?: EntryVisit,
): Promise<ChainWalk> {
  const walk: ChainWalk = { prev, entries: 0, break: null, inProgress: false };
  const step = (segment: string, line: string, lineNo: number): ChainProblem | undefined => {
    const checked = checkEntryLine(line, walk.prev);
    if ('problem' in checked) return checked.problem;
    walk.prev = checked.hash;
    walk.entries++;
    return visit?.(segment, lineNo, entryIdOf(line), checked.hash, walk.entries);
  };
  const newest = segments.at(-1);
  for (const segment of segments) {
    await forEachLine(segment.path, (line, lineNo, partial) => {
      if (partial && segment === newest) {
        walk.inProgress = true;
        return false;
      }
      const problem = partial ? 'truncated' : step(segment.name, line, lineNo);
      if (problem === undefined) return true;
      walk.break = { segment: segment.name, line: lineNo, entryId: entryIdOf(line), problem };
      return false;
    });
    if (walk.break !== null || walk.inProgress) break;
  }
  return walk;
}

// Every line ends with the same fixed-width tail: ,"prev_hash":"<64>","hash":"<64>"}
const TAIL = 154;
const PREV_AT = TAIL - 14; // offset of prev_hash's value, counted from the end
const HASH_AT = 66;

/**
 * Checks one entry line against the hash it must link to: its hash, or what is wrong with it.
 * Works on the bytes as they are: no JSON parse.
 */
export function checkEntryLine(
  line: string,
  prev: string,
): { hash: string } | { problem: 'malformed' | 'hash_mismatch' | 'broken_link' } {
  const n = line.length;
  if (
    n < TAIL + 8 ||
    !line.startsWith(',"prev_hash":"', n - TAIL) ||
    !line.startsWith('","hash":"', n - PREV_AT + 64) ||
    !line.endsWith('"}')
  ) {
    return { problem: 'malformed' };
  }
  const stored = line.slice(n - HASH_AT, n - 2);
  const actual = createHash('sha256')
    .update(`${line.slice(0, n - 75)}}`, 'utf8')
    .digest('hex');
  if (actual !== stored) return { problem: 'hash_mismatch' };
  if (line.slice(n - PREV_AT, n - PREV_AT + 64) !== prev) return { problem: 'broken_link' };
  return { hash: stored };
}
