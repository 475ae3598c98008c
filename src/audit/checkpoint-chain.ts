import type { KeyObject } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { withFileLock } from '../store/lock.js';
import {
  type AuditSigner,
  appendCheckpointSync,
  type Checkpoint,
  CHECKPOINT_FILE,
  type CheckpointHead,
  chainCheckpoint,
  checkpointSignatureValid,
  followsLine,
  lastCheckpointSync,
  parseCheckpoint,
} from './checkpoints.js';
import { parseSegmentName, sha256Hex } from './format.js';
import { linesBackward } from './reader.js';
import { countLinesSync } from './tail.js';

/**
 * Extending the checkpoint chain: the writer's next head checkpoint, under the audit lock,
 * and afterwards the head recorded in the vault.
 */

/** The entry a head checkpoint is for, as the writer knows it. */
export interface HeadPosition {
  segment: string;
  /** Bytes of `segment` up to and including the entry. */
  size: number;
  entryId: string;
  hash: string;
}

/**
 * Appends a signed head checkpoint for `head`, chained onto the newest one on file (call
 * under the audit lock, after the entries reached the disk). Returns false when there was
 * nothing new to sign, or when the newest checkpoint line is damaged: `log verify` reports
 * that, and signing on top of it would hide it.
 */
export function appendHeadCheckpointSync(
  dir: string,
  signer: AuditSigner,
  head: HeadPosition,
  at: Date,
): boolean {
  const last = lastCheckpointSync(dir);
  if (last !== null && last.cp === null) return false;
  const before = last?.cp ?? null;
  if (
    before?.kind === 'head' &&
    before.segment === head.segment &&
    before.entry_id === head.entryId
  )
    return false;
  const entries = (before?.entries ?? 0) + countEntriesSince(dir, before, head);
  const cp = chainCheckpoint(
    signer,
    last,
    {
      kind: 'head',
      segment: head.segment,
      entry_id: head.entryId,
      head: head.hash,
      offset: head.size,
      entries,
      removed: [],
    },
    at,
  );
  appendCheckpointSync(dir, cp);
  return true;
}

/**
 * Entries between where `from` stands (or the start of the log) and `to`. Reads only the
 * bytes written since the previous checkpoint, which is at most a minute's worth unless no
 * signing writer ran for a while.
 */
function countEntriesSince(
  dir: string,
  from: Checkpoint | null,
  to: { segment: string; size: number },
): number {
  const fromSeq = from === null ? 0 : (parseSegmentName(from.segment)?.seq ?? 0);
  const toSeq = parseSegmentName(to.segment)?.seq ?? 0;
  let count = 0;
  for (const name of readdirSync(dir)) {
    const seq = parseSegmentName(name)?.seq;
    if (seq === undefined || seq < fromSeq || seq > toSeq) continue;
    const start = name === from?.segment ? from.offset : 0;
    count += countLinesSync(join(dir, name), start, name === to.segment ? to.size : Infinity);
  }
  return count;
}

/**
 * Raises the checkpoint head recorded in the vault to the newest checkpoint on file, but only
 * along an intact, signed chain from the head recorded before: checkpoints removed and
 * replaced by later ones do not move it. Serialised across processes by a lock of its own, so
 * the head never goes backwards.
 */
export async function advanceRecordedHead(dir: string, signer: AuditSigner): Promise<void> {
  const heads = signer.heads;
  if (heads === undefined) return;
  await withFileLock(join(dir, '.head.lock'), async () => {
    const recorded = await heads.read();
    const newest = await newestChainedHead(dir, recorded, signer.publicKey);
    if (newest !== undefined && newest.n > (recorded?.n ?? 0)) await heads.write(newest);
  });
}

/**
 * The newest signed checkpoint, walking back to `recorded` (from the end, so the cost is the
 * checkpoints written since): undefined unless every link on the way holds and `recorded`'s
 * line is still there. Unparsable or unsigned lines at the very end are passed over.
 */
async function newestChainedHead(
  dir: string,
  recorded: CheckpointHead | undefined,
  publicKey: KeyObject,
): Promise<CheckpointHead | undefined> {
  let newest: CheckpointHead | undefined;
  let above: Checkpoint | undefined;
  for await (const line of linesBackward(join(dir, CHECKPOINT_FILE), { chunkSize: 64 * 1024 })) {
    const cp = parseCheckpoint(line);
    if (cp === null || !checkpointSignatureValid(cp, publicKey)) {
      if (newest === undefined) continue;
      return undefined;
    }
    if (above !== undefined && !followsLine(above, { line, cp })) return undefined;
    const hash = sha256Hex(line);
    newest ??= { n: cp.n, hash };
    if (recorded === undefined) return newest;
    if (cp.n <= recorded.n)
      return cp.n === recorded.n && hash === recorded.hash ? newest : undefined;
    above = cp;
  }
  return undefined;
}
