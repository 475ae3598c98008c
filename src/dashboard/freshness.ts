import { formatAge, signedFreshness } from '../sync/chain.js';
import type { Workspace } from '../workspace/model.js';

/**
 * Team freshness on the Overview (issue 16), from what `agentsecrets status` reads (the
 * workspace's `team.synced_at`) and what the key holder enforces (`sync_stale`: nothing an
 * admin signed, the document or a heartbeat, is newer than the workspace's max staleness).
 */
export type TeamFreshness =
  | { kind: 'local'; workspace: string }
  | {
      kind: 'team';
      workspace: string;
      /** The last successful sync (status's `synced`), null when never. */
      syncedAt: string | null;
      syncedAge: string | null;
      /** The newest thing an admin signed (the document's issue time or a heartbeat). */
      signedAt: string | null;
      signedAge: string | null;
      limit: string | null;
      /** Agent tokens are refused (`sync_stale`) until a newer signed document or heartbeat. */
      stale: boolean;
      /** Why the signed document could not be read, if it could not. */
      problem: string | null;
    };

/** The freshness of `workspace` at `now` (ms). */
export function teamFreshness(workspace: Workspace, now: number): TeamFreshness {
  const team = workspace.team;
  if (workspace.kind !== 'team' || team === undefined)
    return { kind: 'local', workspace: workspace.name };
  const synced = Date.parse(team.synced_at ?? '');
  const base = {
    kind: 'team' as const,
    workspace: workspace.name,
    syncedAt: Number.isFinite(synced) ? new Date(synced).toISOString() : null,
    syncedAge: Number.isFinite(synced) ? formatAge(now - synced) : null,
  };
  try {
    const { at, limitMs } = signedFreshness(team);
    return {
      ...base,
      signedAt: at > 0 ? new Date(at).toISOString() : null,
      signedAge: at > 0 ? formatAge(now - at) : null,
      limit: formatAge(limitMs),
      stale: now - at > limitMs,
      problem: null,
    };
  } catch (err) {
    // The same document the key holder judges calls by: if it does not parse, calls fail too.
    return {
      ...base,
      signedAt: null,
      signedAge: null,
      limit: null,
      stale: true,
      problem: err instanceof Error ? err.message : String(err),
    };
  }
}
