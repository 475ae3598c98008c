import { createHash, randomBytes } from 'node:crypto';
import { AgentSecretsError } from '../core/errors.js';
import { fromBase64 } from '../crypto/aead.js';
import { memberFingerprint } from './crypto.js';
import type { Sodium } from '../crypto/sodium.js';
import type { TrustedDoc, WorkspaceDoc } from './doc.js';
import { printable } from './api.js';

/**
 * How a client comes to trust keys it cannot check against anything it already trusts
 * (issue 12, F3 and F4): a human compares a fingerprint, typed or carried in an invite code,
 * and a member checks that the signed document names its own keys. Pure: no I/O.
 */

/** How many leading characters of a fingerprint a human types (spaces aside). */
export const FINGERPRINT_PREFIX = 8;

/** A fingerprint without its grouping spaces, upper-case: `ABCD1234…`. */
export function compactFingerprint(text: string): string {
  return text.replace(/[\s:-]/g, '').toUpperCase();
}

/**
 * Checks what a human typed against a fingerprint computed here: at least the first
 * {@link FINGERPRINT_PREFIX} characters, spaces ignored. Throws `signature_invalid` naming
 * both when they differ (the server may have swapped the keys), `usage_error` when too short.
 */
export function checkTypedFingerprint(typed: string, actual: string, whose: string): void {
  const given = compactFingerprint(typed);
  if (!/^[0-9A-F]+$/.test(given) || given.length < FINGERPRINT_PREFIX)
    throw new AgentSecretsError(
      'usage_error',
      `type at least the first ${FINGERPRINT_PREFIX} characters (0-9, A-F) of ${whose}'s key fingerprint, as they read it from \`agentsecrets status\` on their machine`,
    );
  if (!compactFingerprint(actual).startsWith(given))
    throw new AgentSecretsError(
      'signature_invalid',
      `the fingerprint you typed (${given}) does not match the keys the server shows for ${whose} (${actual}): the server may have swapped their keys; nothing was changed. Compare again with them, out of band`,
    );
}

/** This account's identity and public keys, as the signed document should name them. */
export interface OwnKeys {
  user_id: string;
  email: string;
  box_public: string;
  sign_public: string;
}

/**
 * An invitee's check of a document (F4): wherever it names this account (by id or email), it
 * must carry this account's own public keys; a confirmed member must be named. Otherwise an
 * admin sealed the workspace key to keys that are not ours: refuse loudly.
 */
export function checkOwnKeys(
  sodium: Sodium,
  doc: WorkspaceDoc,
  self: OwnKeys,
  options: { mustBeListed: boolean },
): void {
  const email = self.email.toLowerCase();
  const entries = doc.members.filter(
    (m) => m.user_id === self.user_id || m.email.toLowerCase() === email,
  );
  const ours = memberFingerprint(sodium, fromBase64(self.box_public), fromBase64(self.sign_public));
  for (const entry of entries) {
    if (entry.box_public === self.box_public && entry.sign_public === self.sign_public) continue;
    let theirs = 'unreadable keys';
    try {
      theirs = memberFingerprint(
        sodium,
        fromBase64(entry.box_public),
        fromBase64(entry.sign_public),
      );
    } catch {
      // keep the placeholder
    }
    throw new AgentSecretsError(
      'signature_invalid',
      `the workspace document names ${printable(entry.email)} with keys that are not yours (fingerprint ${theirs}; yours is ${ours}): the workspace key was given to someone else's keys, likely swapped by the server. Do not use this workspace: tell its admin to remove that entry and confirm you again with your fingerprint`,
    );
  }
  if (options.mustBeListed && entries.length === 0)
    throw new AgentSecretsError(
      'signature_invalid',
      `the workspace document does not name you (${printable(self.email)}) as a member; nothing was joined. Ask an admin to confirm you (\`agentsecrets workspace confirm ${printable(self.email)}\`)`,
    );
}

/** An admin of a document with the fingerprint of its keys, computed here. */
export interface DocAdmin {
  user_id: string;
  email: string;
  fingerprint: string;
  sign_public: string;
}

/** The admins of a document with fingerprints computed here (both keys, from `members`). */
export function docAdmins(sodium: Sodium, doc: WorkspaceDoc): DocAdmin[] {
  return doc.admins.flatMap((a) => {
    const m = doc.members.find((x) => x.user_id === a.user_id && x.sign_public === a.sign_public);
    if (m === undefined) return [];
    try {
      const fingerprint = memberFingerprint(
        sodium,
        fromBase64(m.box_public),
        fromBase64(m.sign_public),
      );
      return [
        { user_id: a.user_id, email: printable(a.email), fingerprint, sign_public: a.sign_public },
      ];
    } catch {
      return [];
    }
  });
}

/**
 * The trust anchor of a first join (F3): only the admin a human vouched for (by the invite
 * code's fingerprint, or by typing its first characters) is trusted to sign the document.
 * Throws `signature_invalid` when the document's signer is not that admin.
 */
export function anchorFor(
  sodium: Sodium,
  doc: WorkspaceDoc,
  signer: string,
  pinnedFingerprint: string,
): TrustedDoc {
  const pin = compactFingerprint(pinnedFingerprint);
  const admin = docAdmins(sodium, doc).find(
    (a) => a.user_id === signer && compactFingerprint(a.fingerprint).startsWith(pin),
  );
  if (admin === undefined || pin.length < FINGERPRINT_PREFIX)
    throw new AgentSecretsError(
      'signature_invalid',
      `the workspace document from the server is not signed by the admin you were told to trust (fingerprint ${pin}); the server may be forging it. Nothing was joined. Check the invite code with the admin who sent it`,
    );
  return {
    seq: 0,
    body: '',
    admins: [{ user_id: admin.user_id, email: admin.email, sign_public: admin.sign_public }],
  };
}

/**
 * What an invite code carries: where to join, which admin key to trust there, and a one-time
 * secret (issue 12, point 4) that the server knows only as a SHA-256 hash and burns when the
 * invitation is accepted. Codes of older clients (`asinv1`) have no secret.
 */
export interface InviteCode {
  workspaceId: string;
  /** The inviting admin's key fingerprint, compact (32 hex characters). */
  fingerprint: string;
  /** The one-time secret: 128 random bits as 32 lower-case hex characters. */
  secret?: string | undefined;
}

/** Formats an invite code: `asinv2.<workspace id>.<admin fingerprint>.<secret>`. */
export function formatInviteCode(code: InviteCode): string {
  const base = `${code.workspaceId}.${compactFingerprint(code.fingerprint)}`;
  return code.secret === undefined ? `asinv1.${base}` : `asinv2.${base}.${code.secret}`;
}

/** A new one-time invite secret and the hash the server keeps of it. */
export function newInviteSecret(): { secret: string; hash: string } {
  const secret = randomBytes(16).toString('hex');
  return { secret, hash: inviteSecretHash(secret) };
}

/** SHA-256 (hex) of an invite secret's text, as the server stores and checks it. */
export function inviteSecretHash(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Parses an invite code; `usage_error` saying what a code looks like. */
export function parseInviteCode(text: string): InviteCode {
  const trimmed = text.trim();
  const v2 = /^asinv2\.(ws_[0-9a-z]{8,40})\.([0-9A-F]{32})\.([0-9a-f]{32})$/.exec(trimmed);
  if (v2 !== null) return { workspaceId: v2[1]!, fingerprint: v2[2]!, secret: v2[3]! };
  const v1 = /^asinv1\.(ws_[0-9a-z]{8,40})\.([0-9A-F]{32})$/.exec(trimmed);
  if (v1 === null)
    throw new AgentSecretsError(
      'usage_error',
      "not an invite code: it looks like asinv2.ws_….<32 hex characters>.<32 hex characters>, as printed by `agentsecrets workspace invite EMAIL` on the admin's machine",
    );
  return { workspaceId: v1[1]!, fingerprint: v1[2]! };
}
