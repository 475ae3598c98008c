import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { AgentSecretsError } from '../core/errors.js';
import { encodeAad } from '../crypto/aad.js';
import { aeadDecrypt, aeadEncrypt, fromBase64, type Sealed, toBase64 } from '../crypto/aead.js';
import { deriveKeyIsolated, type KdfParams } from '../crypto/kdf.js';
import { type BoxKeyPair, openSealed, sealTo } from '../crypto/seal.js';
import { fingerprint, sign, type SignKeyPair, verify } from '../crypto/sign.js';
import type { Sodium } from '../crypto/sodium.js';

/**
 * The zero-knowledge half of sync (DESIGN §10), shared by the client and, for verification
 * only, the server. The server never holds what decrypts anything: it stores a hash of the
 * auth key, ciphertexts, sealed boxes and signed documents.
 */

export const ACCOUNT_KEYS_AAD = 'agentsecrets/account-keys/v1';
export const TEAM_RECORD_AAD = 'agentsecrets/team-record/v1';
export const TEAM_DIGEST_INFO = 'agentsecrets/team-digest/v1';
export const WORKSPACE_DOC_LABEL = 'agentsecrets/workspace-doc/v1';
export const KEY_GRANT_LABEL = 'agentsecrets/key-grant/v1';

/** The two keys derived from a password: one proves it to the server, one never leaves. */
export interface AccountKeys {
  /** Sent to the server at sign-up and login; the server stores only its hash. */
  authKey: Uint8Array;
  /** Wraps the account's private keys; never sent anywhere. */
  encKey: Uint8Array;
}

/**
 * Argon2id over the password (in a worker), then HKDF over it together with the account
 * secret key (128 random bits that never leave the user's machines) into an auth key and an
 * encryption key. Without the secret key, a dump of the server's store does not allow
 * guessing the password: each guess would need the 128 bits too (F5).
 */
export async function deriveAccountKeys(
  password: string,
  params: KdfParams,
  secretKey: Uint8Array,
): Promise<AccountKeys> {
  if (secretKey.length !== 16)
    throw new AgentSecretsError('usage_error', 'the account secret key must be 128 bits');
  const master = await deriveKeyIsolated(password, params);
  const ikm = new Uint8Array([...master, ...secretKey]);
  try {
    const split = (info: string) =>
      new Uint8Array(hkdfSync('sha256', ikm, new Uint8Array(0), info, 32));
    return { authKey: split('agentsecrets/auth-key/v2'), encKey: split('agentsecrets/enc-key/v2') };
  } finally {
    master.fill(0);
    ikm.fill(0);
  }
}

/** What the server keeps of an auth key: SHA-256 (the key is 256 random-looking bits). */
export function authKeyHash(authKey: Uint8Array): string {
  return createHash('sha256').update(authKey).digest('hex');
}

/** The account's private keys, as wrapped for the server. */
export interface AccountSecrets {
  box: BoxKeyPair;
  sign: SignKeyPair;
}

/** Wraps the private keys under the encryption key, bound to the account's email. */
export function wrapAccountSecrets(
  sodium: Sodium,
  encKey: Uint8Array,
  email: string,
  secrets: AccountSecrets,
): Sealed {
  const plain = Buffer.from(
    JSON.stringify({
      box_public: toBase64(secrets.box.publicKey),
      box_private: toBase64(secrets.box.privateKey),
      sign_public: toBase64(secrets.sign.publicKey),
      sign_private: toBase64(secrets.sign.privateKey),
    }),
  );
  try {
    return aeadEncrypt(sodium, encKey, plain, encodeAad(ACCOUNT_KEYS_AAD, [email]));
  } finally {
    plain.fill(0);
  }
}

/** Unwraps the private keys; `decryption_failed` for a wrong password or altered blob. */
export function unwrapAccountSecrets(
  sodium: Sodium,
  encKey: Uint8Array,
  email: string,
  sealed: Sealed,
): AccountSecrets {
  const plain = aeadDecrypt(sodium, encKey, sealed, encodeAad(ACCOUNT_KEYS_AAD, [email]));
  const parsed = JSON.parse(Buffer.from(plain).toString('utf8')) as Record<string, string>;
  plain.fill(0);
  return {
    box: { publicKey: fromBase64(parsed.box_public!), privateKey: fromBase64(parsed.box_private!) },
    sign: {
      publicKey: fromBase64(parsed.sign_public!),
      privateKey: fromBase64(parsed.sign_private!),
    },
  };
}

/** Serialises account secrets for the local vault (a reserved record). */
export function encodeAccountSecrets(secrets: AccountSecrets): string {
  return JSON.stringify({
    box_public: toBase64(secrets.box.publicKey),
    box_private: toBase64(secrets.box.privateKey),
    sign_public: toBase64(secrets.sign.publicKey),
    sign_private: toBase64(secrets.sign.privateKey),
  });
}

export function decodeAccountSecrets(text: string): AccountSecrets {
  const parsed = JSON.parse(text) as Record<string, string>;
  return {
    box: { publicKey: fromBase64(parsed.box_public!), privateKey: fromBase64(parsed.box_private!) },
    sign: {
      publicKey: fromBase64(parsed.sign_public!),
      privateKey: fromBase64(parsed.sign_private!),
    },
  };
}

/** Where a team record lives; every field, and the key epoch, is bound into its AAD. */
export interface TeamRecordAddress {
  workspace_id: string;
  project_id: string;
  environment: string;
  key: string;
  version: number;
  epoch: number;
}

export function teamRecordAad(a: TeamRecordAddress): Uint8Array {
  return encodeAad(TEAM_RECORD_AAD, [
    a.workspace_id,
    a.project_id,
    a.environment,
    a.key,
    a.version,
    a.epoch,
  ]);
}

/** Encrypts a value under the workspace key for `address`. */
export function encryptTeamRecord(
  sodium: Sodium,
  workspaceKey: Uint8Array,
  address: TeamRecordAddress,
  value: string,
): Sealed & { digest: string } {
  const plain = Buffer.from(value, 'utf8');
  try {
    return {
      ...aeadEncrypt(sodium, workspaceKey, plain, teamRecordAad(address)),
      digest: valueDigest(workspaceKey, address, value),
    };
  } finally {
    plain.fill(0);
  }
}

/** Decrypts a team record; `decryption_failed` if it was moved, swapped or altered. */
export function decryptTeamRecord(
  sodium: Sodium,
  workspaceKey: Uint8Array,
  address: TeamRecordAddress,
  sealed: Sealed,
): string {
  const plain = aeadDecrypt(sodium, workspaceKey, sealed, teamRecordAad(address));
  const value = Buffer.from(plain).toString('utf8');
  plain.fill(0);
  return value;
}

/**
 * A keyed hash of a value, so that `diff` can tell equal values apart from changed ones
 * without decrypting; without the workspace key it reveals nothing, not even equality across
 * keys (the key name and place are in the input).
 */
export function valueDigest(
  workspaceKey: Uint8Array,
  address: Pick<TeamRecordAddress, 'workspace_id' | 'project_id' | 'environment' | 'key'>,
  value: string,
): string {
  const macKey = hkdfSync('sha256', workspaceKey, new Uint8Array(0), TEAM_DIGEST_INFO, 32);
  return createHmac('sha256', Buffer.from(macKey))
    .update(
      encodeAad(TEAM_DIGEST_INFO, [
        address.workspace_id,
        address.project_id,
        address.environment,
        address.key,
        value,
      ]),
    )
    .digest('base64');
}

/** The bytes an admin signs for a workspace document: the exact body text, labelled. */
export function docSigningBytes(body: string): Uint8Array {
  return encodeAad(WORKSPACE_DOC_LABEL, [body]);
}

export function signDoc(sodium: Sodium, signer: SignKeyPair, body: string): string {
  return toBase64(sign(sodium, signer.privateKey, docSigningBytes(body)));
}

export function verifyDocSignature(
  sodium: Sodium,
  publicKey: Uint8Array,
  body: string,
  signature: string,
): boolean {
  try {
    return verify(sodium, publicKey, docSigningBytes(body), fromBase64(signature));
  } catch {
    return false;
  }
}

/**
 * A key grant: a workspace (or token-signing) key sealed to a member's X25519 key, plus the
 * granting admin's signature over where it belongs, so a member can tell that the sealed box
 * came from an admin of the workspace and not from the server.
 */
export interface KeyGrant {
  workspace_id: string;
  user_id: string;
  epoch: number;
  kind: 'workspace' | 'token';
  sealed: string;
  granted_by: string;
  signature: string;
}

function grantBytes(g: Omit<KeyGrant, 'signature'>): Uint8Array {
  return encodeAad(KEY_GRANT_LABEL, [
    g.workspace_id,
    g.user_id,
    g.epoch,
    g.kind,
    createHash('sha256').update(g.sealed).digest('base64'),
    g.granted_by,
  ]);
}

export function makeGrant(
  sodium: Sodium,
  admin: { userId: string; sign: SignKeyPair },
  to: { userId: string; boxPublic: Uint8Array },
  where: { workspaceId: string; epoch: number; kind: KeyGrant['kind'] },
  key: Uint8Array,
): KeyGrant {
  const unsigned = {
    workspace_id: where.workspaceId,
    user_id: to.userId,
    epoch: where.epoch,
    kind: where.kind,
    sealed: toBase64(sealTo(sodium, to.boxPublic, key)),
    granted_by: admin.userId,
  };
  return {
    ...unsigned,
    signature: toBase64(sign(sodium, admin.sign.privateKey, grantBytes(unsigned))),
  };
}

/** Opens a grant after checking its signature against the granting admin's key. */
export function openGrant(
  sodium: Sodium,
  grant: KeyGrant,
  granterSignPublic: Uint8Array,
  box: BoxKeyPair,
): Uint8Array {
  const { signature, ...unsigned } = grant;
  let ok: boolean;
  try {
    ok = verify(sodium, granterSignPublic, grantBytes(unsigned), fromBase64(signature));
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new AgentSecretsError(
      'signature_invalid',
      `the ${grant.kind} key for epoch ${grant.epoch} is not signed by an admin of the workspace: the server may have altered it; ask an admin to confirm you again`,
    );
  }
  return openSealed(sodium, box, fromBase64(grant.sealed));
}

/** The human-comparable fingerprint of a member: both public keys. */
export function memberFingerprint(
  sodium: Sodium,
  boxPublic: Uint8Array,
  signPublic: Uint8Array,
): string {
  return fingerprint(sodium, new Uint8Array([...boxPublic, ...signPublic]));
}
