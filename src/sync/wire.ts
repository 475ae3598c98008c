import * as z from 'zod';
import { ENVIRONMENTS } from '../core/config.js';

/**
 * The sync API's bodies (DESIGN §10), validated with zod on both sides. Everything secret
 * travels as ciphertext (`nonce` + `ciphertext`, base64), a sealed box or a signature.
 */

const b64 = z
  .string()
  .max(1_000_000)
  .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const id = (prefix: string) =>
  z.string().regex(new RegExp(`^${prefix}_[0-9a-z]{8,40}$`), `an id starting with ${prefix}_`);

export const email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .regex(/^[^\s@]+@[^\s@]+$/, 'an email address');
export const role = z.enum(['admin', 'member']);
export const environment = z.enum(ENVIRONMENTS);
export const keyName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'a key name');
export const userId = id('usr');
export const workspaceId = id('ws');
export const projectId = id('prj');

export const kdfParams = z.object({
  alg: z.literal('argon2id13'),
  ops: z.number().int().min(1).max(20),
  mem: z
    .number()
    .int()
    .min(8 * 1024)
    .max(2 * 1024 * 1024 * 1024),
  salt: b64.min(16).max(64),
});

export const authParamsRequest = z.object({ email });
export const authParamsResponse = z.object({ kdf: kdfParams });

export const sealed = z.object({ nonce: b64.min(1), ciphertext: b64.min(1) });

export const signupRequest = z.object({
  email,
  auth_key: b64.length(44),
  kdf: kdfParams,
  box_public: b64.length(44),
  sign_public: b64.length(44),
  wrapped_keys: sealed,
});

export const loginRequest = z.object({ email, auth_key: b64.length(44) });
export const refreshRequest = z.object({ refresh_token: z.string().min(10).max(200) });

export const publicUser = z.object({
  id: userId,
  email,
  box_public: b64,
  sign_public: b64,
  fingerprint: z.string(),
});

export const sessionResponse = z.object({
  access_token: z.string(),
  refresh_token: z.string(),
  expires_in: z.number(),
  user: publicUser,
});

export const loginResponse = sessionResponse.extend({
  kdf: kdfParams,
  wrapped_keys: sealed,
});

export const keyGrant = z.object({
  workspace_id: workspaceId,
  user_id: userId,
  epoch: z.number().int().min(1),
  kind: z.enum(['workspace', 'token']),
  sealed: b64.min(1).max(4000),
  granted_by: userId,
  signature: b64.length(88),
});

/** A signed workspace document as it travels: the exact body text and its signature. */
export const signedDoc = z.object({
  body: z.string().min(2).max(2_000_000),
  signature: b64.length(88),
  signer: userId,
});

export const createWorkspaceRequest = z.object({
  id: workspaceId,
  name: z.string().min(1).max(64),
  grants: z.array(keyGrant).min(1).max(2),
  doc: signedDoc,
});

/** Invites are always for members: an admin is made only by a signed document (promote). */
/** The SHA-256 (hex) of an invite code's one-time secret; the server never sees the secret. */
const secretHash = z.string().regex(/^[0-9a-f]{64}$/);
export const inviteRequest = z.object({ email, secret_hash: secretHash.optional() });
/** Accepting an invitation: the code's one-time secret (32 hex characters). */
export const acceptRequest = z.object({ secret: z.string().regex(/^[0-9a-f]{32}$/) });
export const confirmRequest = z.object({ grants: z.array(keyGrant).min(1).max(64) });
export const roleRequest = z.object({
  role,
  grants: z.array(keyGrant).max(64).default([]),
  doc: signedDoc,
});
export const putDocRequest = z.object({ doc: signedDoc });
export const heartbeatRequest = z.object({
  body: z.string().min(2).max(1000),
  signature: b64.length(88),
});

export const projectRequest = z.object({ id: projectId, name: z.string().min(1).max(64) });

export const pushChange = z.object({
  key: keyName,
  base_version: z.number().int().min(1).nullable(),
  version: z.number().int().min(1),
  epoch: z.number().int().min(1),
  nonce: b64.min(1).max(64),
  ciphertext: b64.min(1).max(200_000),
  digest: b64.length(44),
});

/** A push manifest as it travels: the exact body text, its signature and signer (F10). */
export const signedManifest = z.object({
  body: z.string().min(2).max(2_000_000),
  signature: b64.length(88),
  signer: userId,
});

/** A manifest's body as a client parses it after checking the signature. */
export const manifestBody = z.object({
  format: z.literal(1),
  workspace_id: z.string(),
  project_id: z.string(),
  environment: z.string(),
  seq: z.number().int().min(1),
  epoch: z.number().int().min(1),
  signer: z.string(),
  issued_at: z.string(),
  entries: z.array(z.object({ key: keyName, version: z.number().int().min(1), digest: b64 })),
  deleted: z.array(z.object({ key: keyName, version: z.number().int().min(1) })),
});

/** A deletion in a push: the key and the remote version it deletes (a tombstone). */
export const pushDeletion = z.object({
  key: keyName,
  base_version: z.number().int().min(1),
});

export const pushRequest = z
  .object({
    changes: z.array(pushChange).max(5000).default([]),
    deletions: z.array(pushDeletion).max(5000).default([]),
    force: z.boolean().default(false),
    manifest: signedManifest.optional(),
  })
  .refine((r) => r.changes.length + r.deletions.length > 0, 'a push changes or deletes a key');

export const remoteRecord = z.object({
  key: keyName,
  version: z.number().int(),
  epoch: z.number().int(),
  nonce: b64,
  ciphertext: b64,
  digest: b64,
  updated_at: z.string(),
  updated_by: userId,
});

export const rotateRecord = z.object({
  project_id: projectId,
  environment,
  key: keyName,
  version: z.number().int().min(1),
  nonce: b64.min(1).max(64),
  ciphertext: b64.min(1).max(200_000),
  digest: b64.length(44),
});

export const rotateRequest = z.object({
  from_epoch: z.number().int().min(1),
  epoch: z.number().int().min(2),
  grants: z.array(keyGrant).min(1).max(1000),
  records: z.array(rotateRecord).max(100_000),
  doc: signedDoc,
  /** A fresh signed manifest for each project environment with records (F10). */
  manifests: z.array(signedManifest).max(10_000).default([]),
});

export type KeyGrantWire = z.infer<typeof keyGrant>;
export type SignedDoc = z.infer<typeof signedDoc>;
export type PushChange = z.infer<typeof pushChange>;
export type RemoteRecord = z.infer<typeof remoteRecord>;
export type RotateRecord = z.infer<typeof rotateRecord>;
export type SignedManifest = z.infer<typeof signedManifest>;
export type PushDeletion = z.infer<typeof pushDeletion>;
export type PublicUser = z.infer<typeof publicUser>;

// --- the server's answers, as the client checks them --------------------------------------
// Text a person reads (names, emails, roles) is only bounded here: it is made safe for a
// terminal where it is shown (F9). Records are checked one by one where a bad one must not
// spoil the others (F8).

const text = z.string().max(1000);

export const tokensResponse = z.object({
  access_token: z.string().min(1).max(4000),
  refresh_token: z.string().min(1).max(200),
  expires_in: z.number().positive(),
});
export const okResponse = z.object({ ok: z.boolean() });
export const statusResponse = z.object({ status: text });
export const createWorkspaceResponse = z.object({ id: text, name: text, epoch: z.number().int() });
export const workspacesResponse = z.object({
  workspaces: z.array(
    z.object({ id: text, name: text, epoch: z.number().int(), role: text, status: text }),
  ),
});
const remoteMember = z.object({
  id: text,
  email: text,
  box_public: b64,
  sign_public: b64,
  fingerprint: text,
  role: text,
  status: text,
});
export const remoteWorkspaceResponse = z.object({
  workspace: z.object({ id: text, name: text, epoch: z.number().int() }),
  role: text,
  members: z.array(remoteMember),
  invites: z.array(z.object({ email: text, role: text, created_at: text })),
  grants: z.array(keyGrant),
  doc: signedDoc.nullable(),
});
export const inviteResponse = z.object({
  status: z.enum(['pending', 'invited', 'already_member']),
  user: z
    .object({ id: text, email: text, box_public: b64, sign_public: b64, fingerprint: text })
    .nullable(),
});
export const heartbeat = z.object({ signer: text, body: text, signature: b64 });
export const docResponse = z.object({
  unchanged: z.boolean().optional(),
  doc: signedDoc.optional(),
  seq: z.number().int(),
  heartbeats: z.array(heartbeat).optional(),
});
export const docsResponse = z.object({ docs: z.array(signedDoc), more: z.boolean() });
export const grantsResponse = z.object({ grants: z.array(keyGrant) });
export const projectsResponse = z.object({
  projects: z.array(z.object({ id: text, name: text, created_at: text })),
});
export const recordsMetaResponse = z.object({
  records: z.array(
    z.object({ key: text, version: z.number().int(), epoch: z.number().int(), digest: text }),
  ),
  manifest: signedManifest.nullable().default(null),
});
/** Records are parsed one by one by the pull (a malformed one is skipped and named). */
export const recordsResponse = z.object({
  records: z.array(z.unknown()),
  manifest: signedManifest.nullable().default(null),
});
export const allRecordsResponse = z.object({
  records: z.array(rotateRecord.extend({ epoch: z.number().int().min(1) })),
  manifests: z.array(signedManifest).default([]),
});
export const pushResponse = z.object({
  records: z.array(z.object({ key: text, version: z.number().int() })),
});
