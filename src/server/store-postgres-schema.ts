import { type Query } from './store-postgres-db.js';

/** The PostgreSQL store's schema: its migrations, applied once across processes. */
/** Serialises migrations across processes ('agentsec' in ASCII). */
export const MIGRATION_LOCK = '7018690069354734947';
/** Serialises sign-ups and invites, which decide between an invite and a membership ('agentsig'). */
export const SIGNUP_LOCK = '7018690069354735975';

/** The schema, one migration per entry, applied in order; never edit an applied one. */
export const MIGRATIONS: readonly string[] = [
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
  // Issue 12, F10: the newest signed push manifest of each project environment.
  `
  CREATE TABLE manifests (
    workspace_id text NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    project_id text NOT NULL,
    environment text NOT NULL,
    seq integer NOT NULL,
    body text NOT NULL,
    signature text NOT NULL,
    signer text NOT NULL,
    PRIMARY KEY (workspace_id, project_id, environment)
  );
  `,
  // Issue 12, F11: rate-limit counters shared by every server process (keys are hashes).
  `
  CREATE TABLE rate_windows (
    bucket text NOT NULL,
    key text NOT NULL,
    start_ms bigint NOT NULL,
    count integer NOT NULL,
    PRIMARY KEY (bucket, key)
  );
  CREATE TABLE rate_backoff (
    key text PRIMARY KEY,
    failures integer NOT NULL,
    until_ms bigint NOT NULL
  );
  `,
  // Issue 12, point 4: the hash of an invite code's one-time secret, burnt when accepted.
  `
  ALTER TABLE invites ADD COLUMN secret_hash text;
  ALTER TABLE members ADD COLUMN invite_hash text;
  `,
];

export async function migrate(
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
