import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../store/fs.js';
import type { UnlockedVault } from '../vault/vault.js';

/**
 * Signed checkpoints (DESIGN §8): a writer that holds the unlocked vault signs "the entry
 * with this id, in this segment, has this hash" at rotation, periodically and on close. A
 * chain recomputed wholesale cannot reproduce the signed hashes, and nobody without the vault
 * can sign new ones. A prune records where the remaining log starts.
 */

/** A signed statement about the log. */
export interface Checkpoint {
  seq: number;
  at: string;
  kind: 'head' | 'prune';
  /** head: the segment and entry the statement is about, and that entry's hash. */
  segment: string;
  entry_id: string;
  head: string;
  /** prune: the segments removed; `segment` is then the first remaining one and `head` the hash its first entry links to. */
  removed: string[];
  key_id: string;
  sig: string;
}

/** Signs checkpoints. */
export interface AuditSigner {
  keyId: string;
  publicKey: KeyObject;
  sign(data: Buffer): Buffer;
}

/** Name of the checkpoint file inside the audit folder. */
export const CHECKPOINT_FILE = 'checkpoints.jsonl';
/** Reserved vault scope and name of the audit signing key. */
export const AUDIT_KEY_SCOPE = '@audit';
export const AUDIT_KEY_NAME = 'audit-signing-key';

/** The exact bytes a checkpoint's signature covers. */
export function checkpointPayload(cp: Omit<Checkpoint, 'sig'>): Buffer {
  return Buffer.from(
    `agentsecrets-audit-checkpoint/v1\n${JSON.stringify([cp.seq, cp.at, cp.kind, cp.segment, cp.entry_id, cp.head, cp.removed, cp.key_id])}`,
    'utf8',
  );
}

/** Builds and signs a checkpoint. */
export function signCheckpoint(
  signer: AuditSigner,
  fields: Omit<Checkpoint, 'sig' | 'key_id'>,
): Checkpoint {
  const unsigned = { ...fields, key_id: signer.keyId };
  return { ...unsigned, sig: signer.sign(checkpointPayload(unsigned)).toString('base64') };
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

/** Appends a checkpoint (call under the audit lock). */
export function appendCheckpointSync(dir: string, cp: Checkpoint): void {
  appendFileSync(join(dir, CHECKPOINT_FILE), `${JSON.stringify(cp)}\n`, { mode: 0o600 });
}

/** Every checkpoint on file; unparsable lines are returned as `null` (they count as damage). */
export async function readCheckpoints(dir: string): Promise<(Checkpoint | null)[]> {
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
    .map((line) => {
      try {
        const cp = JSON.parse(line) as Checkpoint;
        return typeof cp.seq === 'number' && typeof cp.sig === 'string' && Array.isArray(cp.removed)
          ? cp
          : null;
      } catch {
        return null;
      }
    });
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
 * `create`. The public half is what `log verify` checks against.
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
  return { keyId: keyIdOf(publicKey), publicKey, sign: (data) => sign(null, data, privateKey) };
}
