import pg from 'pg';
import { AgentSecretsError } from '../core/errors.js';
import {
  judgePush,
  type RecordIdentity,
  recordFromChange,
  refreshVerdict,
  sameRecordSet,
} from './store-rules.js';
import type {
  DocRow,
  GrantRow,
  HeartbeatRow,
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
  ServerStore,
  SignupOutcome,
  UserRow,
  WorkspaceRow,
} from './store.js';

/*
 * The server store on PostgreSQL, for several server processes sharing one database. Every
 * change of more than one row is one transaction. Changes to a workspace lock its row first
 * (one lock order, so no deadlock), which serialises pushes, rotations and role changes of
 * that workspace across processes. Timestamps are timestamptz, read back as ISO strings.
 */

/** Serialises migrations across processes ('agentsec' in ASCII). */
const MIGRATION_LOCK = '7018690069354734947';
/** Serialises sign-ups and invites, which decide between an invite and a membership ('agentsig'). */
const SIGNUP_LOCK = '7018690069354735975';

/** The schema, one migration per entry, applied in order; never edit an applied one. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (
    id text PRIMARY KEY,
    email text NOT NULL,
    auth_hash text NOT NULL,
    kdf jsonb NOT NULL,
    box_public text NOT NULL,
    sign_public text NOT NULL,
    wrapped_keys jsonb NOT NULL,
    created_at timestamptz NOT NULL
  );
  CREATE UNIQUE INDEX users_email_key ON users (lower(email));

  CREATE TABLE refresh_tokens (
    hash text PRIMARY KEY,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family text NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz
  );
  CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
  CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

  CREATE TABLE workspaces (
    id text PRIMARY KEY,
    name text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    epoch integer NOT NULL
  );

  CREATE TABLE members (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('admin', 'member')),
    status text NOT NULL CHECK (status IN ('pending', 'active')),
    added_at timestamptz NOT NULL,
    confirmed_by text,
    PRIMARY KEY (workspace_id, user_id)
  );
  CREATE INDEX members_user ON members (user_id);

  CREATE TABLE invites (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    email text NOT NULL,
    role text NOT NULL CHECK (role IN ('admin', 'member')),
    invited_by text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, email)
  );
  CREATE UNIQUE INDEX invites_workspace_email_key ON invites (workspace_id, lower(email));
  CREATE INDEX invites_email ON invites (lower(email));

  CREATE TABLE grants (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    epoch integer NOT NULL,
    kind text NOT NULL CHECK (kind IN ('workspace', 'token')),
    sealed text NOT NULL,
    granted_by text NOT NULL,
    signature text NOT NULL,
    PRIMARY KEY (workspace_id, user_id, epoch, kind)
  );

  CREATE TABLE docs (
    workspace_id text PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    body text NOT NULL,
    signature text NOT NULL,
    signer text NOT NULL,
    updated_at timestamptz NOT NULL
  );

  CREATE TABLE projects (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    id text NOT NULL,
    name text NOT NULL,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, id),
    UNIQUE (workspace_id, name)
  );

  CREATE TABLE records (
    workspace_id text NOT NULL,
    project_id text NOT NULL,
    environment text NOT NULL,
    key text NOT NULL,
    version integer NOT NULL,
    epoch integer NOT NULL,
    nonce text NOT NULL,
    ciphertext text NOT NULL,
    digest text NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by text NOT NULL,
    PRIMARY KEY (workspace_id, project_id, environment, key),
    FOREIGN KEY (workspace_id, project_id) REFERENCES projects (workspace_id, id) ON DELETE CASCADE
  );

  CREATE TABLE server_keys (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    jwt_private_pem text NOT NULL,
    jwt_public_jwk jsonb NOT NULL,
    salt_key text NOT NULL
  );
  `,
  // Issue 12 (F6): every document kept, as the chain clients walk; written by a trigger in
  // the same statement as the head, so no code path can skip it. Admins' heartbeats.
  `
  CREATE TABLE doc_log (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    seq integer NOT NULL,
    body text NOT NULL,
    signature text NOT NULL,
    signer text NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (workspace_id, seq)
  );
  INSERT INTO doc_log SELECT workspace_id, seq, body, signature, signer, updated_at FROM docs;
  CREATE FUNCTION agentsecrets_doc_log() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO doc_log (workspace_id, seq, body, signature, signer, updated_at)
    VALUES (NEW.workspace_id, NEW.seq, NEW.body, NEW.signature, NEW.signer, NEW.updated_at)
    ON CONFLICT (workspace_id, seq) DO UPDATE SET body = excluded.body,
      signature = excluded.signature, signer = excluded.signer, updated_at = excluded.updated_at;
    RETURN NEW;
  END $$;
  CREATE TRIGGER docs_to_log AFTER INSERT OR UPDATE ON docs
    FOR EACH ROW EXECUTE FUNCTION agentsecrets_doc_log();

  CREATE TABLE heartbeats (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    signer text NOT NULL,
    body text NOT NULL,
    signature text NOT NULL,
    PRIMARY KEY (workspace_id, signer)
  );
  `,
];

/** Runs one statement and returns its rows. */
type Query = <R>(sql: string, params?: readonly unknown[]) => Promise<R[]>;

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
    members: (workspaceId) =>
      q<MemberRow>(
        'SELECT * FROM members WHERE workspace_id = $1 ORDER BY added_at, user_id COLLATE "C"',
        [workspaceId],
      ),
    member: async (workspaceId, userId) =>
      first(
        await q<MemberRow>('SELECT * FROM members WHERE workspace_id = $1 AND user_id = $2', [
          workspaceId,
          userId,
        ]),
      ),

    invite: (invite) => tx((t) => inviteEmail(t, invite)),
    invites: (workspaceId) =>
      q<InviteRow>(
        'SELECT * FROM invites WHERE workspace_id = $1 ORDER BY created_at, email COLLATE "C"',
        [workspaceId],
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
  };
}

// --- connections ----------------------------------------------------------------------------

function checkSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new AgentSecretsError(
      'usage_error',
      'a PostgreSQL schema name for agentsecrets must be lower-case letters, digits and underscores',
    );
  }
  return schema;
}

function createPool(url: string, max: number, schema: string | undefined): pg.Pool {
  const timestamptz = pg.types.builtins.TIMESTAMPTZ;
  const parseTimestamp = pg.types.getTypeParser(timestamptz) as (text: string) => Date;
  const pool = new pg.Pool({
    connectionString: url,
    max,
    // A request waits this long for a connection, then fails instead of hanging.
    connectionTimeoutMillis: 10_000,
    // Rows carry timestamps as ISO strings, exactly as the row types say.
    types: {
      getTypeParser: (id, format) =>
        id === timestamptz
          ? (text: string) => parseTimestamp(text).toISOString()
          : pg.types.getTypeParser(id, format),
    },
    ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }),
  });
  // An idle connection that drops (a database restart) must not crash the server; the next
  // query opens a new one, and fails loudly if the database is still gone.
  pool.on('error', () => undefined);
  return pool;
}

function queryOn(client: pg.Pool | pg.PoolClient): Query {
  return async <R>(sql: string, params: readonly unknown[] = []): Promise<R[]> => {
    try {
      const result = await client.query(sql, params as unknown[]);
      return result.rows as R[];
    } catch (err) {
      throw databaseError(err);
    }
  };
}

/** Runs `work` in one transaction: committed if it returns, rolled back if it throws. */
async function transaction<T>(pool: pg.Pool, work: (t: Query) => Promise<T>): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw databaseError(err);
  }
  const t = queryOn(client);
  try {
    await t('BEGIN');
    const result = await work(t);
    await t('COMMIT');
    client.release();
    return result;
  } catch (err) {
    const broken = await client.query('ROLLBACK').then(
      () => false,
      () => true,
    );
    client.release(broken);
    throw err;
  }
}

/** A database failure, without the driver's message: it may quote row contents. */
function databaseError(err: unknown): AgentSecretsError {
  if (err instanceof AgentSecretsError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const reason = typeof code === 'string' ? ` (${code})` : '';
  return new AgentSecretsError(
    'internal_error',
    `the PostgreSQL store failed${reason}; check that the database is reachable and see its log`,
    { cause: err },
  );
}

function first<R>(rows: R[]): R | undefined {
  return rows[0];
}

async function migrate(
  tx: <T>(work: (t: Query) => Promise<T>) => Promise<T>,
  schema: string | undefined,
): Promise<void> {
  await tx(async (t) => {
    await t('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    if (schema !== undefined) await t(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await t(`CREATE TABLE IF NOT EXISTS agentsecrets_migrations (
      version integer PRIMARY KEY,
      applied_at timestamptz NOT NULL
    )`);
  });
  for (const [index, sql] of MIGRATIONS.entries()) {
    await tx(async (t) => {
      await t('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const version = index + 1;
      const applied = await t('SELECT 1 FROM agentsecrets_migrations WHERE version = $1', [
        version,
      ]);
      if (applied.length > 0) return;
      await t(sql);
      await t('INSERT INTO agentsecrets_migrations (version, applied_at) VALUES ($1, now())', [
        version,
      ]);
    });
  }
}

// --- accounts and sessions --------------------------------------------------------------

const SELECT_SERVER_KEYS = 'SELECT jwt_private_pem, jwt_public_jwk, salt_key FROM server_keys';

async function serverKeys(q: Query, create: () => Promise<ServerKeys>): Promise<ServerKeys> {
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

async function createUser(t: Query, user: UserRow, requireInvite: boolean): Promise<SignupOutcome> {
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
    `INSERT INTO members (workspace_id, user_id, role, status, added_at, confirmed_by)
     SELECT workspace_id, $1, role, 'pending', $2, NULL FROM invites WHERE lower(email) = lower($3)
     ON CONFLICT DO NOTHING`,
    [user.id, user.created_at, user.email],
  );
  await t('DELETE FROM invites WHERE lower(email) = lower($1)', [user.email]);
  return 'created';
}

async function usersById(q: Query, ids: readonly string[]): Promise<UserRow[]> {
  const unique = [...new Set(ids)];
  const rows = await q<UserRow>('SELECT * FROM users WHERE id = ANY($1)', [unique]);
  const byId = new Map(rows.map((row) => [row.id, row]));
  return unique.flatMap((id) => byId.get(id) ?? []);
}

async function consumeRefresh(q: Query, hash: string, now: Date): Promise<RefreshOutcome> {
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
async function lockWorkspace(t: Query, workspaceId: string): Promise<number | undefined> {
  const [row] = await t<{ epoch: number }>(
    'SELECT epoch FROM workspaces WHERE id = $1 FOR UPDATE',
    [workspaceId],
  );
  return row?.epoch;
}

async function requireWorkspace(q: Query, workspaceId: string): Promise<void> {
  const rows = await q('SELECT 1 FROM workspaces WHERE id = $1', [workspaceId]);
  if (rows.length === 0) {
    throw new AgentSecretsError('workspace_not_found', 'no workspace with this id');
  }
}

async function createWorkspace(
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

async function workspacesOf(
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

async function inviteEmail(
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
      `INSERT INTO invites (workspace_id, email, role, invited_by, created_at)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (workspace_id, lower(email)) DO UPDATE SET email = excluded.email,
         role = excluded.role, invited_by = excluded.invited_by, created_at = excluded.created_at`,
      [invite.workspace_id, invite.email, invite.role, invite.invited_by, invite.created_at],
    );
    return 'invited';
  }
  const added = await t(
    `INSERT INTO members (workspace_id, user_id, role, status, added_at, confirmed_by)
     VALUES ($1, $2, $3, 'pending', $4, NULL)
     ON CONFLICT DO NOTHING RETURNING user_id`,
    [invite.workspace_id, user.id, invite.role, invite.created_at],
  );
  return added.length === 1 ? 'pending' : 'already_member';
}

async function confirmMember(
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

interface SetRoleInput {
  workspaceId: string;
  userId: string;
  role: Role;
  grants: GrantRow[];
  doc: DocRow;
  expectedSeq: number;
}

async function setRole(t: Query, input: SetRoleInput): Promise<'ok' | 'conflict'> {
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
function writeDoc(q: Query, doc: DocRow, expectedSeq: number): Promise<unknown[]> {
  return q(
    `UPDATE docs SET seq = $2, body = $3, signature = $4, signer = $5, updated_at = $6
     WHERE workspace_id = $1 AND seq = $7 RETURNING workspace_id`,
    [doc.workspace_id, doc.seq, doc.body, doc.signature, doc.signer, doc.updated_at, expectedSeq],
  );
}

async function upsertGrants(t: Query, grants: readonly GrantRow[]): Promise<void> {
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

async function rotate(t: Query, input: RotateInput): Promise<'ok' | 'conflict'> {
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
  await t('UPDATE workspaces SET epoch = $2 WHERE id = $1', [workspaceId, input.epoch]);
  await writeDoc(t, input.doc, input.expected_seq);
  return 'ok';
}

// --- projects and records -----------------------------------------------------------------

async function putProject(
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

interface PushInput {
  workspaceId: string;
  projectId: string;
  environment: string;
  changes: PushChangeRow[];
  force: boolean;
  userId: string;
  now: Date;
}

async function push(t: Query, input: PushInput): Promise<PushOutcome> {
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
    [input.workspaceId, input.projectId, input.environment, input.changes.map((c) => c.key)],
  );
  const versions = new Map(current.map((r) => [r.key, r.version]));
  const refusal = judgePush(epoch, versions, input.changes, input.force);
  if (refusal !== undefined) return refusal;
  const records = input.changes.map((change) => recordFromChange(change, input));
  await upsertRecords(t, records);
  return { status: 'ok', records };
}

async function upsertRecords(t: Query, records: readonly RecordRow[]): Promise<void> {
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
