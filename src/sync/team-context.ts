import { AgentSecretsError } from '../core/errors.js';
import { fromBase64, toBase64 } from '../crypto/aead.js';
import { loadSodium, type Sodium } from '../crypto/sodium.js';
import { signingKeyPublicJwk } from '../identity/tokens.js';
import type { Services } from '../services/index.js';
import type { UnlockedVault } from '../vault/vault.js';
import { type TeamInfo, type Workspace } from '../workspace/model.js';
import type { AccountSession } from './account.js';
import { type KeyGrant, memberFingerprint, signDoc } from './crypto.js';
import { docHash } from './chain.js';
import { type DocMember, docBody, type TrustedDoc, type WorkspaceDoc } from './doc.js';
import { type OwnKeys } from './trust.js';
import type { SignedDoc } from './wire.js';
import { printable } from './api.js';
import * as wire from './wire.js';

/**
 * Team workspaces on a sync server (DESIGN §10), from this user's side: the context every
 * team operation runs in, the server's view of a workspace, and helpers shared by the
 * document, join, membership and rotation modules.
 */

export interface TeamContext {
  services: Services;
  vault: UnlockedVault;
  session: AccountSession;
  sodium: Sodium;
}

export async function teamContext(
  services: Services,
  vault: UnlockedVault,
  session: AccountSession,
): Promise<TeamContext> {
  return { services, vault, session, sodium: await loadSodium() };
}

export interface RemoteMember {
  id: string;
  email: string;
  box_public: string;
  sign_public: string;
  fingerprint: string;
  role: 'admin' | 'member';
  status: 'pending' | 'active';
}

export interface RemoteWorkspace {
  workspace: { id: string; name: string; epoch: number };
  role: 'admin' | 'member';
  members: RemoteMember[];
  invites: { email: string; role: string; created_at: string }[];
  grants: KeyGrant[];
  doc: SignedDoc | null;
}

export const keyName = (epoch: number) => `workspace-key-${epoch}`;

export function teamOf(workspace: Workspace): TeamInfo {
  if (workspace.kind !== 'team' || workspace.team === undefined)
    throw new AgentSecretsError(
      'usage_error',
      `workspace '${workspace.name}' is local to this machine, not a team workspace; create one with \`agentsecrets workspace create NAME\``,
    );
  return workspace.team;
}

export function trustedOf(team: TeamInfo): TrustedDoc {
  const admins = (JSON.parse(team.doc.body) as WorkspaceDoc).admins;
  return { seq: team.doc_seq, body: team.doc.body, admins };
}

/** Signs `doc` as the link after `prevBody` (the head it replaces; null for the first). */
export function signed(ctx: TeamContext, doc: WorkspaceDoc, prevBody: string | null): SignedDoc {
  doc.prev_hash = prevBody === null ? null : docHash(prevBody);
  doc.signer = ctx.session.account.userId;
  const body = docBody(doc);
  return {
    body,
    signature: signDoc(ctx.sodium, ctx.session.keys.sign, body),
    signer: ctx.session.account.userId,
  };
}

export function myAdminEntry(ctx: TeamContext) {
  return {
    user_id: ctx.session.account.userId,
    email: ctx.session.account.email,
    sign_public: toBase64(ctx.session.keys.sign.publicKey),
  };
}

export function myMemberEntry(ctx: TeamContext): DocMember {
  return {
    user_id: ctx.session.account.userId,
    email: ctx.session.account.email,
    box_public: toBase64(ctx.session.keys.box.publicKey),
    sign_public: toBase64(ctx.session.keys.sign.publicKey),
  };
}

/** A fingerprint computed here from the keys themselves, never the server's say-so. */
export function fingerprintOf(
  sodium: Sodium,
  keys: { box_public: string; sign_public: string },
): string {
  return memberFingerprint(sodium, fromBase64(keys.box_public), fromBase64(keys.sign_public));
}

export function me(ctx: TeamContext) {
  return { userId: ctx.session.account.userId, sign: ctx.session.keys.sign };
}

/** The account's own fingerprint (both public keys). */
export function ownFingerprint(ctx: TeamContext): string {
  return memberFingerprint(
    ctx.sodium,
    ctx.session.keys.box.publicKey,
    ctx.session.keys.sign.publicKey,
  );
}

export async function select(ctx: TeamContext, workspaceId: string): Promise<void> {
  await ctx.services.workspaces.updateConfig((c) => ({
    ...c,
    workspace_id: workspaceId,
    project_id: null,
  }));
}

export async function remoteWorkspaces(ctx: TeamContext) {
  const { workspaces } = await ctx.session.api.call(
    'GET',
    '/v1/workspaces',
    wire.workspacesResponse,
  );
  // Everything the server names is made safe for a terminal here, once (F9).
  return workspaces.map((w) => ({
    id: printable(w.id),
    name: printable(w.name),
    epoch: w.epoch,
    role: printable(w.role),
    status: printable(w.status),
  }));
}

export async function remoteWorkspace(ctx: TeamContext, id: string): Promise<RemoteWorkspace> {
  const remote = (await await ctx.session.api.call(
    'GET',
    `/v1/workspaces/${encodeURIComponent(id)}`,
    wire.remoteWorkspaceResponse,
  )) as RemoteWorkspace;
  // Fingerprints are computed here; text from the server is made safe for a terminal.
  for (const m of remote.members) {
    m.fingerprint = fingerprintOf(ctx.sodium, m);
    m.email = printable(m.email);
    m.role = printable(m.role) as RemoteMember['role'];
    m.status = printable(m.status) as RemoteMember['status'];
  }
  for (const i of remote.invites) {
    i.email = printable(i.email);
    i.role = printable(i.role);
  }
  remote.workspace.name = printable(remote.workspace.name);
  return remote;
}

/** This account's public identity, as a signed document must name it. */
export function ownKeys(ctx: Pick<TeamContext, 'session'>): OwnKeys {
  return {
    user_id: ctx.session.account.userId,
    email: ctx.session.account.email,
    box_public: toBase64(ctx.session.keys.box.publicKey),
    sign_public: toBase64(ctx.session.keys.sign.publicKey),
  };
}

export function activeMember(remote: RemoteWorkspace, email: string): RemoteMember {
  const member = remote.members.find((m) => m.email === email.trim().toLowerCase());
  if (member === undefined || member.status !== 'active')
    throw new AgentSecretsError('not_found', `${email} is not an active member of this workspace`);
  return member;
}

/** A member as the signed document names them, with a fingerprint computed here. */
export function signedMember(ctx: TeamContext, doc: WorkspaceDoc, email: string): RemoteMember {
  const m = doc.members.find((x) => x.email === email.trim().toLowerCase());
  if (m === undefined)
    throw new AgentSecretsError(
      'not_found',
      `${email} is not in the workspace's signed member list: confirm them first (\`agentsecrets workspace confirm ${email}\`)`,
    );
  return {
    id: m.user_id,
    email: printable(m.email),
    box_public: m.box_public,
    sign_public: m.sign_public,
    fingerprint: fingerprintOf(ctx.sodium, m),
    role: doc.admins.some((a) => a.user_id === m.user_id) ? 'admin' : 'member',
    status: 'active',
  };
}

/** A member whose keys changed since this user trusted them is refused: the server may lie. */
export function checkPinned(team: TeamInfo, member: RemoteMember): void {
  const pinned = team.pinned[member.id];
  if (pinned !== undefined && pinned !== member.fingerprint)
    throw new AgentSecretsError(
      'signature_invalid',
      `the keys the server shows for ${member.email} (${member.fingerprint}) differ from the ones you trusted (${pinned}); do not proceed until you have checked with them`,
    );
}

/** Whether the token key held here is the one the signed document publishes. */
export function sameTokenKey(held: string, doc: WorkspaceDoc): boolean {
  const jwk = signingKeyPublicJwk(held);
  return doc.token_public_jwk !== null && jwk.x === doc.token_public_jwk.x;
}
