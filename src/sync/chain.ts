import { createHash, createPublicKey, type KeyObject, verify as nodeVerify } from 'node:crypto';
import { AgentSecretsError } from '../core/errors.js';
import { encodeAad } from '../crypto/aad.js';
import { fromBase64, toBase64 } from '../crypto/aead.js';
import { sign, type SignKeyPair, verify } from '../crypto/sign.js';
import type { Sodium } from '../crypto/sodium.js';
import type { TeamInfo } from '../workspace/model.js';
import { docSigningBytes } from './crypto.js';
import { parseDocBody, type TrustedDoc, type WorkspaceDoc } from './doc.js';
import type { SignedDoc } from './wire.js';

/**
 * The workspace document log, a sigchain (issue 12, F6), and admins' heartbeats. Each
 * document names the hash of the one before it and its signer; a client walks every link
 * from the one it trusts, each checked against the admins of the link before. A member
 * offline during an admin handover walks across it; a link signed by an admin who was
 * removed before it is refused. Heartbeats are small signed statements "seq N with hash H is
 * current at time T"; a server that withholds a newer document cannot produce newer ones.
 * Pure: the caller fetches.
 */

export const HEARTBEAT_LABEL = 'agentsecrets/heartbeat/v1';
/** How often an admin's client signs a heartbeat while online. */
export const HEARTBEAT_EVERY_MS = 10 * 60 * 1000;

/** The hash a document's successor names: SHA-256 of the exact signed body, base64. */
export function docHash(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest('base64');
}

function refused(why: string): AgentSecretsError {
  return new AgentSecretsError(
    'signature_invalid',
    `the workspace document log from the server was refused: ${why}. The cached copy stays in force; tell a workspace admin (the server or its store may have been tampered with)`,
  );
}

/**
 * Walks `links` (oldest first) from `trusted` and returns the newest verified document.
 * Every link must be the next seq, name the hash of the link before (links signed before the
 * log existed carry none and are checked by signer and seq only), be signed by an admin of
 * the link before, and be for this workspace.
 */
export function walkChain(
  sodium: Sodium,
  workspaceId: string,
  trusted: TrustedDoc,
  links: readonly SignedDoc[],
): { signed: SignedDoc; doc: WorkspaceDoc } | null {
  void sodium;
  const keys = new Map<string, KeyObject>();
  let admins: readonly { user_id: string; sign_public: string }[] = trusted.admins;
  let prev = { seq: trusted.seq, body: trusted.body };
  let last: SignedDoc | null = null;
  for (const link of links) {
    // Only what the walk needs is read from each link; the newest is parsed in full below.
    const doc = linkFields(link.body);
    if (doc.workspace_id !== workspaceId) throw refused(`link ${doc.seq} is for another workspace`);
    if (doc.seq <= prev.seq) continue; // already trusted
    if (doc.seq !== prev.seq + 1)
      throw refused(`link ${prev.seq + 1} is missing (the next one is ${doc.seq})`);
    if (doc.prev_hash !== null && doc.prev_hash !== docHash(prev.body))
      throw refused(`link ${doc.seq} does not follow link ${prev.seq} (another history)`);
    if (doc.signer !== null && doc.signer !== link.signer)
      throw refused(`link ${doc.seq} names another signer than the one it carries`);
    const signer = admins.find((a) => a.user_id === link.signer);
    if (signer === undefined)
      throw refused(
        `link ${doc.seq} is signed by ${link.signer}, who was not an admin at link ${prev.seq}`,
      );
    if (!verifyLink(keys, signer.sign_public, link))
      throw refused(`the signature of link ${doc.seq} does not verify`);
    admins = doc.admins;
    prev = { seq: doc.seq, body: link.body };
    last = link;
  }
  return last === null ? null : { signed: last, doc: parseDocBody(last.body) };
}

/** The fields of a link the walk checks; `signature_invalid` if they are not there. */
function linkFields(body: string): {
  workspace_id: string;
  seq: number;
  prev_hash: string | null;
  signer: string | null;
  admins: { user_id: string; sign_public: string }[];
} {
  let d: Record<string, unknown>;
  try {
    d = JSON.parse(body) as Record<string, unknown>;
  } catch {
    throw refused('a link is not a document');
  }
  const admins = d.admins;
  const ok =
    typeof d.workspace_id === 'string' &&
    typeof d.seq === 'number' &&
    Number.isInteger(d.seq) &&
    (d.prev_hash === undefined || d.prev_hash === null || typeof d.prev_hash === 'string') &&
    (d.signer === undefined || d.signer === null || typeof d.signer === 'string') &&
    Array.isArray(admins) &&
    admins.every(
      (a: unknown) =>
        typeof (a as { user_id?: unknown })?.user_id === 'string' &&
        typeof (a as { sign_public?: unknown })?.sign_public === 'string',
    );
  if (!ok) throw refused('a link is malformed');
  return {
    workspace_id: d.workspace_id as string,
    seq: d.seq as number,
    prev_hash: (d.prev_hash as string | null | undefined) ?? null,
    signer: (d.signer as string | null | undefined) ?? null,
    admins: admins as { user_id: string; sign_public: string }[],
  };
}

/** Ed25519 (RFC 8032) raw public key as SubjectPublicKeyInfo DER: this prefix, then 32 bytes. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/**
 * A link's signature, checked with Node's native Ed25519 (a key object per admin, made once
 * per walk): the same bytes `signDoc` signs, and several times faster than the WebAssembly
 * build for a long walk.
 */
function verifyLink(keys: Map<string, KeyObject>, signPublic: string, link: SignedDoc): boolean {
  try {
    let key = keys.get(signPublic);
    if (key === undefined) {
      const raw = Buffer.from(signPublic, 'base64');
      if (raw.length !== 32) return false;
      key = createPublicKey({
        key: Buffer.concat([ED25519_SPKI_PREFIX, raw]),
        format: 'der',
        type: 'spki',
      });
      keys.set(signPublic, key);
    }
    const signature = Buffer.from(link.signature, 'base64');
    return signature.length === 64 && nodeVerify(null, docSigningBytes(link.body), key, signature);
  } catch {
    return false;
  }
}

/** What an admin's heartbeat says. */
export interface Heartbeat {
  workspace_id: string;
  seq: number;
  head_hash: string;
  at: string;
}

export interface SignedHeartbeat {
  signer: string;
  body: string;
  signature: string;
}

function heartbeatBytes(body: string): Uint8Array {
  return encodeAad(HEARTBEAT_LABEL, [body]);
}

/** Signs a heartbeat for the document `head` at time `at`. */
export function signHeartbeat(
  sodium: Sodium,
  signer: { userId: string; sign: SignKeyPair },
  head: { workspace_id: string; seq: number; body: string },
  at: Date,
): SignedHeartbeat {
  const body = JSON.stringify({
    workspace_id: head.workspace_id,
    seq: head.seq,
    head_hash: docHash(head.body),
    at: at.toISOString(),
  } satisfies Heartbeat);
  return {
    signer: signer.userId,
    body,
    signature: toBase64(sign(sodium, signer.sign.privateKey, heartbeatBytes(body))),
  };
}

/** Checks a heartbeat's signature with a public key. */
export function verifyHeartbeatSignature(
  sodium: Sodium,
  publicKey: Uint8Array,
  body: string,
  signature: string,
): boolean {
  try {
    return verify(sodium, publicKey, heartbeatBytes(body), fromBase64(signature));
  } catch {
    return false;
  }
}

/**
 * The newest time an admin of `head` vouched that `head` is current, from the heartbeats a
 * server relays (unverifiable ones are ignored). A heartbeat for a newer seq means the
 * server withholds that document; one for the same seq with another hash means two
 * histories: both refused loudly.
 */
export function vouchedAt(
  sodium: Sodium,
  head: { doc: WorkspaceDoc; body: string },
  heartbeats: readonly SignedHeartbeat[],
): number | null {
  let newest: number | null = null;
  const hash = docHash(head.body);
  for (const hb of heartbeats) {
    const admin = head.doc.admins.find((a) => a.user_id === hb.signer);
    if (admin === undefined) continue;
    if (!verifyHeartbeatSignature(sodium, fromBase64(admin.sign_public), hb.body, hb.signature))
      continue;
    let beat: Heartbeat;
    try {
      beat = JSON.parse(hb.body) as Heartbeat;
    } catch {
      continue;
    }
    if (beat.workspace_id !== head.doc.workspace_id || typeof beat.seq !== 'number') continue;
    if (beat.seq > head.doc.seq)
      throw new AgentSecretsError(
        'signature_invalid',
        `an admin signed that document seq ${beat.seq} is current, but the server serves seq ${head.doc.seq}: it is withholding a newer document (perhaps a revocation). Tell a workspace admin`,
      );
    if (beat.seq === head.doc.seq && beat.head_hash !== hash)
      throw new AgentSecretsError(
        'signature_invalid',
        `an admin signed another document under seq ${beat.seq} than the one the server serves: two histories. Tell a workspace admin`,
      );
    const at = Date.parse(beat.at);
    if (beat.seq === head.doc.seq && Number.isFinite(at) && (newest === null || at > newest))
      newest = at;
  }
  return newest;
}

/**
 * How fresh a team workspace is by what its admins signed (the document's issue time, a
 * heartbeat), and its limit; used to fail closed (`sync_stale`) when too old.
 */
export function signedFreshness(team: TeamInfo): { at: number; limitMs: number } {
  const doc = parseDocBody(team.doc.body);
  const issued = Date.parse(doc.issued_at) || 0;
  const beat = Date.parse(team.heartbeat_at ?? '') || 0;
  return { at: Math.max(issued, beat), limitMs: doc.max_staleness_s * 1000 };
}

/** `sync_stale` if a team workspace's newest signed freshness is older than its limit. */
export function checkSignedFreshness(name: string, team: TeamInfo, now: number): void {
  const { at, limitMs } = signedFreshness(team);
  const age = now - at;
  if (age <= limitMs) return;
  throw new AgentSecretsError(
    'sync_stale',
    `workspace ${name}: nothing an admin signed is newer than ${formatAge(age)} (the limit is ${formatAge(limitMs)}): agent tokens are refused until an admin's machine is online and this one syncs (\`agentsecrets proxy sync\`)`,
  );
}

/** `3 h 12 min`, `45 s`: an age for a human. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days`;
}
