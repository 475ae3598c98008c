import { AgentSecretsError } from '../core/errors.js';
import { nextManifest, noteSeen, requireConsistent } from './push-manifest.js';
import { freshWorkspace, recordsPath, remoteMeta, type SyncTarget } from './secrets.js';
import type { TeamContext } from './team.js';
import * as wire from './wire.js';

/**
 * Deletions that sync (issue 12, point 12): `secrets delete` in a team workspace pushes a
 * signed deletion, a tombstone in the environment's push manifest, and the server drops the
 * record. Other members' `pull` deletes the key (unless they edited it since), and `diff`
 * shows it as deleted remotely.
 */
export async function pushDeletion(
  ctx: TeamContext,
  t: SyncTarget,
  key: string,
): Promise<{ remote: boolean }> {
  if (t.workspace.kind !== 'team')
    throw new AgentSecretsError('usage_error', 'only a team workspace syncs deletions');
  t = { ...t, workspace: await freshWorkspace(ctx, t) };
  const served = await remoteMeta(ctx, t);
  requireConsistent(served.checked, `${t.project.name}/${t.environment}`);
  const record = served.map.get(key);
  if (record === undefined) return { remote: false };
  const next = nextManifest(
    ctx,
    t,
    { manifest: served.checked.manifest, records: served.records },
    [],
    [{ key, version: record.version }],
  );
  await ctx.session.api.call('POST', `${recordsPath(t)}/push`, wire.pushResponse, {
    changes: [],
    deletions: [{ key, base_version: record.version }],
    force: false,
    manifest: next.signed,
  });
  await noteSeen(ctx, t, next.seq);
  return { remote: true };
}
