import type {
  ManifestRow,
  DocRow,
  GrantRow,
  HeartbeatRow,
  InviteRow,
  MemberRow,
  ProjectRow,
  RecordRow,
  ServerStore,
  UserRow,
  WorkspaceRow,
} from './store.js';
import { migrate } from './store-postgres-schema.js';
import { postgresCounters } from './store-postgres-counters.js';
import {
  type Query,
  checkSchemaName,
  createPool,
  queryOn,
  transaction,
  first,
} from './store-postgres-db.js';
import {
  serverKeys,
  createUser,
  usersById,
  consumeRefresh,
  createWorkspace,
  workspacesOf,
  inviteEmail,
  confirmMember,
  acceptInvite,
  setRole,
  writeDoc,
  rotate,
  putProject,
  push,
} from './store-postgres-rules.js';

/*
 * The server store on PostgreSQL, for several server processes sharing one database. Every
 * change of more than one row is one transaction. Changes to a workspace lock its row first
 * (one lock order, so no deadlock), which serialises pushes, rotations and role changes of
 * that workspace across processes. Timestamps are timestamptz, read back as ISO strings.
 */
export interface PostgresStoreOptions {
  /** A PostgreSQL connection URL. */
  url: string;
  /** Connections per server process; default 10. */
  poolSize?: number;
  /** Keeps every table in this schema (created if missing) instead of the default one. */
  schema?: string;
}

/** Creates the server store on PostgreSQL, for one or several server processes. */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<ServerStore> {
  const schema = options.schema === undefined ? undefined : checkSchemaName(options.schema);
  const pool = createPool(options.url, options.poolSize ?? 10, schema);
  const q = queryOn(pool);
  const tx = <T>(work: (t: Query) => Promise<T>): Promise<T> => transaction(pool, work);
  let closed = false;

  return {
    kind: 'postgres',
    counters: postgresCounters(q),
    init: () => migrate(tx, schema),
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },

    serverKeys: (create) => serverKeys(q, create),

    createUser: (user, opts) => tx((t) => createUser(t, user, opts.requireInvite)),
    userByEmail: async (email) =>
      first(await q<UserRow>('SELECT * FROM users WHERE lower(email) = lower($1)', [email])),
    usersById: (ids) => usersById(q, ids),

    async insertRefresh(row) {
      await q(
        `INSERT INTO refresh_tokens (hash, user_id, family, created_at, expires_at, used_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [
          row.hash,
          row.user_id,
          row.family,
          row.created_at,
          row.expires_at,
          row.used_at,
          row.revoked_at,
        ],
      );
    },
    consumeRefresh: (hash, now) => consumeRefresh(q, hash, now),
    async revokeFamily(family, at) {
      await q(
        'UPDATE refresh_tokens SET revoked_at = $2 WHERE family = $1 AND revoked_at IS NULL',
        [family, at],
      );
    },

    createWorkspace: (workspace, admin, grants, doc) =>
      tx((t) => createWorkspace(t, workspace, admin, grants, doc)),
    workspace: async (id) =>
      first(await q<WorkspaceRow>('SELECT * FROM workspaces WHERE id = $1', [id])),
    workspacesOf: (userId) => workspacesOf(q, userId),
    members: async (workspaceId) =>
      (
        await q<MemberRow>(
          'SELECT * FROM members WHERE workspace_id = $1 ORDER BY added_at, user_id COLLATE "C"',
          [workspaceId],
        )
      ).map(memberRow),
    member: async (workspaceId, userId) => {
      const row = first(
        await q<MemberRow>('SELECT * FROM members WHERE workspace_id = $1 AND user_id = $2', [
          workspaceId,
          userId,
        ]),
      );
      return row === undefined ? undefined : memberRow(row);
    },

    invite: (invite) => tx((t) => inviteEmail(t, invite)),
    acceptInvite: (workspaceId, userId, secretHash) =>
      tx((t) => acceptInvite(t, workspaceId, userId, secretHash)),
    invites: async (workspaceId) =>
      (
        await q<InviteRow>(
          'SELECT * FROM invites WHERE workspace_id = $1 ORDER BY created_at, email COLLATE "C"',
          [workspaceId],
        )
      ).map(({ secret_hash, ...rest }) =>
        secret_hash === null || secret_hash === undefined ? rest : { ...rest, secret_hash },
      ),

    confirmMember: (workspaceId, userId, confirmedBy, grants) =>
      tx((t) => confirmMember(t, { workspaceId, userId, confirmedBy, grants })),
    setRole: (workspaceId, userId, role, grants, doc, expectedSeq) =>
      tx((t) => setRole(t, { workspaceId, userId, role, grants, doc, expectedSeq })),
    grants: (workspaceId, userId) =>
      q<GrantRow>(
        `SELECT * FROM grants WHERE workspace_id = $1 AND user_id = $2
         ORDER BY epoch, kind COLLATE "C"`,
        [workspaceId, userId],
      ),

    doc: async (workspaceId) =>
      first(await q<DocRow>('SELECT * FROM docs WHERE workspace_id = $1', [workspaceId])),
    putDoc: async (doc, expectedSeq) => (await writeDoc(q, doc, expectedSeq)).length === 1,
    docChain: (workspaceId, afterSeq, limit) =>
      q<DocRow>(
        `SELECT * FROM doc_log WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
        [workspaceId, afterSeq, limit],
      ),
    putHeartbeat: async (row) => {
      await q(
        `INSERT INTO heartbeats (workspace_id, signer, body, signature) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace_id, signer) DO UPDATE SET body = excluded.body,
           signature = excluded.signature`,
        [row.workspace_id, row.signer, row.body, row.signature],
      );
    },
    heartbeats: (workspaceId) =>
      q<HeartbeatRow>(
        'SELECT * FROM heartbeats WHERE workspace_id = $1 ORDER BY signer COLLATE "C"',
        [workspaceId],
      ),

    rotate: (input) => tx((t) => rotate(t, input)),

    putProject: (project) => putProject(q, project),
    projects: (workspaceId) =>
      q<ProjectRow>(
        'SELECT * FROM projects WHERE workspace_id = $1 ORDER BY name COLLATE "C", id COLLATE "C"',
        [workspaceId],
      ),

    records: (workspaceId, projectId, environment) =>
      q<RecordRow>(
        `SELECT * FROM records WHERE workspace_id = $1 AND project_id = $2 AND environment = $3
         ORDER BY key COLLATE "C"`,
        [workspaceId, projectId, environment],
      ),
    allRecords: (workspaceId) =>
      q<RecordRow>(
        `SELECT * FROM records WHERE workspace_id = $1
         ORDER BY project_id COLLATE "C", environment COLLATE "C", key COLLATE "C"`,
        [workspaceId],
      ),
    push: (workspaceId, projectId, environment, changes, opts) =>
      tx((t) => push(t, { workspaceId, projectId, environment, changes, ...opts })),
    manifests: (workspaceId) =>
      q<ManifestRow>(
        `SELECT workspace_id, project_id, environment, seq, body, signature, signer
         FROM manifests WHERE workspace_id = $1
         ORDER BY project_id COLLATE "C", environment COLLATE "C"`,
        [workspaceId],
      ),
    manifest: async (workspaceId, projectId, environment) =>
      first(
        await q<ManifestRow>(
          `SELECT workspace_id, project_id, environment, seq, body, signature, signer
           FROM manifests WHERE workspace_id = $1 AND project_id = $2 AND environment = $3`,
          [workspaceId, projectId, environment],
        ),
      ),
  };
}

/** A member row as both stores give it: `invite_hash` only while an invitation waits for it. */
function memberRow(row: MemberRow): MemberRow {
  const { invite_hash, ...rest } = row;
  return invite_hash === null || invite_hash === undefined ? rest : { ...rest, invite_hash };
}
