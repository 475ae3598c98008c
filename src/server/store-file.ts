import { join } from 'node:path';
import { AgentSecretsError } from '../core/errors.js';
import { ensurePrivateDir, removeOrphanedTempFiles, writeFileAtomic } from '../store/fs.js';
import type { ServerStore } from './store.js';
import {
  STORE_FILE,
  LOCK_FILE,
  type Tables,
  scopeKey,
  find,
  rowsOf,
  Draft,
  copy,
  copyUser,
  sortBy,
  usersById,
  workspacesOf,
  allRecordsOf,
} from './store-file-tables.js';
import {
  ensureServerKeys,
  createUser,
  insertRefresh,
  consumeRefresh,
  revokeFamily,
  createWorkspace,
  inviteEmail,
  acceptInvite,
  confirmMember,
  setRole,
  putDoc,
  rotate,
  putProject,
  push,
  requireWorkspace,
} from './store-file-rules.js';
import { serialize, load, acquireServerLock, releaseServerLock } from './store-file-persist.js';

/*
 * The embedded server store: one JSON document, `store.json`, owned by one server process.
 * The whole state lives in memory. A change is applied to a copy-on-write draft, the draft is
 * written atomically, and only then does it become the state: a failed write leaves the old
 * state on disk and in memory. Changes run one at a time through a promise queue.
 */

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
    acceptInvite: (workspaceId, userId, secretHash) =>
      mutate((d) => acceptInvite(d, workspaceId, userId, secretHash)),
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
    manifests: (workspaceId) =>
      read((t) =>
        sortBy(rowsOf(t, 'manifests', workspaceId), (m) => [m.project_id, m.environment]),
      ),
    manifest: (workspaceId, projectId, environment) =>
      read((t) =>
        copy(find(t, 'manifests', workspaceId, scopeKey(workspaceId, projectId, environment))),
      ),
  };
}
