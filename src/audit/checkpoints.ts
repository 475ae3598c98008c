import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { closeSync, fdatasyncSync, fstatSync, openSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FILE_MODE, isErrno } from '../store/fs.js';
import type { UnlockedVault } from '../vault/vault.js';
import { GENESIS_HASH, sha256Hex } from './format.js';
import { lastLineOf, repairTail } from './tail.js';

/**
 * Signed checkpoints (DESIGN §8): a writer that holds the unlocked vault signs "the entry
 * with this id, in this segment, has this hash, and is the log's Nth" at rotation,
 * periodically and on close. A chain recomputed wholesale cannot reproduce the signed hashes,
 * and nobody without the vault can sign new ones. A prune records where the remaining log
 * starts.
 *
 * The checkpoints form a chain of their own: each carries its number `n` (1, 2, 3, …) and the
 * hash of the line before it, so a checkpoint cannot be removed from the middle or the start
 * unnoticed; and the signing writer records the newest one's number and hash in the vault
 * (the checkpoint head), so one cannot be removed from the end unnoticed either.
 */

/** Where the log starts after the latest prune: its first segment and the entries before it. */
export interface PruneBase {
  segment: string;
  entries: number;
}

/** A signed statement about the log. */
export interface Checkpoint {
  /** 1 for the first checkpoint, one more for each next one. */
  n: number;
  /** SHA-256 of the previous checkpoint's line (64 zeros for the first). */
  prev: string;
  at: string;
  kind: 'head' | 'prune';
  /** The latest prune's base, carried by every checkpoint after it; null if never pruned. */
  base: PruneBase | null;
  /** head: the segment and entry the statement is about, and that entry's hash. */
  segment: string;
  entry_id: string;
  head: string;
  /** head: bytes of `segment` up to and including the entry; prune: 0. */
  offset: number;
  /** head: entries in the log up to and including this one, pruned ones too; prune: entries before `segment`. */
  entries: number;
  /** prune: the segments removed; `segment` is then the first remaining one and `head` the hash its first entry links to. */
  removed: string[];
  key_id: string;
  sig: string;
}

/** What a checkpoint says; the chain fields (n, prev, base) and the signature are added. */
export type CheckpointStatement = Omit<Checkpoint, 'n' | 'prev' | 'at' | 'base' | 'key_id' | 'sig'>;

/** One line of the checkpoint file: its text and, if it parses, the checkpoint. */
export interface CheckpointLine {
  line: string;
  cp: Checkpoint | null;
}

/** The newest checkpoint as the vault records it: its number and the SHA-256 of its line. */
export interface CheckpointHead {
  n: number;
  hash: string;
}

/** Where the checkpoint head is kept (the vault), read and written by signing writers. */
export interface CheckpointHeadStore {
  read(): Promise<CheckpointHead | undefined>;
  write(head: CheckpointHead): Promise<void>;
}

/** Signs checkpoints. */
export interface AuditSigner {
  keyId: string;
  publicKey: KeyObject;
  sign(data: Buffer): Buffer;
  /** Where the checkpoint head is recorded; without it, the head is not recorded. */
  heads?: CheckpointHeadStore;
}

/** Name of the checkpoint file inside the audit folder. */
export const CHECKPOINT_FILE = 'checkpoints.jsonl';
/** Reserved vault scope and name of the audit signing key. */
export const AUDIT_KEY_SCOPE = '@audit';
export const AUDIT_KEY_NAME = 'audit-signing-key';
/** Reserved vault name (same scope) of the checkpoint head. */
export const AUDIT_HEAD_NAME = 'audit-checkpoint-head';

/** The exact bytes a checkpoint's signature covers. */
export function checkpointPayload(cp: Omit<Checkpoint, 'sig'>): Buffer {
  const fields = [cp.n, cp.prev, cp.at, cp.kind, cp.base, cp.segment, cp.entry_id, cp.head];
  return Buffer.from(
    `agentsecrets-audit-checkpoint/v2\n${JSON.stringify([...fields, cp.offset, cp.entries, cp.removed, cp.key_id])}`,
    'utf8',
  );
}

/**
 * Builds and signs the checkpoint that follows `last` (the newest on file, or null for the
 * first): the next number, the link to `last`'s line, and the prune base carried forward.
 */
export function chainCheckpoint(
  signer: AuditSigner,
  last: CheckpointLine | null,
  statement: CheckpointStatement,
  at: Date,
): Checkpoint {
  const base =
    statement.kind === 'prune'
      ? { segment: statement.segment, entries: statement.entries }
      : (last?.cp?.base ?? null);
  const { kind, ...about } = statement;
  const unsigned = {
    n: (last?.cp?.n ?? 0) + 1,
    prev: last === null ? GENESIS_HASH : sha256Hex(last.line),
    at: at.toISOString(),
    kind,
    base,
    ...about,
    key_id: signer.keyId,
  };
  return { ...unsigned, sig: signer.sign(checkpointPayload(unsigned)).toString('base64') };
}

/** True when `cp` directly follows the checkpoint line `before`: the next number, linked to it. */
export function followsLine(cp: Checkpoint, before: CheckpointLine): boolean {
  return before.cp !== null && cp.n === before.cp.n + 1 && cp.prev === sha256Hex(before.line);
}

/** True when the checkpoint's signature is valid under `publicKey`. */
export function checkpointSignatureValid(cp: Checkpoint, publicKey: KeyObject): boolean {
  try {
    const { sig, ...unsigned } = cp;
    return verify(null, checkpointPayload(unsigned), publicKey, Buffer.from(sig, 'base64'));
  } catch {
    return false;
  }
}

/** Appends a checkpoint and syncs it to disk (under the audit lock; checkpoints are rare). */
export function appendCheckpointSync(dir: string, cp: Checkpoint): void {
  const fd = openSync(join(dir, CHECKPOINT_FILE), 'a', FILE_MODE);
  try {
    writeSync(fd, `${JSON.stringify(cp)}\n`);
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The newest checkpoint line, to chain the next one onto (under the audit lock): null when
 * there is none yet. A partial line left by a power loss is cut off first.
 */
export function lastCheckpointSync(dir: string): CheckpointLine | null {
  let fd;
  try {
    fd = openSync(join(dir, CHECKPOINT_FILE), 'r+');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
  try {
    const line = lastLineOf(fd, repairTail(fd, fstatSync(fd).size));
    return line === undefined ? null : { line, cp: parseCheckpoint(line) };
  } finally {
    closeSync(fd);
  }
}

/** Every checkpoint line on file; unparsable ones have `cp: null` (they count as damage). */
export async function readCheckpoints(dir: string): Promise<CheckpointLine[]> {
  let text: string;
  try {
    text = await readFile(join(dir, CHECKPOINT_FILE), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => ({ line, cp: parseCheckpoint(line) }));
}

/** Parses a checkpoint line; null when it is not one. */
export function parseCheckpoint(line: string): Checkpoint | null {
  try {
    const cp = JSON.parse(line) as Checkpoint;
    const shaped =
      Number.isSafeInteger(cp.n) &&
      typeof cp.prev === 'string' &&
      typeof cp.sig === 'string' &&
      Number.isSafeInteger(cp.entries) &&
      Array.isArray(cp.removed) &&
      (cp.base === null || typeof cp.base?.segment === 'string');
    return shaped ? cp : null;
  } catch {
    return null;
  }
}

/** The id of a public key: the first 16 hex digits of the SHA-256 of its SPKI form. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/**
 * The audit signing key, from the vault (reserved record); created on first use when
 * `create`. The public half is what `log verify` checks against. The signer records the
 * checkpoint head in the same vault.
 */
export async function loadAuditSigner(
  vault: UnlockedVault,
  options: { create: boolean },
): Promise<AuditSigner | undefined> {
  let stored = await vault.getReserved(AUDIT_KEY_SCOPE, AUDIT_KEY_NAME);
  if (stored === undefined) {
    if (!options.create) return undefined;
    const { privateKey } = generateKeyPairSync('ed25519');
    stored = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await vault.setReserved(AUDIT_KEY_SCOPE, AUDIT_KEY_NAME, stored);
  }
  const privateKey = createPrivateKey(stored);
  const publicKey = createPublicKey(privateKey);
  return {
    keyId: keyIdOf(publicKey),
    publicKey,
    sign: (data) => sign(null, data, privateKey),
    heads: vaultHeadStore(vault),
  };
}

/** The checkpoint head kept as a reserved vault record. */
export function vaultHeadStore(vault: UnlockedVault): CheckpointHeadStore {
  return {
    async read() {
      const stored = await vault.getReserved(AUDIT_KEY_SCOPE, AUDIT_HEAD_NAME);
      if (stored === undefined) return undefined;
      const head = JSON.parse(stored) as CheckpointHead;
      return { n: head.n, hash: head.hash };
    },
    write: (head) =>
      vault.setReserved(
        AUDIT_KEY_SCOPE,
        AUDIT_HEAD_NAME,
        JSON.stringify({ n: head.n, hash: head.hash }),
      ),
  };
}
