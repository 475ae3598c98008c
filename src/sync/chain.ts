import { createHash } from 'node:crypto';
import { AgentSecretsError } from '../core/errors.js';
import { encodeAad } from '../crypto/aad.js';
import { fromBase64, toBase64 } from '../crypto/aead.js';
import { sign, type SignKeyPair, verify } from '../crypto/sign.js';
import type { Sodium } from '../crypto/sodium.js';
import type { TeamInfo } from '../workspace/model.js';
import { verifyDocSignature } from './crypto.js';
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
  let admins = trusted.admins;
  let prev = { seq: trusted.seq, body: trusted.body };
  let last: { signed: SignedDoc; doc: WorkspaceDoc } | null = null;
  for (const link of links) {
    const doc = parseDocBody(link.body);
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
    if (!verifyDocSignature(sodium, fromBase64(signer.sign_public), link.body, link.signature))
      throw refused(`the signature of link ${doc.seq} does not verify`);
    admins = doc.admins;
    prev = { seq: doc.seq, body: link.body };
    last = { signed: link, doc };
  }
  return last;
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
