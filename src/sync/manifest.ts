import { AgentSecretsError } from '../core/errors.js';
import { encodeAad } from '../crypto/aad.js';
import { fromBase64, toBase64 } from '../crypto/aead.js';
import { sign, type SignKeyPair, verify } from '../crypto/sign.js';
import type { Sodium } from '../crypto/sodium.js';
import type { WorkspaceDoc } from './doc.js';
import { printable } from './api.js';
import * as wire from './wire.js';

/**
 * Signed push manifests (issue 12, F10). Each push, deletion and rotation sends a manifest of
 * the whole environment signed by the member who sends it: every key's version and keyed
 * digest, the keys deleted, and a seq that grows by one each time. A client checks the
 * signature against the member's key in the signed (chained) workspace document, every record
 * against the manifest, and refuses a manifest older than the newest it has seen for that
 * environment: the server can no longer roll records back, resurrect a deleted key or mix
 * versions from different pushes unnoticed.
 */

export const MANIFEST_LABEL = 'agentsecrets/push-manifest/v1';

export interface ManifestEntry {
  key: string;
  version: number;
  digest: string;
}

export interface Manifest {
  format: 1;
  workspace_id: string;
  project_id: string;
  environment: string;
  seq: number;
  /** The key epoch the digests were made under. */
  epoch: number;
  signer: string;
  issued_at: string;
  entries: ManifestEntry[];
  /** Keys deleted (tombstones), with the version they had when deleted. */
  deleted: { key: string; version: number }[];
}

export type SignedManifest = wire.SignedManifest;

function manifestBytes(body: string): Uint8Array {
  return encodeAad(MANIFEST_LABEL, [body]);
}

/** The body text of a manifest: fixed field order, entries sorted by key. */
export function manifestBody(m: Manifest): string {
  const byKey = <T extends { key: string }>(a: T, b: T) => (a.key < b.key ? -1 : 1);
  return JSON.stringify({
    format: 1,
    workspace_id: m.workspace_id,
    project_id: m.project_id,
    environment: m.environment,
    seq: m.seq,
    epoch: m.epoch,
    signer: m.signer,
    issued_at: m.issued_at,
    entries: [...m.entries]
      .sort(byKey)
      .map((e) => ({ key: e.key, version: e.version, digest: e.digest })),
    deleted: [...m.deleted].sort(byKey).map((d) => ({ key: d.key, version: d.version })),
  });
}

export function signManifest(
  sodium: Sodium,
  signer: { userId: string; sign: SignKeyPair },
  m: Manifest,
): SignedManifest {
  const body = manifestBody({ ...m, signer: signer.userId });
  return {
    body,
    signature: toBase64(sign(sodium, signer.sign.privateKey, manifestBytes(body))),
    signer: signer.userId,
  };
}

export function verifyManifestSignature(
  sodium: Sodium,
  publicKey: Uint8Array,
  body: string,
  signature: string,
): boolean {
  try {
    return verify(sodium, publicKey, manifestBytes(body), fromBase64(signature));
  } catch {
    return false;
  }
}

/** Parses a manifest body; `bad_server_response` if it is not one. */
export function parseManifest(body: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    raw = undefined;
  }
  const parsed = wire.manifestBody.safeParse(raw);
  if (!parsed.success)
    throw new AgentSecretsError(
      'bad_server_response',
      'the sync server sent a push manifest that does not parse; nothing was applied. Tell a workspace admin',
    );
  return parsed.data as Manifest;
}

export interface ManifestPlace {
  workspace_id: string;
  project_id: string;
  environment: string;
}

/**
 * Checks a manifest the server served for `place`: signed by a member the trusted document
 * names (with the key it names), for this place, and not older than `seenSeq`. Returns it.
 */
export function verifyManifest(
  sodium: Sodium,
  signed: SignedManifest,
  place: ManifestPlace,
  doc: WorkspaceDoc,
  seenSeq: number,
): Manifest {
  const m = parseManifest(signed.body);
  const where = `${place.project_id}/${place.environment}`;
  const member = doc.members.find((x) => x.user_id === signed.signer);
  if (
    member === undefined ||
    m.signer !== signed.signer ||
    !verifyManifestSignature(sodium, fromBase64(member.sign_public), signed.body, signed.signature)
  )
    throw new AgentSecretsError(
      'signature_invalid',
      `the push manifest the sync server served for ${where} is not signed by a member the workspace's signed document names; nothing was applied. The server (or someone with access to its store) altered it: tell a workspace admin`,
    );
  if (
    m.workspace_id !== place.workspace_id ||
    m.project_id !== place.project_id ||
    m.environment !== place.environment
  )
    throw new AgentSecretsError(
      'signature_invalid',
      `the sync server served the push manifest of another place for ${where}; nothing was applied. Tell a workspace admin`,
    );
  if (m.seq < seenSeq)
    throw new AgentSecretsError(
      'signature_invalid',
      `the sync server served push manifest ${m.seq} for ${where}, older than manifest ${seenSeq} this machine has already seen: the server rolled the records back. Nothing was applied; tell the server's operator and a workspace admin`,
    );
  return m;
}

/** A manifest with its entries by key, for checking many records. */
export interface IndexedManifest {
  manifest: Manifest;
  entries: Map<string, ManifestEntry>;
}

export function indexManifest(m: Manifest): IndexedManifest {
  return { manifest: m, entries: new Map(m.entries.map((e) => [e.key, e])) };
}

/** Why a served record does not match the manifest, or undefined when it does. */
export function manifestMismatch(
  indexed: IndexedManifest,
  record: { key: string; version: number; epoch: number; digest: string },
): string | undefined {
  const m = indexed.manifest;
  const entry = indexed.entries.get(record.key);
  if (entry === undefined)
    return m.deleted.some((d) => d.key === record.key)
      ? 'it was deleted, by the signed push manifest'
      : 'it is not in the signed push manifest';
  if (entry.version !== record.version)
    return `the signed push manifest names version ${entry.version}, the server sent version ${record.version}`;
  if (m.epoch === record.epoch && entry.digest !== record.digest)
    return 'its digest differs from the one in the signed push manifest';
  return undefined;
}

/** Keys the manifest lists that the server did not send (withheld). */
export function withheldKeys(m: Manifest, served: ReadonlySet<string>): string[] {
  return m.entries.filter((e) => !served.has(e.key)).map((e) => printable(e.key));
}
