import { open, readFile, rm } from 'node:fs/promises';
import { AgentSecretsError } from '../core/errors.js';
import { FILE_MODE, isErrno, isProcessAlive } from '../store/fs.js';
import { withFileLock } from '../store/lock.js';
import type { RecordRow } from './store.js';
import {
  FORMAT,
  PROCESS_STARTED,
  type TableName,
  type Tables,
  PLACE,
  emptyTables,
  allRows,
  Draft,
} from './store-file-tables.js';

/** The file store on disk (`store.json`) and the lock that keeps it to one server process. */
// --- rules shared with the PostgreSQL store -----------------------------------------------

// --- the document on disk ----------------------------------------------------------------

/** A record on disk, without the scope it is stored under. */
type SavedRecord = [
  key: string,
  version: number,
  epoch: number,
  nonce: string,
  ciphertext: string,
  digest: string,
  updated_at: string,
  updated_by: string,
];

interface SavedScope {
  workspace_id: string;
  project_id: string;
  environment: string;
  records: SavedRecord[];
}

/** Tables saved as arrays of rows, in this order; records are saved by scope as tuples. */
const SAVED_TABLES = [
  'serverKeys',
  'users',
  'refresh',
  'workspaces',
  'members',
  'invites',
  'grants',
  'docs',
  'projects',
  'docLog',
  'heartbeats',
  'manifests',
] as const satisfies readonly TableName[];
/** Tables added after the first release: absent from an older store.json. */
const LATER_TABLES: readonly TableName[] = ['docLog', 'heartbeats', 'manifests'];

export function serialize(t: Tables): string {
  const saved: Record<string, unknown> = { format: FORMAT };
  for (const name of SAVED_TABLES) saved[name] = allRows(t, name);
  saved.records = [...t.records.values()].flatMap((scope) => {
    const rows = [...scope.values()];
    return rows.length === 0 ? [] : [saveScope(rows)];
  });
  return JSON.stringify(saved);
}

function saveScope(rows: RecordRow[]): SavedScope {
  const { workspace_id, project_id, environment } = rows[0]!;
  return {
    workspace_id,
    project_id,
    environment,
    records: rows.map((r) => [
      r.key,
      r.version,
      r.epoch,
      r.nonce,
      r.ciphertext,
      r.digest,
      r.updated_at,
      r.updated_by,
    ]),
  };
}

export async function load(path: string): Promise<Tables> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return emptyTables();
    throw err;
  }
  try {
    return parse(JSON.parse(text));
  } catch (cause) {
    // The cause may quote rows, so it stays out of the message.
    throw new AgentSecretsError(
      'corrupt_state',
      `${path} is damaged and cannot be read; restore it from a backup or move it aside`,
      { cause },
    );
  }
}

export function parse(raw: unknown): Tables {
  const saved = raw as Record<string, unknown> | null;
  if (typeof saved !== 'object' || saved === null || saved.format !== FORMAT) {
    throw new Error('not a store document of a known format');
  }
  const tables = emptyTables();
  const draft = new Draft(tables);
  for (const name of SAVED_TABLES) {
    const rows = saved[name] === undefined && LATER_TABLES.includes(name) ? [] : saved[name];
    for (const row of arrayOf(rows, name)) {
      if (!PLACE[name](row as never).every((part) => typeof part === 'string')) {
        throw new Error(`a row of ${name} lacks its key fields`);
      }
      draft.put(name, row as never);
    }
  }
  for (const user of allRows(draft.tables, 'users')) draft.put('emails', user);
  for (const scope of arrayOf(saved.records, 'records')) {
    for (const record of loadScope(scope)) draft.put('records', record);
  }
  return draft.tables;
}

function arrayOf(value: unknown, name: string): object[] {
  if (!Array.isArray(value) || !value.every((row) => typeof row === 'object' && row !== null)) {
    throw new Error(`${name} is not an array of rows`);
  }
  return value as object[];
}

const RECORD_TYPES = [
  'string',
  'number',
  'number',
  'string',
  'string',
  'string',
  'string',
  'string',
];

export function loadScope(raw: object): RecordRow[] {
  const scope = raw as Partial<SavedScope>;
  const { workspace_id, project_id, environment, records } = scope;
  if (
    typeof workspace_id !== 'string' ||
    typeof project_id !== 'string' ||
    typeof environment !== 'string' ||
    !Array.isArray(records)
  ) {
    throw new Error('a record scope is malformed');
  }
  return records.map((tuple: unknown) => {
    const fields = tuple as unknown[];
    if (
      !Array.isArray(fields) ||
      fields.length !== RECORD_TYPES.length ||
      fields.some((field, i) => typeof field !== RECORD_TYPES[i])
    ) {
      throw new Error('a record is malformed');
    }
    const [key, version, epoch, nonce, ciphertext, digest, updated_at, updated_by] =
      fields as SavedRecord;
    return {
      workspace_id,
      project_id,
      environment,
      key,
      version,
      epoch,
      nonce,
      ciphertext,
      digest,
      updated_at,
      updated_by,
    };
  });
}

// --- the single-process lock ----------------------------------------------------------------

interface LockHolder {
  pid: number;
  started: number;
}

/**
 * Claims `dir` for this process. Claims and take-overs run under a short cross-process lock,
 * so a half-written lock file can only be one whose writer died.
 */
export async function acquireServerLock(dir: string, lockPath: string): Promise<void> {
  await withFileLock(`${lockPath}.acquire`, async () => {
    const holder = await readHolder(lockPath);
    if (holder !== undefined && holderAlive(holder)) {
      throw new AgentSecretsError(
        'store_busy',
        `the file store in ${dir} is in use by server process ${holder.pid}: the file store serves one process only. Stop that server, or run several servers with --store postgres`,
      );
    }
    await rm(lockPath, { force: true });
    const fh = await open(lockPath, 'wx', FILE_MODE);
    try {
      await fh.writeFile(JSON.stringify({ pid: process.pid, started: PROCESS_STARTED }));
      await fh.sync();
    } finally {
      await fh.close();
    }
  });
}

async function readHolder(lockPath: string): Promise<LockHolder | undefined> {
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  try {
    const { pid, started } = JSON.parse(text) as Partial<LockHolder>;
    if (typeof pid === 'number' && typeof started === 'number') return { pid, started };
  } catch {
    // unreadable: its writer died mid-write
  }
  return { pid: 0, started: 0 };
}

function holderAlive(holder: LockHolder): boolean {
  if (holder.pid === process.pid) return holder.started === PROCESS_STARTED;
  return holder.pid > 0 && isProcessAlive(holder.pid);
}

export async function releaseServerLock(lockPath: string): Promise<void> {
  const holder = await readHolder(lockPath);
  if (holder?.pid === process.pid && holder.started === PROCESS_STARTED) {
    await rm(lockPath, { force: true });
  }
}
