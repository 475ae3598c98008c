import type {
  ManifestRow,
  PushChangeRow,
  PushDeletionRow,
  PushOutcome,
  RecordRow,
  RefreshRow,
} from './store.js';

/**
 * The rules both server stores apply, as pure functions, so that the file store and the
 * PostgreSQL store decide every push, refresh and rotation alike.
 */

/** Where a push goes, and who sends it when. */
export interface PushPlace {
  workspaceId: string;
  projectId: string;
  environment: string;
  userId: string;
  now: Date;
}

/**
 * Judges a push against the current versions of its keys (DESIGN §10): `undefined` when it
 * may be applied, else the refusal. Pure, so that both stores decide alike.
 */
export function judgePush(
  epoch: number,
  current: ReadonlyMap<string, number>,
  changes: readonly PushChangeRow[],
  force: boolean,
): Exclude<PushOutcome, { status: 'ok' }> | undefined {
  if (changes.some((change) => change.epoch !== epoch)) return { status: 'stale_epoch', epoch };
  const seen = new Set<string>();
  const conflicts = new Map<string, number | null>();
  for (const change of changes) {
    const remote = current.get(change.key) ?? null;
    const duplicate = seen.has(change.key);
    const baseMoved = !force && change.base_version !== remote;
    const misnumbered = change.version !== (remote ?? 0) + 1;
    if (duplicate || baseMoved || misnumbered) conflicts.set(change.key, remote);
    seen.add(change.key);
  }
  if (conflicts.size === 0) return undefined;
  return {
    status: 'conflict',
    conflicts: [...conflicts].map(([key, remote_version]) => ({ key, remote_version })),
  };
}

/**
 * Judges a push's deletions and manifest (F10): a deleted key must exist at its base version
 * (any version with `force`) and not be changed by the same push; the manifest's seq must
 * follow the stored one. `undefined` when the push may be applied.
 */
export function judgeDeletions(
  current: ReadonlyMap<string, number>,
  changes: readonly PushChangeRow[],
  deletions: readonly PushDeletionRow[],
  force: boolean,
  manifest: { stored: number; next: ManifestRow | undefined },
): Exclude<PushOutcome, { status: 'ok' }> | undefined {
  if (manifest.next !== undefined && manifest.next.seq !== manifest.stored + 1)
    return { status: 'manifest_conflict', seq: manifest.stored };
  const changed = new Set(changes.map((c) => c.key));
  const conflicts = deletions.filter((d) => {
    const remote = current.get(d.key);
    return remote === undefined || changed.has(d.key) || (!force && remote !== d.base_version);
  });
  if (conflicts.length === 0) return undefined;
  return {
    status: 'conflict',
    conflicts: conflicts.map((d) => ({ key: d.key, remote_version: current.get(d.key) ?? null })),
  };
}

/** The record a pushed change becomes. */
export function recordFromChange(change: PushChangeRow, input: PushPlace): RecordRow {
  return {
    workspace_id: input.workspaceId,
    project_id: input.projectId,
    environment: input.environment,
    key: change.key,
    version: change.version,
    epoch: change.epoch,
    nonce: change.nonce,
    ciphertext: change.ciphertext,
    digest: change.digest,
    updated_at: input.now.toISOString(),
    updated_by: input.userId,
  };
}

/** What presenting this refresh token means now. Revoked beats reused beats expired. */
export function refreshVerdict(
  row: RefreshRow | undefined,
  now: Date,
): 'ok' | 'reused' | 'revoked' | 'expired' | 'unknown' {
  if (row === undefined) return 'unknown';
  if (row.revoked_at !== null) return 'revoked';
  if (row.used_at !== null) return 'reused';
  if (Date.parse(row.expires_at) <= now.getTime()) return 'expired';
  return 'ok';
}

/** What makes a record the same record for a rotation. */
export type RecordIdentity = Pick<
  RecordRow,
  'workspace_id' | 'project_id' | 'environment' | 'key' | 'version'
>;

/**
 * True when a rotation re-encrypts exactly the records there are: the same keys at the same
 * versions. Anything else means a push landed meanwhile and the rotation must start over.
 */
export function sameRecordSet(
  current: readonly RecordIdentity[],
  next: readonly RecordIdentity[],
): boolean {
  const identity = (r: RecordIdentity) =>
    JSON.stringify([r.workspace_id, r.project_id, r.environment, r.key, r.version]);
  const before = new Set(current.map(identity));
  const after = new Set(next.map(identity));
  return (
    before.size === after.size &&
    after.size === next.length &&
    [...after].every((id) => before.has(id))
  );
}
