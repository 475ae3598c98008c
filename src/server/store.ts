import { timingSafeEqual } from 'node:crypto';
import type { SharedCounters } from './rate-limit.js';
/**
 * The sync server's storage (DESIGN §10), with two implementations that must behave the
 * same: `file` (embedded, one process) and `postgres` (several server processes, one
 * database). The server keeps no secret of any user: rows hold hashes, public keys,
 * ciphertexts, sealed boxes and signed documents. Every method that changes more than one
 * row is atomic: a crash or a concurrent writer never leaves a partial change visible.
 */

export interface KdfRow {
  alg: 'argon2id13';
  ops: number;
  mem: number;
  salt: string;
}

export interface UserRow {
  id: string;
  email: string;
  /** SHA-256 (hex) of the client's auth key; the password never reaches the server. */
  auth_hash: string;
  kdf: KdfRow;
  box_public: string;
  sign_public: string;
  /** The private keys, wrapped under a key only the client can derive. */
  wrapped_keys: { nonce: string; ciphertext: string };
  created_at: string;
}

export interface RefreshRow {
  /** SHA-256 (hex) of the refresh token; the token itself is never stored. */
  hash: string;
  user_id: string;
  family: string;
  created_at: string;
  expires_at: string;
  used_at: string | null;
  revoked_at: string | null;
}

export type RefreshOutcome =
  | { status: 'ok'; row: RefreshRow }
  | { status: 'reused'; row: RefreshRow }
  | { status: 'revoked' | 'expired' | 'unknown' };

export interface WorkspaceRow {
  id: string;
  name: string;
  created_by: string;
  created_at: string;
  epoch: number;
}

export type Role = 'admin' | 'member';

export interface MemberRow {
  workspace_id: string;
  user_id: string;
  role: Role;
  /** `pending`: has an account and was invited, waits for an admin to seal the key to it. */
  status: 'pending' | 'active';
  added_at: string;
  confirmed_by: string | null;
  /**
   * SHA-256 (hex) of the invite code's one-time secret while the invitation is not accepted;
   * null once accepted (burnt), and for invitations made without one (older clients).
   */
  invite_hash?: string | null;
}

export type AcceptOutcome = 'accepted' | 'wrong_secret' | 'used' | 'not_invited';

/** Compares two hex SHA-256 digests in constant time. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}

export interface InviteRow {
  workspace_id: string;
  email: string;
  role: Role;
  invited_by: string;
  created_at: string;
  /** SHA-256 (hex) of the invite code's one-time secret; the secret itself is never stored. */
  secret_hash?: string | null;
}

export interface GrantRow {
  workspace_id: string;
  user_id: string;
  epoch: number;
  kind: 'workspace' | 'token';
  sealed: string;
  granted_by: string;
  signature: string;
}

export interface DocRow {
  workspace_id: string;
  seq: number;
  body: string;
  signature: string;
  signer: string;
  updated_at: string;
}

/** An admin's signed heartbeat (seq, head hash, time), the newest per signer (F6). */
export interface HeartbeatRow {
  workspace_id: string;
  signer: string;
  body: string;
  signature: string;
}

export interface ProjectRow {
  workspace_id: string;
  id: string;
  name: string;
  created_by: string;
  created_at: string;
}

export interface RecordRow {
  workspace_id: string;
  project_id: string;
  environment: string;
  key: string;
  version: number;
  epoch: number;
  nonce: string;
  ciphertext: string;
  digest: string;
  updated_at: string;
  updated_by: string;
}

export interface PushChangeRow {
  key: string;
  /** The remote version the client last saw, or null for a key new to the remote. */
  base_version: number | null;
  version: number;
  epoch: number;
  nonce: string;
  ciphertext: string;
  digest: string;
}

/** The newest signed push manifest of one project environment (issue 12, F10). */
export interface ManifestRow {
  workspace_id: string;
  project_id: string;
  environment: string;
  seq: number;
  body: string;
  signature: string;
  signer: string;
}

/** A deletion in a push: the key and the remote version the client deletes. */
export interface PushDeletionRow {
  key: string;
  base_version: number;
}

export interface PushOptions {
  force: boolean;
  userId: string;
  now: Date;
  /** Keys deleted by this push (tombstones); a base version that moved is a conflict. */
  deletions?: readonly PushDeletionRow[];
  /**
   * The signed manifest of the environment after this push; its seq must be the stored one
   * plus one (1 for the first), else `manifest_conflict` and nothing is written.
   */
  manifest?: ManifestRow;
}

export type PushOutcome =
  | { status: 'ok'; records: RecordRow[] }
  | { status: 'manifest_conflict'; seq: number }
  | { status: 'conflict'; conflicts: { key: string; remote_version: number | null }[] }
  | { status: 'stale_epoch'; epoch: number };

export interface RotateInput {
  workspace_id: string;
  /** The member removed by this rotation, if any. */
  remove_user_id: string | null;
  from_epoch: number;
  epoch: number;
  grants: GrantRow[];
  /** Every record of the workspace, re-encrypted under the new key (same key and version). */
  records: RecordRow[];
  doc: DocRow;
  expected_seq: number;
  /** A fresh signed manifest per project environment, stored with the rotation. */
  manifests?: ManifestRow[];
}

export interface ServerKeys {
  /** EdDSA key for access tokens, as PKCS#8 PEM and public JWK. */
  jwt_private_pem: string;
  jwt_public_jwk: Record<string, unknown>;
  /** HMAC key for the fake KDF salts of unknown emails (no account enumeration). */
  salt_key: string;
}

export type SignupOutcome = 'created' | 'email_taken' | 'invite_required';

export interface ServerStore {
  /** Rate-limit counters every server process on this store shares (PostgreSQL only). */
  readonly counters?: SharedCounters;
  readonly kind: 'file' | 'postgres';
  /** Opens the store and runs migrations. */
  init(): Promise<void>;
  close(): Promise<void>;

  /** The server's own keys; the first process to ask creates them, the others read them. */
  serverKeys(create: () => Promise<ServerKeys>): Promise<ServerKeys>;

  /**
   * Creates a user. With `requireInvite`, only the first account or one with a pending invite
   * may be created. Every invite for the email becomes a `pending` membership in the same step.
   */
  createUser(user: UserRow, options: { requireInvite: boolean }): Promise<SignupOutcome>;
  userByEmail(email: string): Promise<UserRow | undefined>;
  usersById(ids: readonly string[]): Promise<UserRow[]>;

  insertRefresh(row: RefreshRow): Promise<void>;
  /**
   * Marks a refresh token used, atomically: a second use of the same token returns `reused`
   * (and the caller revokes its whole family).
   */
  consumeRefresh(hash: string, now: Date): Promise<RefreshOutcome>;
  revokeFamily(family: string, at: Date): Promise<void>;

  /** Creates a workspace with its creator as the first admin, the creator's grants and doc. */
  createWorkspace(
    workspace: WorkspaceRow,
    admin: MemberRow,
    grants: GrantRow[],
    doc: DocRow,
  ): Promise<'created' | 'exists'>;
  workspace(id: string): Promise<WorkspaceRow | undefined>;
  workspacesOf(userId: string): Promise<{ workspace: WorkspaceRow; member: MemberRow }[]>;
  members(workspaceId: string): Promise<MemberRow[]>;
  member(workspaceId: string, userId: string): Promise<MemberRow | undefined>;

  /**
   * Invites an email: a user with an account becomes a `pending` member at once, otherwise an
   * invite waits for the sign-up. Existing members are left as they are.
   */
  invite(invite: InviteRow): Promise<'pending' | 'invited' | 'already_member'>;
  invites(workspaceId: string): Promise<InviteRow[]>;
  /**
   * Accepts an invitation with the SHA-256 of its code's secret: the stored hash is burnt on
   * the first match. `used`: nothing left to accept (accepted already, or made without one).
   */
  acceptInvite(workspaceId: string, userId: string, secretHash: string): Promise<AcceptOutcome>;

  /** A pending member becomes active with its key grants, atomically. */
  confirmMember(
    workspaceId: string,
    userId: string,
    confirmedBy: string,
    grants: GrantRow[],
  ): Promise<'confirmed' | 'not_pending'>;
  /** Changes a role with the new signed doc (and grants for a new admin), atomically. */
  setRole(
    workspaceId: string,
    userId: string,
    role: Role,
    grants: GrantRow[],
    doc: DocRow,
    expectedSeq: number,
  ): Promise<'ok' | 'conflict'>;
  grants(workspaceId: string, userId: string): Promise<GrantRow[]>;

  doc(workspaceId: string): Promise<DocRow | undefined>;
  /** Replaces the doc only if its current seq is `expectedSeq` (compare and set). */
  putDoc(doc: DocRow, expectedSeq: number): Promise<boolean>;
  /**
   * The document log: every document the workspace had (each write of the head adds one, in
   * the same step), with seq above `afterSeq`, oldest first, at most `limit`.
   */
  docChain(workspaceId: string, afterSeq: number, limit: number): Promise<DocRow[]>;
  /** Keeps the newest heartbeat of its signer (replacing the one before). */
  putHeartbeat(row: HeartbeatRow): Promise<void>;
  heartbeats(workspaceId: string): Promise<HeartbeatRow[]>;

  /**
   * Moves the workspace to a new key epoch in one step: the new grants, every record
   * re-encrypted, the removed member (if any) gone, the new doc. Refuses (`conflict`) if the
   * epoch or the doc moved meanwhile.
   */
  rotate(input: RotateInput): Promise<'ok' | 'conflict'>;

  putProject(project: ProjectRow): Promise<'created' | 'exists' | 'name_taken'>;
  projects(workspaceId: string): Promise<ProjectRow[]>;

  records(workspaceId: string, projectId: string, environment: string): Promise<RecordRow[]>;
  allRecords(workspaceId: string): Promise<RecordRow[]>;
  /**
   * Applies a push all or nothing. Without `force`, a change whose `base_version` is not the
   * current remote version (null when the key is absent) is a conflict and nothing is
   * written. With or without `force`, each change's `version` must be the current version + 1
   * (1 for a new key), else it is a conflict too: the version is bound in the ciphertext's
   * associated data, so it cannot be renumbered here. Every change must carry the
   * workspace's current epoch (`stale_epoch` otherwise). Duplicate keys in one push are a
   * conflict.
   */
  push(
    workspaceId: string,
    projectId: string,
    environment: string,
    changes: PushChangeRow[],
    options: PushOptions,
  ): Promise<PushOutcome>;
  /** The newest signed push manifest of every project environment of a workspace. */
  manifests(workspaceId: string): Promise<ManifestRow[]>;
  /** The newest signed push manifest of a project environment, if one was pushed. */
  manifest(
    workspaceId: string,
    projectId: string,
    environment: string,
  ): Promise<ManifestRow | undefined>;
}
