import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { expect } from 'vitest';
import { loadConfig } from '../../src/core/config.js';
import { createServices } from '../../src/services/index.js';
import { openAccount } from '../../src/sync/account.js';
import { type CliResult, runCli, runCliInPty } from '../helpers/cli.js';
import { freshDatabase } from '../helpers/postgres.js';
import { type Daemon, startDaemon } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * A sync server (the built binary) on one store, users with their own state folders, and an
 * operator who edits the store between steps: the file store offline (stop, edit, start),
 * PostgreSQL live. Shared by the team-sync e2e files.
 */

export type StoreKind = 'file' | 'postgres';

export interface User {
  email: string;
  home: string;
  cwd: string;
  env: Record<string, string>;
  cli(args: string[], input?: string): Promise<CliResult>;
  pty(args: string[], input?: string): Promise<CliResult>;
}

type Row = Record<string, unknown>;
type Table = 'users' | 'workspaces' | 'members' | 'grants' | 'docs' | 'manifests';

/** The records and push manifest of one project environment, as an operator's backup holds them. */
export interface ScopeBackup {
  records: Row[];
  manifest: Row | undefined;
}

/** What an operator can do to the store's rows (column names are the same in both stores). */
export interface StoreEdit {
  rows(table: Table, where: Row): Promise<Row[]>;
  update(table: Table, where: Row, patch: Row): Promise<void>;
  insert(table: Table, row: Row): Promise<void>;
  remove(table: Table, where: Row): Promise<void>;
  /** The server-keys row. */
  serverKeys(): Promise<Row>;
  /** Sets a record's fields (by key, in a workspace): `ciphertext`, `epoch`, … */
  updateRecord(workspaceId: string, key: string, patch: Row): Promise<void>;
  /** A backup of one project environment's records and manifest. */
  backup(workspaceId: string, projectId: string, environment: string): Promise<ScopeBackup>;
  /** Puts a backup back: its records (all of the scope's replaced) and/or its manifest. */
  restore(
    workspaceId: string,
    projectId: string,
    environment: string,
    backup: ScopeBackup,
    parts?: { records?: boolean; manifest?: boolean },
  ): Promise<void>;
}

export interface TeamHarness {
  kind: StoreKind;
  url(): string;
  outputs: string[];
  user(email: string, password: string, extraEnv?: Record<string, string>): Promise<User>;
  /** The server's state folder (its data folder is `server/` inside). */
  serverHome: string;
  /** What the running server logged so far. */
  serverOutput(): string;
  /** Runs `fn` against the store as its operator would. */
  operate<T>(fn: (store: StoreEdit) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const RECORD_FIELDS = [
  'key',
  'version',
  'epoch',
  'nonce',
  'ciphertext',
  'digest',
  'updated_at',
  'updated_by',
];

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function matches(row: Row, where: Row): boolean {
  return Object.entries(where).every(([k, v]) => row[k] === v);
}

export function ok(r: CliResult): CliResult {
  expect(r.code, r.stderr + r.stdout).toBe(0);
  return r;
}

export function json<T>(r: CliResult): T {
  expect(r.code, r.stderr + r.stdout).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** Opens a user's vault and account in this process (as the CLI does). */
export async function openHome(user: User) {
  const config = loadConfig({ ...user.env, AGENTSECRETS_HOME: user.home }, user.cwd);
  const services = createServices(config, {
    passphrase: {
      forUnlock: async () => user.env.AGENTSECRETS_PASSPHRASE!,
      forCreate: async () => user.env.AGENTSECRETS_PASSPHRASE!,
    },
  });
  const vault = await services.vault.unlock();
  return {
    services,
    vault,
    account: () => openAccount(services, vault),
  };
}

/** Starts a server on `kind` with a fresh store. */
export async function startTeamHarness(kind: StoreKind): Promise<TeamHarness> {
  const serverHome = await tempDir();
  const port = await freePort();
  const db = kind === 'postgres' ? await freshDatabase() : undefined;
  const outputs: string[] = [];
  let server: Daemon<string>;

  async function start(): Promise<void> {
    const args = ['server', 'start', '--port', String(port), '--store', kind, '--signup', 'invite'];
    if (db !== undefined) args.push('--database-url', db.url);
    server = await startDaemon(
      args,
      { home: serverHome },
      (out) => /sync server on (http:\/\/\S+)/.exec(out)?.[1],
    );
  }
  async function stop(): Promise<void> {
    outputs.push(server.output());
    await server.stop();
  }
  await start();

  async function operatePostgres<T>(fn: (store: StoreEdit) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: db!.url });
    await client.connect();
    const clause = (where: Row, from: number) =>
      Object.keys(where)
        .map((k, i) => `${k} = $${from + i}`)
        .join(' AND ');
    try {
      return await fn({
        async rows(table, where) {
          const w = Object.keys(where).length === 0 ? 'true' : clause(where, 1);
          return (await client.query(`SELECT * FROM ${table} WHERE ${w}`, Object.values(where)))
            .rows as Row[];
        },
        async update(table, where, patch) {
          const set = Object.keys(patch)
            .map((k, i) => `${k} = $${i + 1}`)
            .join(', ');
          await client.query(
            `UPDATE ${table} SET ${set} WHERE ${clause(where, Object.keys(patch).length + 1)}`,
            [...Object.values(patch), ...Object.values(where)],
          );
        },
        async insert(table, row) {
          const cols = Object.keys(row);
          await client.query(
            `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
            Object.values(row),
          );
        },
        async remove(table, where) {
          await client.query(
            `DELETE FROM ${table} WHERE ${clause(where, 1)}`,
            Object.values(where),
          );
        },
        async serverKeys() {
          return (await client.query('SELECT * FROM server_keys')).rows[0] as Row;
        },
        async updateRecord(workspaceId, key, patch) {
          const set = Object.keys(patch)
            .map((k, i) => `${k} = $${i + 1}`)
            .join(', ');
          const n = Object.keys(patch).length;
          await client.query(
            `UPDATE records SET ${set} WHERE workspace_id = $${n + 1} AND key = $${n + 2}`,
            [...Object.values(patch), workspaceId, key],
          );
        },
        async backup(workspaceId, projectId, environment) {
          const where = [workspaceId, projectId, environment];
          const scope = 'workspace_id = $1 AND project_id = $2 AND environment = $3';
          return {
            records: (await client.query(`SELECT * FROM records WHERE ${scope}`, where))
              .rows as Row[],
            manifest: (await client.query(`SELECT * FROM manifests WHERE ${scope}`, where))
              .rows[0] as Row | undefined,
          };
        },
        async restore(workspaceId, projectId, environment, backup, parts = {}) {
          const where = [workspaceId, projectId, environment];
          const scope = 'workspace_id = $1 AND project_id = $2 AND environment = $3';
          const put = async (table: string, rows: Row[]) => {
            await client.query(`DELETE FROM ${table} WHERE ${scope}`, where);
            for (const row of rows) {
              const cols = Object.keys(row);
              await client.query(
                `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
                Object.values(row),
              );
            }
          };
          if (parts.records !== false) await put('records', backup.records);
          if (parts.manifest !== false)
            await put('manifests', backup.manifest === undefined ? [] : [backup.manifest]);
        },
      });
    } finally {
      await client.end();
    }
  }

  async function operateFile<T>(fn: (store: StoreEdit) => Promise<T>): Promise<T> {
    await stop();
    const path = join(serverHome, 'server', 'store.json');
    const store = JSON.parse(await readFile(path, 'utf8')) as Record<string, Row[]>;
    const table = (name: Table) => store[name]!;
    try {
      return await fn({
        rows: async (name, where) => structuredClone(table(name).filter((r) => matches(r, where))),
        async update(name, where, patch) {
          for (const r of table(name)) if (matches(r, where)) Object.assign(r, patch);
        },
        async insert(name, row) {
          table(name).push(row);
        },
        async remove(name, where) {
          store[name] = table(name).filter((r) => !matches(r, where));
        },
        serverKeys: async () => structuredClone(store.serverKeys![0]!),
        async updateRecord(workspaceId, key, patch) {
          const scopes = store.records as unknown as {
            workspace_id: string;
            records: unknown[][];
          }[];
          for (const scope of scopes.filter((s) => s.workspace_id === workspaceId))
            for (const tuple of scope.records.filter((t) => t[0] === key))
              for (const [field, value] of Object.entries(patch))
                tuple[RECORD_FIELDS.indexOf(field)] = value;
        },
        async backup(workspaceId, projectId, environment) {
          const same = (r: Row) =>
            r.workspace_id === workspaceId &&
            r.project_id === projectId &&
            r.environment === environment;
          const scope = (store.records as Row[]).find(same);
          return structuredClone({
            records: scope === undefined ? [] : [scope],
            manifest: (store.manifests ?? []).find(same),
          });
        },
        async restore(workspaceId, projectId, environment, backup, parts = {}) {
          const other = (r: Row) =>
            !(
              r.workspace_id === workspaceId &&
              r.project_id === projectId &&
              r.environment === environment
            );
          if (parts.records !== false)
            store.records = [...(store.records as Row[]).filter(other), ...backup.records];
          if (parts.manifest !== false)
            store.manifests = [
              ...(store.manifests ?? []).filter(other),
              ...(backup.manifest === undefined ? [] : [backup.manifest]),
            ];
        },
      });
    } finally {
      await writeFile(path, JSON.stringify(store));
      await start();
    }
  }

  return {
    kind,
    url: () => `http://127.0.0.1:${port}`,
    outputs,
    async user(email, password, extraEnv = {}) {
      const home = join(await tempDir(), 'state');
      const cwd = await tempDir();
      const env = {
        AGENTSECRETS_PASSPHRASE: `vault-${password}`,
        AGENTSECRETS_PASSWORD: password,
        AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
        ...extraEnv,
      };
      const record = (r: CliResult) => {
        outputs.push(r.stdout, r.stderr);
        return r;
      };
      return {
        email,
        home,
        cwd,
        env,
        cli: async (args, input) => record(await runCli(args, { home, cwd, env, input })),
        pty: async (args, input) =>
          record(await runCliInPty(args, { home, cwd, env, ...(input ? { input } : {}) })),
      };
    },
    serverHome,
    serverOutput: () => server.output(),
    operate: (fn) => (kind === 'postgres' ? operatePostgres(fn) : operateFile(fn)),
    async close() {
      await server.stop();
      await db?.drop();
    },
  };
}
