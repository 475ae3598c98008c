import { AgentSecretsError } from '../core/errors.js';
import type { Selection } from '../vault/vault.js';
import type { Project, Workspace } from '../workspace/model.js';
import {
  decryptTeamRecord,
  encryptTeamRecord,
  type TeamRecordAddress,
  valueDigest,
} from './crypto.js';
import { ownKeys, syncDoc, type TeamContext, workspaceKey } from './team.js';
import type { DiffResult, KeyDiff, PullResult, RefusedRecord } from './types.js';
import { type PushChange, type RemoteRecord, remoteRecord } from './wire.js';
import { printable } from './api.js';
import * as wire from './wire.js';
import {
  type CheckedServe,
  checkServed,
  nextManifest,
  noteSeen,
  requireConsistent,
} from './push-manifest.js';

/**
 * push, pull and diff of one project environment against a team workspace (DESIGN §10).
 * Versions are the remote's: a local record's `base_version` is the remote version it last
 * matched, and `changed_since_sync` says whether it was edited since. Values cross the wire
 * only as ciphertext under the workspace key, bound to where they belong.
 */

export interface SyncTarget {
  workspace: Workspace;
  project: Project;
  environment: string;
}

type Meta = {
  key: string;
  base_version: number | null;
  changed_since_sync: boolean;
  version: number;
};
type RemoteMeta = Pick<RemoteRecord, 'key' | 'version' | 'epoch' | 'digest'>;

export const recordsPath = (t: SyncTarget) =>
  `/v1/workspaces/${encodeURIComponent(t.workspace.id)}/projects/${encodeURIComponent(t.project.id)}/envs/${t.environment}`;

function selectionOf(t: SyncTarget): Selection {
  return { workspace_id: t.workspace.id, project_id: t.project.id, environment: t.environment };
}

function requireTeam(t: SyncTarget): void {
  if (t.workspace.kind !== 'team')
    throw new AgentSecretsError(
      'usage_error',
      `workspace '${t.workspace.name}' is not synced: create a team workspace (\`agentsecrets workspace create NAME\`) or switch to one`,
    );
}

async function localMeta(ctx: TeamContext, t: SyncTarget): Promise<Map<string, Meta>> {
  const records = await ctx.services.vault.list(selectionOf(t));
  return new Map(records.map((r) => [r.key, r]));
}

/** The remote's records (no values) and their signed manifest, checked against it (F10). */
export async function remoteMeta(
  ctx: TeamContext,
  t: SyncTarget,
): Promise<{ map: Map<string, RemoteMeta>; records: RemoteMeta[]; checked: CheckedServe }> {
  const { records, manifest } = await ctx.session.api.call(
    'GET',
    `${recordsPath(t)}/records?meta=1`,
    wire.recordsMetaResponse,
  );
  const checked = await checkServed(ctx, t, { records, manifest });
  return { map: new Map(records.map((r) => [r.key, r])), records, checked };
}

/** Compares one key: what changed where since the last sync. */
function compare(
  key: string,
  local: Meta | undefined,
  remote: RemoteMeta | undefined,
  sameValue: boolean,
): KeyDiff {
  const base = {
    key,
    local_version: local?.base_version ?? null,
    remote_version: remote?.version ?? null,
  };
  if (local === undefined) return { ...base, state: 'remote_only', newer: 'remote' };
  if (remote === undefined) return { ...base, state: 'local_only', newer: 'local' };
  if (sameValue) return { ...base, state: 'in_sync', newer: null };
  const remoteMoved = local.base_version !== remote.version;
  const localMoved = local.changed_since_sync || local.base_version === null;
  if (remoteMoved && localMoved) return { ...base, state: 'out_of_sync', newer: 'both' };
  if (remoteMoved) return { ...base, state: 'out_of_sync', newer: 'remote' };
  if (localMoved) return { ...base, state: 'out_of_sync', newer: 'local' };
  return { ...base, state: 'in_sync', newer: null };
}

/** Which keys hold the same value on both sides, by keyed digest (no remote decryption). */
async function sameValues(
  ctx: TeamContext,
  t: SyncTarget,
  remote: Map<string, RemoteMeta>,
  keys: readonly string[],
): Promise<Set<string>> {
  const same = new Set<string>();
  if (keys.length === 0) return same;
  const values = await ctx.vault.getMany(selectionOf(t), keys);
  const keyCache = new Map<number, Uint8Array>();
  for (const key of keys) {
    const r = remote.get(key)!;
    let wk = keyCache.get(r.epoch);
    if (wk === undefined) {
      wk = await workspaceKey(ctx, t.workspace, r.epoch);
      keyCache.set(r.epoch, wk);
    }
    const value = values.get(key);
    if (value !== undefined && valueDigest(wk, address(t, key), value) === r.digest) same.add(key);
  }
  for (const k of keyCache.values()) k.fill(0);
  return same;
}

function address(t: SyncTarget, key: string) {
  return {
    workspace_id: t.workspace.id,
    project_id: t.project.id,
    environment: t.environment,
    key,
  };
}

/** `secrets diff`: every key of both sides with its state. Reads no remote value. */
export async function diff(ctx: TeamContext, t: SyncTarget): Promise<DiffResult> {
  requireTeam(t);
  const [local, served] = await Promise.all([localMeta(ctx, t), remoteMeta(ctx, t)]);
  const remote = served.map;
  const both = [...local.keys()].filter((k) => {
    const l = local.get(k)!;
    const r = remote.get(k);
    return r !== undefined && (l.changed_since_sync || l.base_version !== r.version);
  });
  const same = await sameValues(ctx, t, remote, both);
  const keys = [...new Set([...local.keys(), ...remote.keys()])].sort();
  const tombstones = new Map((served.checked.manifest?.deleted ?? []).map((d) => [d.key, d]));
  const result = keys.map((k) => {
    const d = compare(k, local.get(k), remote.get(k), same.has(k));
    // A key deleted by a member's signed push: a pull deletes it here (tombstone).
    const l = local.get(k);
    const stone = tombstones.get(k);
    if (d.state === 'local_only' && stone !== undefined && l?.base_version != null)
      return {
        ...d,
        state: 'out_of_sync' as const,
        newer: 'remote' as const,
        remote_deleted: true,
      };
    return d;
  });
  if (served.checked.manifest !== null) await noteSeen(ctx, t, served.checked.manifest.seq);
  const pending = result.filter((d) => d.state !== 'in_sync').length;
  const bad = served.checked.mismatched.length + served.checked.withheld.length;
  return {
    remote_configured: true,
    message:
      (pending === 0 ? 'in sync' : `${pending} key(s) differ`) +
      (bad === 0
        ? ''
        : `; ${bad} remote record(s) do not match their signed push manifest (a pull refuses them)`),
    keys: result,
  };
}

export interface PushResult {
  pushed: string[];
  conflicts: string[];
  unchanged: number;
}

/**
 * `secrets push`: sends local changes. Refuses, writing nothing, when the remote has a newer
 * version of any key being pushed, unless `force`.
 */
export async function push(
  ctx: TeamContext,
  t: SyncTarget,
  options: { force: boolean; onProgress?: (text: string) => void },
): Promise<PushResult> {
  requireTeam(t);
  // The signed document names the current epoch: sync it first, so that a value is never
  // encrypted under a key a removed member still holds (F2).
  t = { ...t, workspace: await freshWorkspace(ctx, t) };
  await ensureRemoteProject(ctx, t);
  for (let attempt = 0; ; attempt++) {
    try {
      return await pushOnce(ctx, t, options);
    } catch (err) {
      if (!(err instanceof AgentSecretsError && err.code === 'stale_epoch')) throw err;
      // Rotated meanwhile: the new epoch comes only from a newer signed document, never from
      // the server's word. If the document did not move, the server's epoch is not ours.
      const epoch = t.workspace.team!.epoch;
      const next = await freshWorkspace(ctx, t);
      if (attempt > 0 || next.team!.epoch <= epoch)
        throw new AgentSecretsError(
          'stale_epoch',
          `the sync server refused key epoch ${epoch}, which the workspace's signed document names as current; nothing was pushed. The server's state disagrees with what the admins signed: tell a workspace admin`,
        );
      t = { ...t, workspace: next };
    }
  }
}

export async function freshWorkspace(ctx: TeamContext, t: SyncTarget): Promise<Workspace> {
  return (
    await syncDoc(ctx.services, ctx.session.api, ctx.sodium, t.workspace, ownKeys(ctx), ctx.vault)
  ).workspace;
}

async function pushOnce(
  ctx: TeamContext,
  t: SyncTarget,
  options: { force: boolean; onProgress?: (text: string) => void },
): Promise<PushResult> {
  const [local, served] = await Promise.all([localMeta(ctx, t), remoteMeta(ctx, t)]);
  requireConsistent(served.checked, `${t.project.name}/${t.environment}`);
  const remote = served.map;
  const candidates = [...local.keys()].filter((k) => {
    const l = local.get(k)!;
    const r = remote.get(k);
    return r === undefined || l.changed_since_sync || l.base_version !== r.version;
  });
  const same = await sameValues(
    ctx,
    t,
    remote,
    candidates.filter((k) => remote.has(k)),
  );
  const conflicts: string[] = [];
  const toPush: string[] = [];
  const alreadySynced: { key: string; base_version: number; seen: number }[] = [];
  for (const key of candidates) {
    const l = local.get(key)!;
    const r = remote.get(key);
    if (r !== undefined && same.has(key))
      alreadySynced.push({ key, base_version: r.version, seen: l.version });
    else if (r === undefined) toPush.push(key);
    else if (l.base_version === r.version || options.force) toPush.push(key);
    else if (l.changed_since_sync || l.base_version === null) conflicts.push(key);
    // else: unchanged here, newer there: a pull brings it.
  }
  if (conflicts.length > 0)
    throw new AgentSecretsError(
      'conflict',
      `the remote has newer versions of ${conflicts.join(', ')}: pull first (\`agentsecrets secrets pull\`), or overwrite them with \`agentsecrets secrets push --force\`; nothing was pushed`,
      { context: { conflicts } },
    );
  const epoch = t.workspace.team!.epoch;
  const changes: PushChange[] = [];
  if (toPush.length > 0) {
    options.onProgress?.(`encrypting ${toPush.length} secret(s)`);
    const values = await ctx.vault.getMany(selectionOf(t), toPush);
    const wk = await workspaceKey(ctx, t.workspace, epoch);
    for (const key of toPush) {
      const r = remote.get(key);
      const version = (r?.version ?? 0) + 1;
      const where: TeamRecordAddress = { ...address(t, key), version, epoch };
      changes.push({
        key,
        base_version: r?.version ?? null,
        version,
        epoch,
        ...encryptTeamRecord(ctx.sodium, wk, where, values.get(key)!),
      });
    }
    wk.fill(0);
    options.onProgress?.(`uploading ${changes.length} secret(s)`);
    const next = nextManifest(
      ctx,
      t,
      { manifest: served.checked.manifest, records: served.records },
      changes,
      [],
    );
    await ctx.session.api.call('POST', `${recordsPath(t)}/push`, wire.pushResponse, {
      changes,
      force: options.force,
      manifest: next.signed,
    });
    await noteSeen(ctx, t, next.seq);
  }
  // A key edited while this push ran keeps its edit, still to be pushed.
  await ctx.vault.applySync(selectionOf(t), [
    ...alreadySynced,
    ...changes.map((c) => ({
      key: c.key,
      base_version: c.version,
      seen: local.get(c.key)!.version,
    })),
  ]);
  await markProject(ctx, t, 'last_push_at');
  return {
    pushed: changes.map((c) => c.key),
    conflicts: [],
    unchanged: local.size - changes.length,
  };
}

/**
 * `secrets pull`: takes remote versions newer than what this machine last synced. A key
 * changed on both sides is a conflict and keeps its local value unless `force`. A remote
 * version older than one already seen is refused: the server rolled it back.
 */
export async function pull(
  ctx: TeamContext,
  t: SyncTarget,
  options: { force: boolean; onProgress?: (text: string) => void },
): Promise<PullResult> {
  requireTeam(t);
  t = { ...t, workspace: await freshWorkspace(ctx, t) };
  options.onProgress?.('downloading');
  const answer = await ctx.session.api.call(
    'GET',
    `${recordsPath(t)}/records`,
    wire.recordsResponse,
  );
  const refused: RefusedRecord[] = [];
  const parsed = checkedRecords(answer.records, t.workspace.team!.epoch, refused);
  // Every record as the member who pushed last signed it (F10); a rolled-back manifest
  // throws here, before anything is applied.
  const checked = await checkServed(ctx, t, { records: parsed, manifest: answer.manifest });
  const mismatched = new Map(checked.mismatched.map((m) => [m.key, m.reason]));
  for (const [key, reason] of mismatched) refused.push({ key, reason });
  for (const key of checked.withheld)
    if (!refused.some((r) => r.key === key))
      refused.push({
        key,
        reason: 'the signed push manifest lists it, the server did not send it',
      });
  const records = parsed.filter((r) => !mismatched.has(r.key));
  const local = await localMeta(ctx, t);
  const remote = new Map(records.map((r) => [r.key, r]));
  const changedBoth = records
    .map((r) => r.key)
    .filter((k) => {
      const l = local.get(k);
      return (
        l !== undefined &&
        (l.changed_since_sync || l.base_version === null) &&
        l.base_version !== remote.get(k)!.version
      );
    });
  const same = await sameValues(ctx, t, remote, changedBoth);
  const updates: { key: string; value?: string; base_version: number; seen: number | null }[] = [];
  const conflicts: string[] = [];
  const pulled: string[] = [];
  const keys = new Map<number, Uint8Array>();
  options.onProgress?.(`decrypting ${records.length} secret(s)`);
  for (const r of records) {
    const l = local.get(r.key);
    if (l !== undefined && l.base_version !== null && r.version < l.base_version && !options.force)
      throw new AgentSecretsError(
        'signature_invalid',
        `the server returned version ${r.version} of ${r.key}, older than version ${l.base_version} already pulled: it may have been rolled back; nothing was pulled`,
      );
    if (l !== undefined && l.base_version === r.version && !(l.changed_since_sync && options.force))
      continue;
    const seen = l?.version ?? null;
    if (same.has(r.key)) {
      updates.push({ key: r.key, base_version: r.version, seen });
      continue;
    }
    if (l !== undefined && (l.changed_since_sync || l.base_version === null) && !options.force) {
      conflicts.push(r.key);
      continue;
    }
    let wk = keys.get(r.epoch);
    if (wk === undefined) {
      wk = await workspaceKey(ctx, t.workspace, r.epoch);
      keys.set(r.epoch, wk);
    }
    let value: string;
    try {
      value = decryptTeamRecord(
        ctx.sodium,
        wk,
        { ...address(t, r.key), version: r.version, epoch: r.epoch },
        r,
      );
    } catch {
      refused.push({ key: r.key, reason: 'it does not decrypt (altered or moved on the server)' });
      continue;
    }
    updates.push({ key: r.key, value, base_version: r.version, seen });
  }
  for (const k of keys.values()) k.fill(0);
  // A key edited here while this pull ran keeps the edit: it is a conflict, not overwritten.
  const kept = new Set(await ctx.vault.applySync(selectionOf(t), updates));
  for (const u of updates) {
    if (kept.has(u.key)) conflicts.push(u.key);
    else if (u.value !== undefined) pulled.push(u.key);
  }
  // Signed deletions (tombstones): a key synced here and unchanged since is deleted; one
  // edited here since is a conflict and stays (pull --force deletes it).
  const deleted: string[] = [];
  for (const stone of checked.manifest?.deleted ?? []) {
    const l = local.get(stone.key);
    if (l === undefined || l.base_version === null || l.base_version > stone.version) continue;
    if (remote.has(stone.key)) continue;
    if (l.changed_since_sync && !options.force) {
      conflicts.push(stone.key);
      continue;
    }
    await ctx.vault.delete(selectionOf(t), stone.key);
    deleted.push(stone.key);
  }
  if (checked.manifest !== null) await noteSeen(ctx, t, checked.manifest.seq);
  await markProject(ctx, t, 'last_pull_at');
  const parts = [`pulled ${pulled.length} secret(s)`];
  if (deleted.length > 0)
    parts.push(`deleted ${deleted.join(', ')} (a member deleted them: a signed deletion)`);
  if (conflicts.length > 0)
    parts.push(
      `${conflicts.length} changed on both sides kept their local value (pull --force takes the remote's)`,
    );
  if (refused.length > 0)
    parts.push(
      `refused ${refused.map((r) => `${r.key} (${r.reason})`).join(', ')}: the server may have been tampered with; tell a workspace admin`,
    );
  return {
    remote_configured: true,
    message: parts.join('; '),
    pulled,
    conflicts,
    deleted,
    refused,
    unchanged: Math.max(0, records.length - pulled.length - conflicts.length - refused.length),
  };
}

/**
 * The records of a pull that may be applied. A record that does not parse, or whose key epoch
 * is not the current one of the signed document, is left out and named in `refused`: an older
 * epoch's key may be held by a removed member (F1), and one malformed row must not stop the
 * rest (F8).
 */
export function checkedRecords(
  raw: unknown,
  epoch: number,
  refused: RefusedRecord[],
): RemoteRecord[] {
  if (!Array.isArray(raw))
    throw new AgentSecretsError('remote_error', 'the sync server sent a malformed record list');
  const records: RemoteRecord[] = [];
  raw.forEach((item: unknown, i) => {
    const parsed = remoteRecord.safeParse(item);
    if (!parsed.success) {
      const key = (item as { key?: unknown } | null)?.key;
      refused.push({
        key: typeof key === 'string' ? printable(key).slice(0, 128) : `#${i + 1}`,
        reason: 'it is malformed',
      });
    } else if (parsed.data.epoch !== epoch)
      refused.push({
        key: parsed.data.key,
        reason: `it is under key epoch ${parsed.data.epoch}, but the signed workspace document names epoch ${epoch}`,
      });
    else records.push(parsed.data);
  });
  return records;
}

/** Creates the project on the server if it is new there (idempotent). */
async function ensureRemoteProject(ctx: TeamContext, t: SyncTarget): Promise<void> {
  await ctx.session.api.call(
    'POST',
    `/v1/workspaces/${encodeURIComponent(t.workspace.id)}/projects`,
    wire.statusResponse,
    {
      id: t.project.id,
      name: t.project.name,
    },
  );
}

async function markProject(
  ctx: TeamContext,
  t: SyncTarget,
  field: 'last_push_at' | 'last_pull_at',
) {
  const stamp = new Date().toISOString();
  await ctx.services.workspaces.updateWorkspace(t.workspace.id, (w) => {
    const project = w.projects.find((p) => p.id === t.project.id);
    if (project !== undefined) project[field] = stamp;
  });
}

export { pullProjects } from './projects.js';
