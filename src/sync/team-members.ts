import { AgentSecretsError } from '../core/errors.js';
import { fromBase64 } from '../crypto/aead.js';
import { SIGNING_KEY_NAME } from '../identity/tokens.js';
import { type Workspace } from '../workspace/model.js';
import { type KeyGrant, makeGrant } from './crypto.js';
import { type WorkspaceDoc } from './doc.js';
import { checkTypedFingerprint } from './trust.js';
import { printable } from './api.js';
import {
  type TeamContext,
  type RemoteMember,
  teamOf,
  signed,
  fingerprintOf,
  me,
  remoteWorkspace,
  ownKeys,
  activeMember,
  signedMember,
  checkPinned,
} from './team-context.js';
import { syncDoc, updateDoc, applyDoc, sealDeps } from './team-documents.js';
import { sealedWorkspaceChange } from '../strict/documents.js';
import { workspaceKey } from './team-join.js';
import * as wire from './wire.js';

/** Inviting, confirming and promoting members of a team workspace. */

/** Invites an email; returns whether the person has an account (then a fingerprint). */
export async function invite(
  ctx: TeamContext,
  workspace: Workspace,
  email: string,
  secretHash: string,
): Promise<{ status: 'pending' | 'invited' | 'already_member'; user: RemoteMember | null }> {
  teamOf(workspace);
  const result = (await ctx.session.api.call(
    'POST',
    `/v1/workspaces/${encodeURIComponent(workspace.id)}/invites`,
    wire.inviteResponse,
    { email, secret_hash: secretHash },
  )) as { status: 'pending' | 'invited' | 'already_member'; user: RemoteMember | null };
  if (result.user !== null) {
    result.user.fingerprint = fingerprintOf(ctx.sodium, result.user);
    result.user.email = printable(result.user.email);
  }
  return result;
}

/**
 * Presents an invite code's one-time secret to the server, which burns it (issue 12, point 4).
 * Returns false when the invitation has no unused secret (accepted already, by this account):
 * nothing to do. A wrong secret is refused by the server (`forbidden`).
 */
export async function acceptInvite(
  ctx: TeamContext,
  workspaceId: string,
  secret: string,
): Promise<boolean> {
  try {
    await ctx.session.api.call(
      'POST',
      `/v1/workspaces/${encodeURIComponent(workspaceId)}/accept`,
      wire.statusResponse,
      { secret },
    );
    return true;
  } catch (err) {
    if (err instanceof AgentSecretsError && err.code === 'conflict') return false;
    throw err;
  }
}

/** The pending member with this email, for an admin to check the fingerprint before confirming. */
export async function pendingMember(
  ctx: TeamContext,
  workspace: Workspace,
  email: string,
): Promise<RemoteMember> {
  const remote = await remoteWorkspace(ctx, workspace.id);
  const member = remote.members.find((m) => m.email === email.trim().toLowerCase());
  if (member === undefined || member.status !== 'pending')
    throw new AgentSecretsError(
      'not_found',
      `${email} is not waiting for confirmation: they need an invite (\`agentsecrets workspace invite ${email}\`) and an account (\`agentsecrets signup\`)`,
    );
  return member;
}

/** Seals the current workspace key (and, for an admin, the token key) to a pending member. */
export async function confirm(
  ctx: TeamContext,
  workspace: Workspace,
  member: RemoteMember,
  typedFingerprint: string,
): Promise<void> {
  // The human typed what the invitee reads on their own machine; the server's keys must match.
  checkTypedFingerprint(typedFingerprint, fingerprintOf(ctx.sodium, member), member.email);
  // First the signed document names the member with the keys the human just checked; only
  // then is the key sealed to them. Rotations seal only to members the document names.
  const current = await updateDoc(ctx, workspace, (doc) => {
    doc.members = doc.members.filter((m) => m.user_id !== member.id);
    doc.members.push({
      user_id: member.id,
      email: member.email,
      box_public: member.box_public,
      sign_public: member.sign_public,
    });
  });
  const team = teamOf(current);
  const key = await workspaceKey(ctx, current, team.epoch);
  const to = { userId: member.id, boxPublic: fromBase64(member.box_public) };
  const grants = [
    makeGrant(
      ctx.sodium,
      me(ctx),
      to,
      { workspaceId: current.id, epoch: team.epoch, kind: 'workspace' },
      key,
    ),
  ];
  key.fill(0);
  await ctx.session.api.call(
    'POST',
    `/v1/workspaces/${encodeURIComponent(current.id)}/members/${encodeURIComponent(member.id)}/confirm`,
    wire.statusResponse,
    { grants },
  );
  await sealedWorkspaceChange(sealDeps(ctx.services), ctx.vault, current.id, (w) => {
    if (w.team !== undefined) w.team.pinned[member.id] = member.fingerprint;
  });
}

/** Promotes or demotes an active member: a new signed document, and the token key for an admin. */
export async function setRole(
  ctx: TeamContext,
  workspace: Workspace,
  email: string,
  role: 'admin' | 'member',
): Promise<RemoteMember> {
  const current = (
    await syncDoc(ctx.services, ctx.session.api, ctx.sodium, workspace, ownKeys(ctx), ctx.vault)
  ).workspace;
  const team = teamOf(current);
  const remote = await remoteWorkspace(ctx, current.id);
  activeMember(remote, email);
  const doc = JSON.parse(team.doc.body) as WorkspaceDoc;
  const member = signedMember(ctx, doc, email);
  checkPinned(team, member);
  doc.admins = doc.admins.filter((a) => a.user_id !== member.id);
  if (role === 'admin')
    doc.admins.push({ user_id: member.id, email: member.email, sign_public: member.sign_public });
  doc.seq = team.doc_seq + 1;
  doc.issued_at = new Date().toISOString();
  const grants: KeyGrant[] = [];
  if (role === 'admin') {
    const signingKey = await ctx.vault.getReserved(current.id, SIGNING_KEY_NAME);
    if (signingKey === undefined)
      throw new AgentSecretsError(
        'forbidden',
        'this machine does not hold the workspace token key',
      );
    grants.push(
      makeGrant(
        ctx.sodium,
        me(ctx),
        { userId: member.id, boxPublic: fromBase64(member.box_public) },
        { workspaceId: current.id, epoch: team.epoch, kind: 'token' },
        Buffer.from(signingKey),
      ),
    );
  }
  const next = signed(ctx, doc, team.doc.body);
  await ctx.session.api.call(
    'POST',
    `/v1/workspaces/${encodeURIComponent(current.id)}/members/${encodeURIComponent(member.id)}/role`,
    wire.statusResponse,
    {
      role,
      grants,
      doc: next,
    },
  );
  await applyDoc(ctx.services, current.id, next, doc, undefined, ctx.vault);
  await sealedWorkspaceChange(sealDeps(ctx.services), ctx.vault, current.id, (w) => {
    if (w.team !== undefined) w.team.pinned[member.id] = member.fingerprint;
  });
  return member;
}
