import { AgentSecretsError } from '../core/errors.js';
import {
  judgeDeletions,
  judgePush,
  type RecordIdentity,
  recordFromChange,
  refreshVerdict,
  sameRecordSet,
} from './store-rules.js';
import type {
  ManifestRow,
  PushDeletionRow,
  DocRow,
  GrantRow,
  InviteRow,
  MemberRow,
  ProjectRow,
  PushChangeRow,
  PushOutcome,
  RecordRow,
  RefreshOutcome,
  RefreshRow,
  Role,
  RotateInput,
  ServerKeys,
  SignupOutcome,
  UserRow,
  WorkspaceRow,
} from './store.js';
import { type AcceptOutcome, sameHash } from './store.js';
import { SIGNUP_LOCK } from './store-postgres-schema.js';
import { type Query, first } from './store-postgres-db.js';

/** The PostgreSQL store's changes and reads, each on one query function or transaction. */
// --- accounts and sessions --------------------------------------------------------------

export const SELECT_SERVER_KEYS =
  'SELECT jwt_private_pem, jwt_public_jwk, salt_key FROM server_keys';

export async function serverKeys(q: Query, create: () => Promise<ServerKeys>): Promise<ServerKeys> {
  const existing = first(await q<ServerKeys>(SELECT_SERVER_KEYS));
  if (existing !== undefined) return existing;
  const keys = await create();
  await q(
    `INSERT INTO server_keys (jwt_private_pem, jwt_public_jwk, salt_key) VALUES ($1, $2, $3)
     ON CONFLICT DO NOTHING`,
    [keys.jwt_private_pem, JSON.stringify(keys.jwt_public_jwk), keys.salt_key],
  );
  // Another process may have been first: everyone uses the keys that were stored.
  return first(await q<ServerKeys>(SELECT_SERVER_KEYS))!;
}

export async function createUser(
  t: Query,
  user: UserRow,
  requireInvite: boolean,
): Promise<SignupOutcome> {
  await t('SELECT pg_advisory_xact_lock($1)', [SIGNUP_LOCK]);
  const [state] = await t<{ any_user: boolean; invited: boolean; taken: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM users) AS any_user,
            EXISTS (SELECT 1 FROM invites WHERE lower(email) = lower($1)) AS invited,
            EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1)) AS taken`,
    [user.email],
  );
  if (requireInvite && state!.any_user && !state!.invited) return 'invite_required';
  if (state!.taken) return 'email_taken';
  await t(
    `INSERT INTO users (id, email, auth_hash, kdf, box_public, sign_public, wrapped_keys, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      user.id,
      user.email,
      user.auth_hash,
      JSON.stringify(user.kdf),
      user.box_public,
      user.sign_public,
      JSON.stringify(user.wrapped_keys),
      user.created_at,
    ],
  );
  await t(
    `INSERT INTO members (workspace_id, user_id, role, status, added_at, confirmed_by, invite_hash)
     SELECT workspace_id, $1, role, 'pending', $2, NULL, secret_hash FROM invites
     WHERE lower(email) = lower($3)
     ON CONFLICT DO NOTHING`,
    [user.id, user.created_at, user.email],
  );
  await t('DELETE FROM invites WHERE lower(email) = lower($1)', [user.email]);
  return 'created';
}

export async function usersById(q: Query, ids: readonly string[]): Promise<UserRow[]> {
  const unique = [...new Set(ids)];
  const rows = await q<UserRow>('SELECT * FROM users WHERE id = ANY($1)', [unique]);
  const byId = new Map(rows.map((row) => [row.id, row]));
  return unique.flatMap((id) => byId.get(id) ?? []);
}

export async function consumeRefresh(q: Query, hash: string, now: Date): Promise<RefreshOutcome> {
  // One statement: of several processes presenting the same token, exactly one marks it.
  const [used] = await q<RefreshRow>(
    `UPDATE refresh_tokens SET used_at = $2
     WHERE hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2
     RETURNING *`,
    [hash, now],
  );
  if (used !== undefined) return { status: 'ok', row: used };
  const row = first(await q<RefreshRow>('SELECT * FROM refresh_tokens WHERE hash = $1', [hash]));
  const verdict = refreshVerdict(row, now);
  if (verdict === 'reused') return { status: 'reused', row: row! };
  // 'ok' here means the token appeared after the update looked: it was not there to consume.
  return { status: verdict === 'ok' ? 'unknown' : verdict };
}

// --- workspaces and members -----------------------------------------------------------------

/** Locks the workspace row for this transaction; its epoch, or undefined if there is none. */
export async function lockWorkspace(t: Query, workspaceId: string): Promise<number | undefined> {
  const [row] = await t<{ epoch: number }>(
    'SELECT epoch FROM workspaces WHERE id = $1 FOR UPDATE',
    [workspaceId],
  );
  return row?.epoch;
}

export async function requireWorkspace(q: Query, workspaceId: string): Promise<void> {
  const rows = await q('SELECT 1 FROM workspaces WHERE id = $1', [workspaceId]);
  if (rows.length === 0) {
    throw new AgentSecretsError('workspace_not_found', 'no workspace with this id');
  }
}

export async function createWorkspace(
  t: Query,
  workspace: WorkspaceRow,
  admin: MemberRow,
  grants: GrantRow[],
  doc: DocRow,
): Promise<'created' | 'exists'> {
  const inserted = await t(
    `INSERT INTO workspaces (id, name, created_by, created_at, epoch) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO NOTHING RETURNING id`,
    [workspace.id, workspace.name, workspace.created_by, workspace.created_at, workspace.epoch],
  );
  if (inserted.length === 0) return 'exists';
  await t(
    `INSERT INTO members (workspace_id, user_id, role, status, added_at, confirmed_by)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [
      admin.workspace_id,
      admin.user_id,
      admin.role,
      admin.status,
      admin.added_at,
      admin.confirmed_by,
    ],
  );
  await upsertGrants(t, grants);
  await t(
    `INSERT INTO docs (workspace_id, seq, body, signature, signer, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [doc.workspace_id, doc.seq, doc.body, doc.signature, doc.signer, doc.updated_at],
  );
  return 'created';
}

export async function workspacesOf(
  q: Query,
  userId: string,
): Promise<{ workspace: WorkspaceRow; member: MemberRow }[]> {
  const rows = await q<WorkspaceRow & MemberRow>(
    `SELECT w.id, w.name, w.created_by, w.created_at, w.epoch,
            m.workspace_id, m.user_id, m.role, m.status, m.added_at, m.confirmed_by
     FROM members m JOIN workspaces w ON w.id = m.workspace_id
     WHERE m.user_id = $1
     ORDER BY w.created_at, w.id COLLATE "C"`,
    [userId],
  );
  return rows.map((r) => ({
    workspace: {
      id: r.id,
      name: r.name,
      created_by: r.created_by,
      created_at: r.created_at,
      epoch: r.epoch,
    },
    member: {
      workspace_id: r.workspace_id,
      user_id: r.user_id,
      role: r.role,
      status: r.status,
      added_at: r.added_at,
      confirmed_by: r.confirmed_by,
    },
  }));
}

export async function inviteEmail(
  t: Query,
  invite: InviteRow,
): Promise<'pending' | 'invited' | 'already_member'> {
  // Under the sign-up lock: a sign-up of this email cannot slip between the look-up and the
  // invite, which would strand the invite next to an account.
  await t('SELECT pg_advisory_xact_lock($1)', [SIGNUP_LOCK]);
  await requireWorkspace(t, invite.workspace_id);
  const [user] = await t<{ id: string }>('SELECT id FROM users WHERE lower(email) = lower($1)', [
    invite.email,
  ]);
  if (user === undefined) {
    await t(
      `INSERT INTO invites (workspace_id, email, role, invited_by, created_at, secret_hash)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (workspace_id, lower(email)) DO UPDATE SET email = excluded.email,
         role = excluded.role, invited_by = excluded.invited_by, created_at = excluded.created_at,
         secret_hash = excluded.secret_hash`,
      [
        invite.workspace_id,
        invite.email,
        invite.role,
        invite.invited_by,
        invite.created_at,
        invite.secret_hash ?? null,
      ],
    );
    return 'invited';
  }
  const added = await t(
    `INSERT INTO members (workspace_id, user_id, role, status, added_at, confirmed_by, invite_hash)
     VALUES ($1, $2, $3, 'pending', $4, NULL, $5)
     ON CONFLICT DO NOTHING RETURNING user_id`,
    [invite.workspace_id, user.id, invite.role, invite.created_at, invite.secret_hash ?? null],
  );
  if (added.length === 1) return 'pending';
  // Invited again before accepting: the new code replaces the old one.
  const renewed = await t(
    `UPDATE members SET invite_hash = $3
     WHERE workspace_id = $1 AND user_id = $2 AND status = 'pending' AND invite_hash IS NOT NULL
     RETURNING user_id`,
    [invite.workspace_id, user.id, invite.secret_hash ?? null],
  );
  return renewed.length === 1 ? 'pending' : 'already_member';
}

export async function acceptInvite(
  t: Query,
  workspaceId: string,
  userId: string,
  secretHash: string,
): Promise<AcceptOutcome> {
  const [member] = await t<{ invite_hash: string | null }>(
    'SELECT invite_hash FROM members WHERE workspace_id = $1 AND user_id = $2 FOR UPDATE',
    [workspaceId, userId],
  );
  if (member === undefined) return 'not_invited';
  if (member.invite_hash === null) return 'used';
  if (!sameHash(member.invite_hash, secretHash)) return 'wrong_secret';
  await t('UPDATE members SET invite_hash = NULL WHERE workspace_id = $1 AND user_id = $2', [
    workspaceId,
    userId,
  ]);
  return 'accepted';
}

export async function confirmMember(
  t: Query,
  input: { workspaceId: string; userId: string; confirmedBy: string; grants: GrantRow[] },
): Promise<'confirmed' | 'not_pending'> {
  await lockWorkspace(t, input.workspaceId);
  const confirmed = await t(
    `UPDATE members SET status = 'active', confirmed_by = $3
     WHERE workspace_id = $1 AND user_id = $2 AND status = 'pending' RETURNING user_id`,
    [input.workspaceId, input.userId, input.confirmedBy],
  );
  if (confirmed.length === 0) return 'not_pending';
  await upsertGrants(t, input.grants);
  return 'confirmed';
}

export interface SetRoleInput {
  workspaceId: string;
  userId: string;
  role: Role;
  grants: GrantRow[];
  doc: DocRow;
  expectedSeq: number;
}

export async function setRole(t: Query, input: SetRoleInput): Promise<'ok' | 'conflict'> {
  await lockWorkspace(t, input.workspaceId);
  const member = await t('SELECT 1 FROM members WHERE workspace_id = $1 AND user_id = $2', [
    input.workspaceId,
    input.userId,
  ]);
  if (member.length === 0) return 'conflict';
  // The doc is compared and replaced first: if it moved, nothing has been written yet.
  if ((await writeDoc(t, input.doc, input.expectedSeq)).length === 0) return 'conflict';
  await t('UPDATE members SET role = $3 WHERE workspace_id = $1 AND user_id = $2', [
    input.workspaceId,
    input.userId,
    input.role,
  ]);
  await upsertGrants(t, input.grants);
  return 'ok';
}

/** Replaces the doc if its seq is `expectedSeq`; one row back if it did. */
export function writeDoc(q: Query, doc: DocRow, expectedSeq: number): Promise<unknown[]> {
  return q(
    `UPDATE docs SET seq = $2, body = $3, signature = $4, signer = $5, updated_at = $6
     WHERE workspace_id = $1 AND seq = $7 RETURNING workspace_id`,
    [doc.workspace_id, doc.seq, doc.body, doc.signature, doc.signer, doc.updated_at, expectedSeq],
  );
}

export async function upsertGrants(t: Query, grants: readonly GrantRow[]): Promise<void> {
  if (grants.length === 0) return;
  const column = <K extends keyof GrantRow>(key: K) => grants.map((g) => g[key]);
  await t(
    `INSERT INTO grants (workspace_id, user_id, epoch, kind, sealed, granted_by, signature)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[])
     ON CONFLICT (workspace_id, user_id, epoch, kind) DO UPDATE SET
       sealed = excluded.sealed, granted_by = excluded.granted_by, signature = excluded.signature`,
    [
      column('workspace_id'),
      column('user_id'),
      column('epoch'),
      column('kind'),
      column('sealed'),
      column('granted_by'),
      column('signature'),
    ],
  );
}

export async function rotate(t: Query, input: RotateInput): Promise<'ok' | 'conflict'> {
  const workspaceId = input.workspace_id;
  const epoch = await lockWorkspace(t, workspaceId);
  const [doc] = await t<{ seq: number }>(
    'SELECT seq FROM docs WHERE workspace_id = $1 FOR UPDATE',
    [workspaceId],
  );
  if (epoch !== input.from_epoch || doc?.seq !== input.expected_seq) return 'conflict';
  const current = await t<RecordIdentity>(
    `SELECT workspace_id, project_id, environment, key, version FROM records
     WHERE workspace_id = $1`,
    [workspaceId],
  );
  if (!sameRecordSet(current, input.records)) return 'conflict';
  if (input.remove_user_id !== null) {
    const who = [workspaceId, input.remove_user_id];
    await t('DELETE FROM grants WHERE workspace_id = $1 AND user_id = $2', who);
    await t('DELETE FROM members WHERE workspace_id = $1 AND user_id = $2', who);
  }
  await upsertGrants(t, input.grants);
  await upsertRecords(t, input.records);
  await upsertManifests(t, input.manifests ?? []);
  await t('UPDATE workspaces SET epoch = $2 WHERE id = $1', [workspaceId, input.epoch]);
  await writeDoc(t, input.doc, input.expected_seq);
  return 'ok';
}

// --- projects and records -----------------------------------------------------------------

export async function putProject(
  q: Query,
  project: ProjectRow,
): Promise<'created' | 'exists' | 'name_taken'> {
  await requireWorkspace(q, project.workspace_id);
  const inserted = await q(
    `INSERT INTO projects (workspace_id, id, name, created_by, created_at)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING id`,
    [project.workspace_id, project.id, project.name, project.created_by, project.created_at],
  );
  if (inserted.length === 1) return 'created';
  const same = await q('SELECT 1 FROM projects WHERE workspace_id = $1 AND id = $2', [
    project.workspace_id,
    project.id,
  ]);
  return same.length === 1 ? 'exists' : 'name_taken';
}

export interface PushInput {
  workspaceId: string;
  projectId: string;
  environment: string;
  changes: PushChangeRow[];
  force: boolean;
  userId: string;
  now: Date;
  deletions?: readonly PushDeletionRow[];
  manifest?: ManifestRow;
}

export async function push(t: Query, input: PushInput): Promise<PushOutcome> {
  const epoch = await lockWorkspace(t, input.workspaceId);
  if (epoch === undefined) {
    throw new AgentSecretsError('workspace_not_found', 'no workspace with this id');
  }
  const project = await t('SELECT 1 FROM projects WHERE workspace_id = $1 AND id = $2', [
    input.workspaceId,
    input.projectId,
  ]);
  if (project.length === 0) {
    throw new AgentSecretsError('project_not_found', 'no project with this id in the workspace');
  }
  const current = await t<{ key: string; version: number }>(
    `SELECT key, version FROM records
     WHERE workspace_id = $1 AND project_id = $2 AND environment = $3 AND key = ANY($4)`,
    [
      input.workspaceId,
      input.projectId,
      input.environment,
      [...input.changes.map((c) => c.key), ...(input.deletions ?? []).map((d) => d.key)],
    ],
  );
  const versions = new Map(current.map((r) => [r.key, r.version]));
  const [stored] = await t<{ seq: number }>(
    `SELECT seq FROM manifests WHERE workspace_id = $1 AND project_id = $2 AND environment = $3`,
    [input.workspaceId, input.projectId, input.environment],
  );
  const refusal =
    judgeDeletions(versions, input.changes, input.deletions ?? [], input.force, {
      stored: stored?.seq ?? 0,
      next: input.manifest,
    }) ?? judgePush(epoch, versions, input.changes, input.force);
  if (refusal !== undefined) return refusal;
  const records = input.changes.map((change) => recordFromChange(change, input));
  await upsertRecords(t, records);
  if ((input.deletions ?? []).length > 0)
    await t(
      `DELETE FROM records WHERE workspace_id = $1 AND project_id = $2 AND environment = $3
       AND key = ANY($4)`,
      [
        input.workspaceId,
        input.projectId,
        input.environment,
        (input.deletions ?? []).map((d) => d.key),
      ],
    );
  if (input.manifest !== undefined) await upsertManifests(t, [input.manifest]);
  return { status: 'ok', records };
}

export async function upsertManifests(t: Query, rows: readonly ManifestRow[]): Promise<void> {
  for (const m of rows)
    await t(
      `INSERT INTO manifests (workspace_id, project_id, environment, seq, body, signature, signer)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (workspace_id, project_id, environment) DO UPDATE SET seq = excluded.seq,
         body = excluded.body, signature = excluded.signature, signer = excluded.signer`,
      [m.workspace_id, m.project_id, m.environment, m.seq, m.body, m.signature, m.signer],
    );
}

export async function upsertRecords(t: Query, records: readonly RecordRow[]): Promise<void> {
  if (records.length === 0) return;
  const column = <K extends keyof RecordRow>(key: K) => records.map((r) => r[key]);
  await t(
    `INSERT INTO records (workspace_id, project_id, environment, key, version, epoch, nonce,
                          ciphertext, digest, updated_at, updated_by)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[],
                          $7::text[], $8::text[], $9::text[], $10::timestamptz[], $11::text[])
     ON CONFLICT (workspace_id, project_id, environment, key) DO UPDATE SET
       version = excluded.version, epoch = excluded.epoch, nonce = excluded.nonce,
       ciphertext = excluded.ciphertext, digest = excluded.digest,
       updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
    [
      column('workspace_id'),
      column('project_id'),
      column('environment'),
      column('key'),
      column('version'),
      column('epoch'),
      column('nonce'),
      column('ciphertext'),
      column('digest'),
      column('updated_at'),
      column('updated_by'),
    ],
  );
}
