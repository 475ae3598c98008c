import { randomBytes } from 'node:crypto';
import { AgentSecretsError } from '../core/errors.js';
import { fromBase64, toBase64 } from '../crypto/aead.js';
import { newSigningKeyRecord, SIGNING_KEY_NAME, signingKeyPublicJwk } from '../identity/tokens.js';
import { type Workspace } from '../workspace/model.js';
import { decryptTeamRecord, encryptTeamRecord, makeGrant } from './crypto.js';
import { type WorkspaceDoc } from './doc.js';
import { printable } from './api.js';
import {
  type TeamContext,
  type RemoteMember,
  type RemoteWorkspace,
  keyName,
  teamOf,
  signed,
  me,
  remoteWorkspace,
  ownKeys,
  signedMember,
  checkPinned,
} from './team-context.js';
import { syncDoc, applyDoc } from './team-documents.js';
import { workspaceKey } from './team-join.js';
import * as wire from './wire.js';
import { rotationManifests } from './push-manifest.js';

/**
 * Removes a member (or none) and rotates the workspace key: every record is re-encrypted under
 * a new key of the next epoch, sealed to each remaining member the signed document names (with
 * the keys checked when they were confirmed), all in one request. When an admin leaves, or
 * with `newTokenKey`, the token-signing key is replaced too: tokens signed with the old one
 * stop verifying and must be issued again.
 */
export async function removeMember(
  ctx: TeamContext,
  workspace: Workspace,
  email: string | null,
  options: { newTokenKey?: boolean; onProgress?: (text: string) => void } = {},
): Promise<{
  epoch: number;
  records: number;
  removed: RemoteMember | null;
  tokenKeyReplaced: boolean;
}> {
  const current = (
    await syncDoc(ctx.services, ctx.session.api, ctx.sodium, workspace, ownKeys(ctx), ctx.vault)
  ).workspace;
  const team = teamOf(current);
  const doc = JSON.parse(team.doc.body) as WorkspaceDoc;
  const remote = await remoteWorkspace(ctx, current.id);
  const removed = email === null ? null : signedMemberOrServer(ctx, doc, remote, email);
  const active = new Set(remote.members.filter((m) => m.status === 'active').map((m) => m.id));
  const unsigned = remote.members.filter(
    (m) =>
      m.status === 'active' && m.id !== removed?.id && !doc.members.some((d) => d.user_id === m.id),
  );
  if (unsigned.length > 0)
    throw new AgentSecretsError(
      'signature_invalid',
      `the server lists member(s) the signed document does not: ${unsigned.map((m) => printable(m.email)).join(', ')}; nothing was rotated. Confirm them (\`agentsecrets workspace confirm EMAIL\`) or ask the server operator`,
    );
  const remaining = doc.members
    .filter((m) => m.user_id !== removed?.id && active.has(m.user_id))
    .map((m) => signedMember(ctx, doc, m.email));
  for (const member of remaining) checkPinned(team, member);
  const oldKey = await workspaceKey(ctx, current, team.epoch);
  const newKey = new Uint8Array(randomBytes(32));
  const epoch = team.epoch + 1;
  const { records: reencrypted, manifests } = await reencryptAll(
    ctx,
    current,
    oldKey,
    newKey,
    epoch,
    options.onProgress,
  );
  const grants = remaining.map((m) =>
    makeGrant(
      ctx.sodium,
      me(ctx),
      { userId: m.id, boxPublic: fromBase64(m.box_public) },
      { workspaceId: current.id, epoch, kind: 'workspace' },
      newKey,
    ),
  );
  const adminLeaves = removed !== null && doc.admins.some((a) => a.user_id === removed.id);
  const replaceTokenKey = adminLeaves || options.newTokenKey === true;
  doc.admins = doc.admins.filter((a) => a.user_id !== removed?.id);
  doc.members = doc.members.filter((m) => m.user_id !== removed?.id);
  const tokenKey = replaceTokenKey
    ? await newSigningKeyRecord()
    : await ctx.vault.getReserved(current.id, SIGNING_KEY_NAME);
  if (replaceTokenKey) doc.token_public_jwk = signingKeyPublicJwk(tokenKey!);
  for (const admin of remaining.filter((m) => doc.admins.some((a) => a.user_id === m.id))) {
    if (tokenKey !== undefined)
      grants.push(
        makeGrant(
          ctx.sodium,
          me(ctx),
          { userId: admin.id, boxPublic: fromBase64(admin.box_public) },
          { workspaceId: current.id, epoch, kind: 'token' },
          Buffer.from(tokenKey),
        ),
      );
  }
  doc.epoch = epoch;
  doc.seq = team.doc_seq + 1;
  doc.issued_at = new Date().toISOString();
  const next = signed(ctx, doc, team.doc.body);
  options.onProgress?.('sending the rotation');
  await ctx.session.api.call(
    'POST',
    `/v1/workspaces/${encodeURIComponent(current.id)}/rotate`,
    wire.statusResponse,
    {
      from_epoch: team.epoch,
      epoch,
      grants,
      records: reencrypted,
      doc: next,
      manifests,
      remove_user_id: removed?.id ?? null,
    },
  );
  await ctx.vault.setReserved(current.id, keyName(epoch), toBase64(newKey));
  if (replaceTokenKey) await ctx.vault.setReserved(current.id, SIGNING_KEY_NAME, tokenKey!);
  newKey.fill(0);
  oldKey.fill(0);
  await applyDoc(ctx.services, current.id, next, doc, undefined, ctx.vault);
  return { epoch, records: reencrypted.length, removed, tokenKeyReplaced: replaceTokenKey };
}

/** The member to remove: from the signed list, else (never confirmed) as the server lists them. */
function signedMemberOrServer(
  ctx: TeamContext,
  doc: WorkspaceDoc,
  remote: RemoteWorkspace,
  email: string,
): RemoteMember {
  const address = email.trim().toLowerCase();
  if (doc.members.some((m) => m.email === address)) return signedMember(ctx, doc, address);
  const listed = remote.members.find((m) => m.email === address);
  if (listed === undefined)
    throw new AgentSecretsError('not_found', `${email} is not a member of this workspace`);
  return listed;
}

/** Every record of the workspace, decrypted with the old key and sealed under the new epoch. */
async function reencryptAll(
  ctx: TeamContext,
  workspace: Workspace,
  oldKey: Uint8Array,
  newKey: Uint8Array,
  epoch: number,
  onProgress?: (text: string) => void,
) {
  const workspaceId = workspace.id;
  const served = await ctx.session.api.call(
    'GET',
    `/v1/workspaces/${encodeURIComponent(workspaceId)}/records`,
    wire.allRecordsResponse,
  );
  const { records } = served;
  onProgress?.(`re-encrypting ${records.length} record(s) under the key of epoch ${epoch}`);
  const reencrypted = records.map((r) => {
    const address = {
      workspace_id: workspaceId,
      project_id: r.project_id,
      environment: r.environment,
      key: r.key,
      version: r.version,
    };
    const value = decryptTeamRecord(ctx.sodium, oldKey, { ...address, epoch: r.epoch }, r);
    const sealed = encryptTeamRecord(ctx.sodium, newKey, { ...address, epoch }, value);
    return {
      project_id: r.project_id,
      environment: r.environment,
      key: r.key,
      version: r.version,
      ...sealed,
    };
  });
  // Every environment's push manifest, checked and signed afresh under the new epoch (F10).
  const manifests = await rotationManifests(ctx, workspace, served, reencrypted, epoch);
  return { records: reencrypted, manifests };
}
