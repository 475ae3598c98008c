import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentSecretsError } from '../core/errors.js';
import {
  FILE_MODE,
  ensurePrivateDir,
  isErrno,
  isProcessAlive,
  removeOrphanedTempFiles,
  writeFileAtomic,
} from '../store/fs.js';
import { withFileLock } from '../store/lock.js';
import { judgePush, recordFromChange, refreshVerdict, sameRecordSet } from './store-rules.js';
import type {
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
  RotateInput,
  HeartbeatRow,
  ServerKeys,
  ServerStore,
  SignupOutcome,
  UserRow,
  WorkspaceRow,
} from './store.js';

/*
 * The embedded server store: one JSON document, `store.json`, owned by one server process.
 * The whole state lives in memory. A change is applied to a copy-on-write draft, the draft is
 * written atomically, and only then does it become the state: a failed write leaves the old
 * state on disk and in memory. Changes run one at a time through a promise queue.
 */

const STORE_FILE = 'store.json';
const LOCK_FILE = 'server.lock';
const FORMAT = 1;
/** Tells this process apart from an earlier one that had the same pid (a restarted container). */
const PROCESS_STARTED = Math.round(performance.timeOrigin);

interface Rows {
  serverKeys: ServerKeys;
  users: UserRow;
  /** An index of `users` by lower-cased email; rebuilt at load, never saved. */
  emails: UserRow;
  refresh: RefreshRow;
  workspaces: WorkspaceRow;
  members: MemberRow;
  invites: InviteRow;
  grants: GrantRow;
  docs: DocRow;
  /** Every document a workspace ever had, by seq: the chain clients walk (issue 12, F6). */
  docLog: DocRow;
  heartbeats: HeartbeatRow;
  projects: ProjectRow;
  records: RecordRow;
}
type TableName = keyof Rows;
/** Rows by partition (a workspace, a record scope, or '' for a global table), then by key. */
type Table<Row> = Map<string, Map<string, Row>>;
type Tables = { [N in TableName]: Table<Rows[N]> };

/** Where each row lives: its partition and its key within the partition. */
const PLACE: { [N in TableName]: (row: Rows[N]) => readonly [part: string, key: string] } = {
  serverKeys: () => ['', ''],
  users: (r) => ['', r.id],
  emails: (r) => ['', r.email.toLowerCase()],
  refresh: (r) => ['', r.hash],
  workspaces: (r) => ['', r.id],
  members: (r) => [r.workspace_id, r.user_id],
  invites: (r) => [r.workspace_id, r.email.toLowerCase()],
  grants: (r) => [r.workspace_id, grantKey(r.user_id, r.epoch, r.kind)],
  docs: (r) => ['', r.workspace_id],
  docLog: (r) => [r.workspace_id, String(r.seq).padStart(12, '0')],
  heartbeats: (r) => [r.workspace_id, r.signer],
  projects: (r) => [r.workspace_id, r.id],
  records: (r) => [scopeKey(r.workspace_id, r.project_id, r.environment), r.key],
};
const TABLE_NAMES = Object.keys(PLACE) as TableName[];

function grantKey(userId: string, epoch: number, kind: string): string {
  return JSON.stringify([userId, epoch, kind]);
}

function scopeKey(workspaceId: string, projectId: string, environment: string): string {
  return JSON.stringify([workspaceId, projectId, environment]);
}

function emptyTables(): Tables {
  return Object.fromEntries(TABLE_NAMES.map((name) => [name, new Map()])) as Tables;
}

function find<N extends TableName>(
  tables: Tables,
  name: N,
  part: string,
  key: string,
): Rows[N] | undefined {
  return tables[name].get(part)?.get(key);
}

function rowsOf<N extends TableName>(tables: Tables, name: N, part: string): Rows[N][] {
  return [...(tables[name].get(part)?.values() ?? [])];
}

function allRows<N extends TableName>(tables: Tables, name: N): Rows[N][] {
  return [...tables[name].values()].flatMap((rows) => [...rows.values()]);
}

/**
 * A copy-on-write view of the committed tables: a table, then a partition, is copied the
 * first time this draft changes it, so the committed state is never touched.
 */
class Draft {
  readonly tables: Tables;
  readonly #copied = new Set<string>();
  #changed = false;

  constructor(base: Tables) {
    this.tables = { ...base };
  }

  get changed(): boolean {
    return this.#changed;
  }

  put<N extends TableName>(name: N, row: Rows[N]): void {
    const [part, key] = PLACE[name](row);
    this.#partition(name, part).set(key, row);
    // The head document is also the newest link of the log, written in the same change.
    if (name === 'docs') this.put('docLog', { ...(row as DocRow) });
  }

  remove<N extends TableName>(name: N, row: Rows[N]): void {
    const [part, key] = PLACE[name](row);
    const rows = this.#partition(name, part);
    rows.delete(key);
    if (rows.size === 0) this.tables[name].delete(part);
  }

  #partition<N extends TableName>(name: N, part: string): Map<string, Rows[N]> {
    this.#changed = true;
    if (!this.#copied.has(name)) {
      (this.tables[name] as Table<Rows[N]>) = new Map(this.tables[name]);
      this.#copied.add(name);
    }
    const table: Table<Rows[N]> = this.tables[name];
    const id = `${name}\n${part}`;
    let rows = table.get(part);
    if (rows === undefined || !this.#copied.has(id)) {
      rows = new Map(rows);
      table.set(part, rows);
      this.#copied.add(id);
    }
    return rows;
  }
}

/** Creates the embedded, single-process server store kept in `dir/store.json`. */
export async function createFileStore(options: { dir: string }): Promise<ServerStore> {
  const { dir } = options;
  const path = join(dir, STORE_FILE);
  const lockPath = join(dir, LOCK_FILE);
  let committed: Tables | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  function state(): Tables {
    if (committed === undefined) {
      throw new AgentSecretsError(
        'internal_error',
        'the file store is not open; call init() first',
      );
    }
    return committed;
  }

  function serialized<R>(task: () => Promise<R>): Promise<R> {
    const run = queue.then(task);
    queue = run.catch(() => undefined);
    return run;
  }

  /** Applies `change` to a draft, writes the draft if it changed, then makes it the state. */
  function mutate<R>(change: (draft: Draft) => R | Promise<R>): Promise<R> {
    return serialized(async () => {
      const draft = new Draft(state());
      const result = await change(draft);
      if (draft.changed) {
        await writeFileAtomic(path, serialize(draft.tables));
        committed = draft.tables;
      }
      return result;
    });
  }

  const read = async <R>(query: (tables: Tables) => R): Promise<R> => query(state());

  return {
    kind: 'file',
    async init() {
      if (committed !== undefined) return;
      await ensurePrivateDir(dir);
      await acquireServerLock(dir, lockPath);
      try {
        await removeOrphanedTempFiles(path);
        committed = await load(path);
      } catch (err) {
        await releaseServerLock(lockPath);
        throw err;
      }
    },
    async close() {
      if (committed === undefined) return;
      // After the changes already queued; any queued later finds the store closed.
      await serialized(async () => {
        committed = undefined;
      });
      await releaseServerLock(lockPath);
    },

    async serverKeys(create) {
      const existing = await read((t) => find(t, 'serverKeys', '', ''));
      if (existing !== undefined) return structuredClone(existing);
      return mutate((d) => ensureServerKeys(d, create));
    },

    createUser: (user, opts) => mutate((d) => createUser(d, user, opts.requireInvite)),
    userByEmail: (email) => read((t) => copyUser(find(t, 'emails', '', email.toLowerCase()))),
    usersById: (ids) => read((t) => usersById(t, ids)),

    insertRefresh: (row) => mutate((d) => insertRefresh(d, row)),
    consumeRefresh: (hash, now) => mutate((d) => consumeRefresh(d, hash, now)),
    revokeFamily: (family, at) => mutate((d) => revokeFamily(d, family, at)),

    createWorkspace: (workspace, admin, grants, doc) =>
      mutate((d) => createWorkspace(d, workspace, admin, grants, doc)),
    workspace: (id) => read((t) => copy(find(t, 'workspaces', '', id))),
    workspacesOf: (userId) => read((t) => workspacesOf(t, userId)),
    members: (workspaceId) =>
      read((t) => sortBy(rowsOf(t, 'members', workspaceId), (m) => [m.added_at, m.user_id])),
    member: (workspaceId, userId) => read((t) => copy(find(t, 'members', workspaceId, userId))),

    invite: (invite) => mutate((d) => inviteEmail(d, invite)),
    invites: (workspaceId) =>
      read((t) => sortBy(rowsOf(t, 'invites', workspaceId), (i) => [i.created_at, i.email])),

    confirmMember: (workspaceId, userId, confirmedBy, grants) =>
      mutate((d) => confirmMember(d, workspaceId, userId, confirmedBy, grants)),
    setRole: (workspaceId, userId, role, grants, doc, expectedSeq) =>
      mutate((d) => setRole(d, { workspaceId, userId, role, grants, doc, expectedSeq })),
    grants: (workspaceId, userId) =>
      read((t) =>
        sortBy(
          rowsOf(t, 'grants', workspaceId).filter((g) => g.user_id === userId),
          (g) => [g.epoch, g.kind],
        ),
      ),

    doc: (workspaceId) => read((t) => copy(find(t, 'docs', '', workspaceId))),
    docChain: (workspaceId, afterSeq, limit) =>
      read((t) =>
        sortBy(
          rowsOf(t, 'docLog', workspaceId).filter((r) => r.seq > afterSeq),
          (r) => [r.seq],
        ).slice(0, limit),
      ),
    putHeartbeat: (row) =>
      mutate((d) => {
        requireWorkspace(d.tables, row.workspace_id);
        d.put('heartbeats', { ...row });
      }),
    heartbeats: (workspaceId) =>
      read((t) => sortBy(rowsOf(t, 'heartbeats', workspaceId), (r) => [r.signer])),
    putDoc: (doc, expectedSeq) => mutate((d) => putDoc(d, doc, expectedSeq)),

    rotate: (input) => mutate((d) => rotate(d, input)),

    putProject: (project) => mutate((d) => putProject(d, project)),
    projects: (workspaceId) =>
      read((t) => sortBy(rowsOf(t, 'projects', workspaceId), (p) => [p.name, p.id])),

    records: (workspaceId, projectId, environment) =>
      read((t) =>
        sortBy(rowsOf(t, 'records', scopeKey(workspaceId, projectId, environment)), (r) => [r.key]),
      ),
    allRecords: (workspaceId) => read((t) => allRecordsOf(t, workspaceId)),
    push: (workspaceId, projectId, environment, changes, opts) =>
      mutate((d) => push(d, { workspaceId, projectId, environment, changes, ...opts })),
  };
}

// --- the changes, applied to a draft ----------------------------------------------------

async function ensureServerKeys(d: Draft, create: () => Promise<ServerKeys>): Promise<ServerKeys> {
  const existing = find(d.tables, 'serverKeys', '', '');
  if (existing !== undefined) return structuredClone(existing);
  const keys = await create();
  d.put('serverKeys', structuredClone(keys));
  return keys;
}

function createUser(d: Draft, user: UserRow, requireInvite: boolean): SignupOutcome {
  const t = d.tables;
  const email = user.email.toLowerCase();
  const invites = allRows(t, 'invites').filter((i) => i.email.toLowerCase() === email);
  const firstUser = t.users.size === 0;
  if (requireInvite && !firstUser && invites.length === 0) return 'invite_required';
  if (find(t, 'emails', '', email) !== undefined) return 'email_taken';
  if (find(t, 'users', '', user.id) !== undefined) {
    throw new AgentSecretsError('internal_error', 'a user with this id exists already');
  }
  const row = structuredClone(user);
  d.put('users', row);
  d.put('emails', row);
  for (const invite of invites) {
    if (find(t, 'members', invite.workspace_id, user.id) === undefined) {
      d.put('members', pendingMember(invite, user.id, user.created_at));
    }
    d.remove('invites', invite);
  }
  return 'created';
}

function pendingMember(invite: InviteRow, userId: string, at: string): MemberRow {
  return {
    workspace_id: invite.workspace_id,
    user_id: userId,
    role: invite.role,
    status: 'pending',
    added_at: at,
    confirmed_by: null,
  };
}

function insertRefresh(d: Draft, row: RefreshRow): void {
  if (find(d.tables, 'refresh', '', row.hash) !== undefined) {
    throw new AgentSecretsError('internal_error', 'this refresh token is stored already');
  }
  d.put('refresh', { ...row });
}

function consumeRefresh(d: Draft, hash: string, now: Date): RefreshOutcome {
  const row = find(d.tables, 'refresh', '', hash);
  const verdict = refreshVerdict(row, now);
  if (verdict === 'reused') return { status: 'reused', row: { ...row! } };
  if (verdict !== 'ok') return { status: verdict };
  const used = { ...row!, used_at: now.toISOString() };
  d.put('refresh', used);
  return { status: 'ok', row: { ...used } };
}

function revokeFamily(d: Draft, family: string, at: Date): void {
  for (const row of allRows(d.tables, 'refresh')) {
    if (row.family === family && row.revoked_at === null) {
      d.put('refresh', { ...row, revoked_at: at.toISOString() });
    }
  }
}

function createWorkspace(
  d: Draft,
  workspace: WorkspaceRow,
  admin: MemberRow,
  grants: GrantRow[],
  doc: DocRow,
): 'created' | 'exists' {
  if (find(d.tables, 'workspaces', '', workspace.id) !== undefined) return 'exists';
  d.put('workspaces', { ...workspace });
  d.put('members', { ...admin });
  for (const grant of grants) d.put('grants', { ...grant });
  d.put('docs', { ...doc });
  return 'created';
}

function inviteEmail(d: Draft, invite: InviteRow): 'pending' | 'invited' | 'already_member' {
  const t = d.tables;
  requireWorkspace(t, invite.workspace_id);
  const user = find(t, 'emails', '', invite.email.toLowerCase());
  if (user === undefined) {
    d.put('invites', { ...invite });
    return 'invited';
  }
  if (find(t, 'members', invite.workspace_id, user.id) !== undefined) return 'already_member';
  d.put('members', pendingMember(invite, user.id, invite.created_at));
  return 'pending';
}

function confirmMember(
  d: Draft,
  workspaceId: string,
  userId: string,
  confirmedBy: string,
  grants: GrantRow[],
): 'confirmed' | 'not_pending' {
  const member = find(d.tables, 'members', workspaceId, userId);
  if (member?.status !== 'pending') return 'not_pending';
  d.put('members', { ...member, status: 'active', confirmed_by: confirmedBy });
  for (const grant of grants) d.put('grants', { ...grant });
  return 'confirmed';
}

interface SetRoleInput {
  workspaceId: string;
  userId: string;
  role: MemberRow['role'];
  grants: GrantRow[];
  doc: DocRow;
  expectedSeq: number;
}

function setRole(d: Draft, input: SetRoleInput): 'ok' | 'conflict' {
  const member = find(d.tables, 'members', input.workspaceId, input.userId);
  const current = find(d.tables, 'docs', '', input.workspaceId);
  if (member === undefined || current?.seq !== input.expectedSeq) return 'conflict';
  d.put('members', { ...member, role: input.role });
  for (const grant of input.grants) d.put('grants', { ...grant });
  d.put('docs', { ...input.doc });
  return 'ok';
}

function putDoc(d: Draft, doc: DocRow, expectedSeq: number): boolean {
  if (find(d.tables, 'docs', '', doc.workspace_id)?.seq !== expectedSeq) return false;
  d.put('docs', { ...doc });
  return true;
}

function rotate(d: Draft, input: RotateInput): 'ok' | 'conflict' {
  const t = d.tables;
  const workspace = find(t, 'workspaces', '', input.workspace_id);
  if (
    workspace?.epoch !== input.from_epoch ||
    find(t, 'docs', '', input.workspace_id)?.seq !== input.expected_seq ||
    !sameRecordSet(allRecordsOf(t, input.workspace_id), input.records)
  ) {
    return 'conflict';
  }
  if (input.remove_user_id !== null) removeMember(d, input.workspace_id, input.remove_user_id);
  for (const grant of input.grants) d.put('grants', { ...grant });
  for (const record of input.records) d.put('records', { ...record });
  d.put('workspaces', { ...workspace, epoch: input.epoch });
  d.put('docs', { ...input.doc });
  return 'ok';
}

function removeMember(d: Draft, workspaceId: string, userId: string): void {
  const member = find(d.tables, 'members', workspaceId, userId);
  if (member !== undefined) d.remove('members', member);
  for (const grant of rowsOf(d.tables, 'grants', workspaceId)) {
    if (grant.user_id === userId) d.remove('grants', grant);
  }
}

function putProject(d: Draft, project: ProjectRow): 'created' | 'exists' | 'name_taken' {
  const t = d.tables;
  requireWorkspace(t, project.workspace_id);
  if (find(t, 'projects', project.workspace_id, project.id) !== undefined) return 'exists';
  if (rowsOf(t, 'projects', project.workspace_id).some((p) => p.name === project.name)) {
    return 'name_taken';
  }
  d.put('projects', { ...project });
  return 'created';
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

function push(d: Draft, input: PushInput): PushOutcome {
  const t = d.tables;
  const workspace = requireWorkspace(t, input.workspaceId);
  if (find(t, 'projects', input.workspaceId, input.projectId) === undefined) {
    throw new AgentSecretsError('project_not_found', 'no project with this id in the workspace');
  }
  const scope = scopeKey(input.workspaceId, input.projectId, input.environment);
  const current = new Map(rowsOf(t, 'records', scope).map((r) => [r.key, r.version]));
  const refusal = judgePush(workspace.epoch, current, input.changes, input.force);
  if (refusal !== undefined) return refusal;
  const records = input.changes.map((change) => recordFromChange(change, input));
  for (const record of records) d.put('records', record);
  return { status: 'ok', records: records.map((r) => ({ ...r })) };
}

function requireWorkspace(t: Tables, workspaceId: string): WorkspaceRow {
  const workspace = find(t, 'workspaces', '', workspaceId);
  if (workspace === undefined) {
    throw new AgentSecretsError('workspace_not_found', 'no workspace with this id');
  }
  return workspace;
}

// --- reads --------------------------------------------------------------------------------

function copy<T extends object>(row: T | undefined): T | undefined {
  return row === undefined ? undefined : { ...row };
}

function copyUser(user: UserRow | undefined): UserRow | undefined {
  return user === undefined ? undefined : structuredClone(user);
}

/** Copies of `rows`, sorted by the tuple `by` gives (strings by code unit, numbers by value). */
function sortBy<T extends object>(rows: T[], by: (row: T) => (string | number)[]): T[] {
  const keyed = rows.map((row) => ({ row, key: by(row) }));
  keyed.sort((a, b) => compareTuples(a.key, b.key));
  return keyed.map(({ row }) => ({ ...row }));
}

function compareTuples(a: (string | number)[], b: (string | number)[]): number {
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i]!;
    const y = b[i]!;
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return 0;
}

function usersById(t: Tables, ids: readonly string[]): UserRow[] {
  const unique = [...new Set(ids)];
  return unique.flatMap((id) => copyUser(find(t, 'users', '', id)) ?? []);
}

function workspacesOf(t: Tables, userId: string): { workspace: WorkspaceRow; member: MemberRow }[] {
  const found = allRows(t, 'workspaces').flatMap((workspace) => {
    const member = find(t, 'members', workspace.id, userId);
    return member === undefined ? [] : [{ workspace: { ...workspace }, member: { ...member } }];
  });
  return found.sort((a, b) =>
    compareTuples(
      [a.workspace.created_at, a.workspace.id],
      [b.workspace.created_at, b.workspace.id],
    ),
  );
}

function allRecordsOf(t: Tables, workspaceId: string): RecordRow[] {
  const rows = [...t.records.values()].flatMap((scope) => {
    const first = scope.values().next().value;
    return first?.workspace_id === workspaceId ? [...scope.values()] : [];
  });
  return sortBy(rows, (r) => [r.project_id, r.environment, r.key]);
}

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
] as const satisfies readonly TableName[];
/** Tables added after the first release: absent from an older store.json. */
const LATER_TABLES: readonly TableName[] = ['docLog', 'heartbeats'];

function serialize(t: Tables): string {
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

async function load(path: string): Promise<Tables> {
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

function parse(raw: unknown): Tables {
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

function loadScope(raw: object): RecordRow[] {
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
async function acquireServerLock(dir: string, lockPath: string): Promise<void> {
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

async function releaseServerLock(lockPath: string): Promise<void> {
  const holder = await readHolder(lockPath);
  if (holder?.pid === process.pid && holder.started === PROCESS_STARTED) {
    await rm(lockPath, { force: true });
  }
}
