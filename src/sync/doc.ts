import { AgentSecretsError } from '../core/errors.js';
import { arr, num, obj, str } from '../core/validate.js';
import { fromBase64 } from '../crypto/aead.js';
import type { Sodium } from '../crypto/sodium.js';
import { type AgentRecord, parseAgentsFile } from '../identity/agents.js';
import {
  type AllowlistChange,
  type AllowlistEntry,
  parseAllowlist,
  parseAllowlistLog,
  parsePolicy,
  type WorkspacePolicy,
} from '../workspace/model.js';
import { verifyDocSignature } from './crypto.js';

/** The default `max_staleness_s`: 24 hours (issue 12, F6). */
export const DEFAULT_MAX_STALENESS_S = 24 * 60 * 60;
import type { SignedDoc } from './wire.js';

/**
 * The signed workspace document (DESIGN §10): everything a member's proxy must be able to
 * trust even though the server hands it over. Admins sign it; clients accept a new one only
 * if an admin of the version they already trust signed it and its sequence number did not go
 * back. The server stores and serves it, and cannot change a byte of it unnoticed.
 */
export interface WorkspaceDoc {
  format: 1;
  workspace_id: string;
  name: string;
  seq: number;
  issued_at: string;
  /** SHA-256 of the previous document's body (null for the first, or one from before the log). */
  prev_hash: string | null;
  /** The admin who signed this document (null in documents from before the log). */
  signer: string | null;
  /** How old the newest admin-signed document or heartbeat may be before members fail closed. */
  max_staleness_s: number;
  /** The current workspace key epoch. */
  epoch: number;
  admins: { user_id: string; email: string; sign_public: string }[];
  /**
   * Every confirmed member with the public keys an admin checked (by fingerprint) when
   * confirming them: keys are sealed only to these, never to what the server lists.
   */
  members: DocMember[];
  /** The public half of the workspace token-signing key (JWK), or null before the first. */
  token_public_jwk: Record<string, unknown> | null;
  allowlist: AllowlistEntry[];
  allowlist_log: AllowlistChange[];
  policy: WorkspacePolicy;
  agents: AgentRecord[];
}

/** A member as the signed document names them. */
export interface DocMember {
  user_id: string;
  email: string;
  box_public: string;
  sign_public: string;
}

/** Parses a document body; `signature_invalid` for anything that is not one. */
export function parseDocBody(body: string): WorkspaceDoc {
  try {
    const d = obj(JSON.parse(body) as unknown, 'doc');
    const workspaceId = str(d.workspace_id, 'doc.workspace_id');
    const agents = parseAgentsFile({ agents: d.agents ?? [] }).agents;
    if (agents.some((a) => a.workspace_id !== workspaceId)) throw new Error('foreign agent');
    return {
      format: 1,
      workspace_id: workspaceId,
      name: str(d.name, 'doc.name'),
      seq: num(d.seq, 'doc.seq'),
      issued_at: str(d.issued_at, 'doc.issued_at'),
      prev_hash:
        d.prev_hash === undefined || d.prev_hash === null
          ? null
          : str(d.prev_hash, 'doc.prev_hash'),
      signer: d.signer === undefined || d.signer === null ? null : str(d.signer, 'doc.signer'),
      max_staleness_s:
        d.max_staleness_s === undefined ? DEFAULT_MAX_STALENESS_S : staleness(d.max_staleness_s),
      epoch: num(d.epoch, 'doc.epoch'),
      admins: arr(d.admins, 'doc.admins').map((a, i) => {
        const admin = obj(a, `doc.admins[${i}]`);
        return {
          user_id: str(admin.user_id, `doc.admins[${i}].user_id`),
          email: str(admin.email, `doc.admins[${i}].email`),
          sign_public: str(admin.sign_public, `doc.admins[${i}].sign_public`),
        };
      }),
      members: arr(d.members ?? [], 'doc.members').map((m, i) => {
        const member = obj(m, `doc.members[${i}]`);
        return {
          user_id: str(member.user_id, `doc.members[${i}].user_id`),
          email: str(member.email, `doc.members[${i}].email`),
          box_public: str(member.box_public, `doc.members[${i}].box_public`),
          sign_public: str(member.sign_public, `doc.members[${i}].sign_public`),
        };
      }),
      token_public_jwk:
        d.token_public_jwk === null || d.token_public_jwk === undefined
          ? null
          : obj(d.token_public_jwk, 'doc.token_public_jwk'),
      allowlist: parseAllowlist(d.allowlist ?? [], 'doc.allowlist'),
      allowlist_log: parseAllowlistLog(d.allowlist_log ?? [], 'doc.allowlist_log'),
      policy: parsePolicy(d.policy, 'doc.policy'),
      agents,
    };
  } catch (cause) {
    throw new AgentSecretsError(
      'signature_invalid',
      'the workspace document from the server is malformed; nothing was applied',
      { cause },
    );
  }
}

function staleness(value: unknown): number {
  const n = num(value, 'doc.max_staleness_s');
  if (!Number.isInteger(n) || n < 60 || n > 366 * 24 * 3600) throw new Error('max_staleness_s');
  return n;
}

/** Serialises a document body (the signed text). */
export function docBody(doc: WorkspaceDoc): string {
  return JSON.stringify(doc);
}

/** What a client already trusts: the last verified document, or nothing yet. */
export interface TrustedDoc {
  seq: number;
  body: string;
  admins: WorkspaceDoc['admins'];
}

/**
 * Verifies `incoming` against what is trusted. Rules:
 * - the signer is an admin of the trusted document (or, on first contact, of the incoming
 *   one: trust on first use, with the admins' fingerprints shown to the user);
 * - the signature verifies with that admin's key;
 * - the sequence number did not go back, and an equal one means the same body;
 * - it is for this workspace.
 * Returns the parsed document; throws `signature_invalid` with what was wrong.
 */
export function verifyDoc(
  sodium: Sodium,
  workspaceId: string,
  incoming: SignedDoc,
  trusted: TrustedDoc | null,
): WorkspaceDoc {
  const doc = parseDocBody(incoming.body);
  const fail = (why: string) =>
    new AgentSecretsError(
      'signature_invalid',
      `the workspace document from the server was refused: ${why}. The cached copy stays in force; tell a workspace admin (the server or its store may have been tampered with)`,
    );
  if (doc.workspace_id !== workspaceId) throw fail('it is for another workspace');
  const admins = trusted?.admins ?? doc.admins;
  const signer = admins.find((a) => a.user_id === incoming.signer);
  if (signer === undefined) throw fail(`its signer ${incoming.signer} is not an admin`);
  if (
    !verifyDocSignature(sodium, fromBase64(signer.sign_public), incoming.body, incoming.signature)
  )
    throw fail('its signature does not verify');
  if (trusted !== null) {
    if (doc.seq < trusted.seq)
      throw fail(`it is older (seq ${doc.seq}) than the one in use (seq ${trusted.seq})`);
    if (doc.seq === trusted.seq && incoming.body !== trusted.body)
      throw fail(`it differs from the one in use under the same seq ${doc.seq}`);
  }
  return doc;
}

/** Role of `userId` in a verified document. */
export function roleIn(doc: WorkspaceDoc, userId: string): 'admin' | 'member' {
  return doc.admins.some((a) => a.user_id === userId) ? 'admin' : 'member';
}
