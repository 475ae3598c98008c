import type {
  ManifestRow,
  DocRow,
  GrantRow,
  InviteRow,
  MemberRow,
  ProjectRow,
  RecordRow,
  RefreshRow,
  HeartbeatRow,
  ServerKeys,
  UserRow,
  WorkspaceRow,
} from './store.js';

/** The file store's tables in memory and the copy-on-write draft a change is applied to. */
export const STORE_FILE = 'store.json';
export const LOCK_FILE = 'server.lock';
export const FORMAT = 1;
/** Tells this process apart from an earlier one that had the same pid (a restarted container). */
export const PROCESS_STARTED = Math.round(performance.timeOrigin);

export interface Rows {
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
  manifests: ManifestRow;
}
export type TableName = keyof Rows;
/** Rows by partition (a workspace, a record scope, or '' for a global table), then by key. */
export type Table<Row> = Map<string, Map<string, Row>>;
export type Tables = { [N in TableName]: Table<Rows[N]> };

/** Where each row lives: its partition and its key within the partition. */
export const PLACE: { [N in TableName]: (row: Rows[N]) => readonly [part: string, key: string] } = {
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
  manifests: (r) => [r.workspace_id, scopeKey(r.workspace_id, r.project_id, r.environment)],
};
export const TABLE_NAMES = Object.keys(PLACE) as TableName[];

export function grantKey(userId: string, epoch: number, kind: string): string {
  return JSON.stringify([userId, epoch, kind]);
}

export function scopeKey(workspaceId: string, projectId: string, environment: string): string {
  return JSON.stringify([workspaceId, projectId, environment]);
}

export function emptyTables(): Tables {
  return Object.fromEntries(TABLE_NAMES.map((name) => [name, new Map()])) as Tables;
}

export function find<N extends TableName>(
  tables: Tables,
  name: N,
  part: string,
  key: string,
): Rows[N] | undefined {
  return tables[name].get(part)?.get(key);
}

export function rowsOf<N extends TableName>(tables: Tables, name: N, part: string): Rows[N][] {
  return [...(tables[name].get(part)?.values() ?? [])];
}

export function allRows<N extends TableName>(tables: Tables, name: N): Rows[N][] {
  return [...tables[name].values()].flatMap((rows) => [...rows.values()]);
}

/**
 * A copy-on-write view of the committed tables: a table, then a partition, is copied the
 * first time this draft changes it, so the committed state is never touched.
 */
export class Draft {
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

// --- reads --------------------------------------------------------------------------------

export function copy<T extends object>(row: T | undefined): T | undefined {
  return row === undefined ? undefined : { ...row };
}

export function copyUser(user: UserRow | undefined): UserRow | undefined {
  return user === undefined ? undefined : structuredClone(user);
}

/** Copies of `rows`, sorted by the tuple `by` gives (strings by code unit, numbers by value). */
export function sortBy<T extends object>(rows: T[], by: (row: T) => (string | number)[]): T[] {
  const keyed = rows.map((row) => ({ row, key: by(row) }));
  keyed.sort((a, b) => compareTuples(a.key, b.key));
  return keyed.map(({ row }) => ({ ...row }));
}

export function compareTuples(a: (string | number)[], b: (string | number)[]): number {
  for (let i = 0; i < a.length; i += 1) {
    const x = a[i]!;
    const y = b[i]!;
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return 0;
}

export function usersById(t: Tables, ids: readonly string[]): UserRow[] {
  const unique = [...new Set(ids)];
  return unique.flatMap((id) => copyUser(find(t, 'users', '', id)) ?? []);
}

export function workspacesOf(
  t: Tables,
  userId: string,
): { workspace: WorkspaceRow; member: MemberRow }[] {
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

export function allRecordsOf(t: Tables, workspaceId: string): RecordRow[] {
  const rows = [...t.records.values()].flatMap((scope) => {
    const first = scope.values().next().value;
    return first?.workspace_id === workspaceId ? [...scope.values()] : [];
  });
  return sortBy(rows, (r) => [r.project_id, r.environment, r.key]);
}
