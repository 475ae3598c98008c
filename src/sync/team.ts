import { randomBytes } from 'node:crypto';
import { AgentSecretsError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import { fromBase64, toBase64 } from '../crypto/aead.js';
import { loadSodium, type Sodium } from '../crypto/sodium.js';
import { createAgentStore } from '../identity/agents.js';
import { newSigningKeyRecord, SIGNING_KEY_NAME, signingKeyPublicJwk } from '../identity/tokens.js';
import type { Services } from '../services/index.js';
import type { UnlockedVault } from '../vault/vault.js';
import { defaultPolicy, type TeamInfo, type Workspace } from '../workspace/model.js';
import type { AccountSession } from './account.js';
import {
  decryptTeamRecord,
  encryptTeamRecord,
  type KeyGrant,
  makeGrant,
  memberFingerprint,
  openGrant,
  signDoc,
} from './crypto.js';
import { docHash, type SignedHeartbeat, vouchedAt, walkChain } from './chain.js';
import {
  DEFAULT_MAX_STALENESS_S,
  type DocMember,
  docBody,
  parseDocBody,
  type TrustedDoc,
  verifyDoc,
  type WorkspaceDoc,
} from './doc.js';
import {
  anchorFor,
  checkOwnKeys,
  checkTypedFingerprint,
  type DocAdmin,
  docAdmins,
  type OwnKeys,
} from './trust.js';
import type { RotateRecord, SignedDoc } from './wire.js';
import { printable } from './api.js';

/**
 * Team workspaces on a sync server (DESIGN §10), from this user's side: creating one,
 * joining, members and roles, key grants and rotation, and the signed workspace document
 * whose allowlist, policy and agents are applied here.
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

const keyName = (epoch: number) => `workspace-key-${epoch}`;

function teamOf(workspace: Workspace): TeamInfo {
  if (workspace.kind !== 'team' || workspace.team === undefined)
    throw new AgentSecretsError(
      'usage_error',
      `workspace '${workspace.name}' is local to this machine, not a team workspace; create one with \`agentsecrets workspace create NAME\``,
    );
  return workspace.team;
}

function trustedOf(team: TeamInfo): TrustedDoc {
  const admins = (JSON.parse(team.doc.body) as WorkspaceDoc).admins;
  return { seq: team.doc_seq, body: team.doc.body, admins };
}

/** Signs `doc` as the link after `prevBody` (the head it replaces; null for the first). */
function signed(ctx: TeamContext, doc: WorkspaceDoc, prevBody: string | null): SignedDoc {
  doc.prev_hash = prevBody === null ? null : docHash(prevBody);
  doc.signer = ctx.session.account.userId;
  const body = docBody(doc);
  return {
    body,
    signature: signDoc(ctx.sodium, ctx.session.keys.sign, body),
    signer: ctx.session.account.userId,
  };
}

function myAdminEntry(ctx: TeamContext) {
  return {
    user_id: ctx.session.account.userId,
    email: ctx.session.account.email,
    sign_public: toBase64(ctx.session.keys.sign.publicKey),
  };
}

function myMemberEntry(ctx: TeamContext): DocMember {
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

function me(ctx: TeamContext) {
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

/** Creates a team workspace on the server, with this user as its first admin, and selects it. */
export async function createTeamWorkspace(ctx: TeamContext, name: string): Promise<Workspace> {
  const id = randomId('ws');
  const workspaceKey = new Uint8Array(randomBytes(32));
  const signingKey = await newSigningKeyRecord();
  await ctx.vault.setReserved(id, SIGNING_KEY_NAME, signingKey);
  const now = new Date().toISOString();
  const doc: WorkspaceDoc = {
    format: 1,
    workspace_id: id,
    name,
    seq: 1,
    issued_at: now,
    prev_hash: null,
    signer: ctx.session.account.userId,
    max_staleness_s: DEFAULT_MAX_STALENESS_S,
    epoch: 1,
    admins: [myAdminEntry(ctx)],
    members: [myMemberEntry(ctx)],
    token_public_jwk: signingKeyPublicJwk(signingKey),
    allowlist: [],
    allowlist_log: [],
    policy: defaultPolicy(),
    agents: [],
  };
  const self = { userId: ctx.session.account.userId, boxPublic: ctx.session.keys.box.publicKey };
  const grants = [
    makeGrant(
      ctx.sodium,
      me(ctx),
      self,
      { workspaceId: id, epoch: 1, kind: 'workspace' },
      workspaceKey,
    ),
    makeGrant(
      ctx.sodium,
      me(ctx),
      self,
      { workspaceId: id, epoch: 1, kind: 'token' },
      Buffer.from(signingKey),
    ),
  ];
  const signedDoc = signed(ctx, doc, null);
  await ctx.session.api.call('POST', '/v1/workspaces', { id, name, grants, doc: signedDoc });
  await ctx.vault.setReserved(id, keyName(1), toBase64(workspaceKey));
  workspaceKey.fill(0);
  const workspace: Workspace = {
    id,
    name,
    kind: 'team',
    created_at: now,
    projects: [],
    allowlist: [],
    allowlist_log: [],
    policy: defaultPolicy(),
    team: {
      server_url: ctx.session.account.serverUrl,
      user_id: ctx.session.account.userId,
      role: 'admin',
      epoch: 1,
      doc: signedDoc,
      doc_seq: 1,
      synced_at: now,
      pinned: { [ctx.session.account.userId]: ownFingerprint(ctx) },
    },
  };
  await ctx.services.workspaces.putWorkspace(workspace);
  await select(ctx, id);
  return workspace;
}

async function select(ctx: TeamContext, workspaceId: string): Promise<void> {
  await ctx.services.workspaces.updateConfig((c) => ({
    ...c,
    workspace_id: workspaceId,
    project_id: null,
  }));
}

export async function remoteWorkspaces(ctx: TeamContext) {
  const { workspaces } = await ctx.session.api.call<{
    workspaces: { id: string; name: string; epoch: number; role: string; status: string }[];
  }>('GET', '/v1/workspaces');
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
  const remote = await ctx.session.api.call<RemoteWorkspace>(
    'GET',
    `/v1/workspaces/${encodeURIComponent(id)}`,
  );
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

/** Vault name (per workspace) of the admin fingerprint an invite code pinned. */
export const ADMIN_PIN_NAME = 'admin-pin';

/** How a first join is vouched for: a pinned admin fingerprint, or a human at the terminal. */
export interface JoinTrust {
  /** The inviting admin's fingerprint from an invite code (else one saved by `--invite`). */
  pin?: string;
  /** Asks the human to vouch for the signing admin (typing its fingerprint's first chars). */
  vouch?: (admin: DocAdmin) => Promise<void>;
}

/**
 * Joins (or refreshes) a team workspace this account is a confirmed member of. The first
 * time, nothing the server says is trusted (F3): the document must be signed by the admin
 * whose fingerprint an invite code pinned, or that a human vouched for at the terminal. The
 * document must name this account with its own keys (F4). Then the key grants are opened.
 */
export async function joinTeamWorkspace(
  ctx: TeamContext,
  id: string,
  trust: JoinTrust = {},
): Promise<{
  workspace: Workspace;
  newlyTrusted: { id: string; email: string; fingerprint: string }[];
}> {
  const remote = await remoteWorkspace(ctx, id);
  if (remote.doc === null)
    throw new AgentSecretsError('not_found', 'the workspace has no document yet');
  const existing = (await ctx.services.workspaces.readWorkspaces()).workspaces.find(
    (w) => w.id === id,
  );
  const trusted =
    existing?.team === undefined
      ? await firstAnchor(ctx, id, remote.doc, trust)
      : trustedOf(existing.team);
  const doc = await verifyFromAnchor(ctx, id, remote.doc, trusted);
  checkOwnKeys(ctx.sodium, doc, ownKeys(ctx), { mustBeListed: true });
  await openGrants(ctx, id, doc, remote.grants);
  const pinned = { ...(existing?.team?.pinned ?? {}) };
  // The admins as the signed document names them, with fingerprints computed here.
  const newlyTrusted: { id: string; email: string; fingerprint: string }[] = [];
  for (const admin of doc.admins) {
    const member = doc.members.find((m) => m.user_id === admin.user_id);
    if (member === undefined || pinned[member.user_id] !== undefined) continue;
    const fingerprint = fingerprintOf(ctx.sodium, member);
    pinned[member.user_id] = fingerprint;
    newlyTrusted.push({ id: member.user_id, email: printable(member.email), fingerprint });
  }
  pinned[ctx.session.account.userId] = ownFingerprint(ctx);
  const workspace = await applyDoc(ctx.services, id, remote.doc, doc, {
    server_url: ctx.session.account.serverUrl,
    user_id: ctx.session.account.userId,
    pinned,
  });
  await select(ctx, id);
  return { workspace, newlyTrusted };
}

/**
 * Verifies the head from the anchor: directly when the anchor is the head's signer, else by
 * walking the document log from the anchor's link to the head (another admin may have signed
 * since the one a human vouched for).
 */
async function verifyFromAnchor(
  ctx: TeamContext,
  id: string,
  head: SignedDoc,
  anchor: TrustedDoc,
): Promise<WorkspaceDoc> {
  if (anchor.seq === 0 || anchor.body === head.body) return verifyDoc(ctx.sodium, id, head, anchor);
  const links = await docLinks(ctx.session.api, id, anchor.seq);
  const walked = walkChain(ctx.sodium, id, anchor, links);
  if (walked === null || walked.signed.body !== head.body)
    throw new AgentSecretsError(
      'signature_invalid',
      'the workspace document log from the server does not lead from the admin you trust to the document it serves; nothing was joined. Tell a workspace admin',
    );
  return walked.doc;
}

/** Every link of the log after `after`, paging through the server's answers. */
async function docLinks(
  api: AccountSession['api'],
  id: string,
  after: number,
): Promise<SignedDoc[]> {
  const links: SignedDoc[] = [];
  for (let from = after; ;) {
    const page = await api.call<{ docs: SignedDoc[]; more: boolean }>(
      'GET',
      `/v1/workspaces/${encodeURIComponent(id)}/docs?after=${from}`,
    );
    links.push(...page.docs);
    if (!page.more || page.docs.length === 0) return links;
    from = parseDocBody(page.docs.at(-1)!.body).seq;
  }
}

/**
 * The newest link of the log signed by the admin with `fingerprint` (checked against that
 * link's own member entry, and its signature): a human vouched for that admin, so what they
 * signed is the anchor. Seq 0 (the head itself) when the head is theirs.
 */
async function pinnedLink(
  ctx: TeamContext,
  id: string,
  head: SignedDoc,
  fingerprint: string,
): Promise<TrustedDoc> {
  try {
    return anchorFor(ctx.sodium, parseDocBody(head.body), head.signer, fingerprint);
  } catch (err) {
    const links = await docLinks(ctx.session.api, id, 0);
    for (const link of [...links].reverse()) {
      let anchor: TrustedDoc;
      const doc = parseDocBody(link.body);
      try {
        anchor = anchorFor(ctx.sodium, doc, link.signer, fingerprint);
        verifyDoc(ctx.sodium, id, link, anchor);
      } catch {
        continue;
      }
      return { seq: doc.seq, body: link.body, admins: doc.admins };
    }
    throw err;
  }
}

/** The anchor of a first join: the pinned admin, or the one a human vouched for. */
async function firstAnchor(
  ctx: TeamContext,
  id: string,
  incoming: SignedDoc,
  trust: JoinTrust,
): Promise<TrustedDoc> {
  const doc = parseDocBody(incoming.body);
  // Signed by this very account (its own key, opened with the password and secret key
  // here): an admin's second device needs no one else's word.
  if (incoming.signer === ctx.session.account.userId)
    return anchorFor(ctx.sodium, doc, incoming.signer, ownFingerprint(ctx));
  const pin = trust.pin ?? (await ctx.vault.getReserved(id, ADMIN_PIN_NAME));
  if (pin !== undefined) return pinnedLink(ctx, id, incoming, pin);
  const signer = docAdmins(ctx.sodium, doc).find((a) => a.user_id === incoming.signer);
  if (signer === undefined || trust.vouch === undefined)
    throw new AgentSecretsError(
      'needs_terminal',
      "joining a team workspace the first time needs the invite code from its admin (`agentsecrets workspace join CODE`), or a human at a terminal to check the admin's key fingerprint",
    );
  await trust.vouch(signer);
  return anchorFor(ctx.sodium, doc, incoming.signer, signer.fingerprint);
}

/**
 * Opens every grant to this user whose key is not yet in the vault. The token-signing key is
 * the same at every epoch (re-granted on rotation), so one opened grant of it is enough. A
 * grant is opened only if an admin of the verified document signed it.
 */
async function openGrants(
  ctx: TeamContext,
  id: string,
  doc: WorkspaceDoc,
  grants: readonly KeyGrant[],
): Promise<void> {
  for (const grant of grants) {
    if (grant.user_id !== ctx.session.account.userId) continue;
    const name = grant.kind === 'workspace' ? keyName(grant.epoch) : SIGNING_KEY_NAME;
    const held = await ctx.vault.getReserved(id, name);
    if (held !== undefined && (grant.kind === 'workspace' || sameTokenKey(held, doc))) continue;
    if (
      grant.kind === 'token' &&
      grants.some((g) => g.kind === 'token' && g.user_id === grant.user_id && g.epoch > grant.epoch)
    )
      continue; // an older token key: only the newest grant counts
    const granter = doc.admins.find((a) => a.user_id === grant.granted_by);
    if (granter === undefined) continue; // from an admin no longer in office: a newer grant exists
    const key = openGrant(ctx.sodium, grant, fromBase64(granter.sign_public), ctx.session.keys.box);
    const value = grant.kind === 'workspace' ? toBase64(key) : Buffer.from(key).toString('utf8');
    key.fill(0);
    await ctx.vault.setReserved(id, name, value);
  }
}

/**
 * Applies a verified document here: the workspace's allowlist, policy, name and team state,
 * and its agents in agents.json. Other workspaces are left alone.
 */
export async function applyDoc(
  services: Services,
  id: string,
  signedDoc: SignedDoc,
  doc: WorkspaceDoc,
  identity?: { server_url: string; user_id: string; pinned: Record<string, string> },
): Promise<Workspace> {
  const now = new Date().toISOString();
  const existing = (await services.workspaces.readWorkspaces()).workspaces.find((w) => w.id === id);
  const base = identity ?? existing?.team;
  if (base === undefined)
    throw new AgentSecretsError('workspace_not_found', 'unknown team workspace');
  const workspace: Workspace = {
    id,
    name: printable(doc.name),
    kind: 'team',
    created_at: existing?.created_at ?? now,
    projects: existing?.projects ?? [],
    allowlist: doc.allowlist,
    allowlist_log: doc.allowlist_log,
    policy: doc.policy,
    team: {
      server_url: base.server_url,
      user_id: base.user_id,
      role: doc.admins.some((a) => a.user_id === base.user_id) ? 'admin' : 'member',
      epoch: doc.epoch,
      doc: signedDoc,
      doc_seq: doc.seq,
      synced_at: now,
      pinned: identity?.pinned ?? existing?.team?.pinned ?? {},
    },
  };
  await services.workspaces.putWorkspace(workspace);
  await createAgentStore(services.config.paths).update((file) => {
    file.agents = [...file.agents.filter((a) => a.workspace_id !== id), ...doc.agents];
  });
  return workspace;
}

/**
 * Fetches the current document; if it is newer than the one in use and verifies, applies it.
 * Returns whether it changed. Throws `signature_invalid` (the cached copy stays) if not.
 */
export async function syncDoc(
  services: Services,
  api: AccountSession['api'],
  sodium: Sodium,
  workspace: Workspace,
  self?: OwnKeys,
): Promise<{ changed: boolean; workspace: Workspace }> {
  const team = teamOf(workspace);
  const id = encodeURIComponent(workspace.id);
  const answer = await api.call<{
    unchanged?: boolean;
    doc?: SignedDoc;
    seq: number;
    heartbeats?: SignedHeartbeat[];
  }>('GET', `/v1/workspaces/${id}/doc?since=${team.doc_seq}`);
  let head = { signed: team.doc, doc: parseDocBody(team.doc.body) };
  let changed = false;
  if (answer.unchanged !== true && answer.doc !== undefined) {
    // Walk every link from the one trusted here (F6), not only the newest.
    const links: SignedDoc[] = [];
    for (let after = team.doc_seq; ;) {
      const page = await api.call<{ docs: SignedDoc[]; more: boolean }>(
        'GET',
        `/v1/workspaces/${id}/docs?after=${after}`,
      );
      links.push(...page.docs);
      if (!page.more || page.docs.length === 0) break;
      after = parseDocBody(page.docs.at(-1)!.body).seq;
    }
    const walked = walkChain(sodium, workspace.id, trustedOf(team), links);
    if (walked === null || walked.signed.body !== answer.doc.body) {
      // No newer link, or a log that does not end at the head served: judge the head alone
      // (same seq and body is fine; anything else is refused).
      verifyDoc(sodium, workspace.id, answer.doc, trustedOf(team));
      if (answer.doc.body !== team.doc.body)
        throw new AgentSecretsError(
          'signature_invalid',
          `the workspace document log from the server does not lead to the document it serves (seq ${answer.seq}); the cached copy stays in force. Tell a workspace admin`,
        );
    } else {
      if (self !== undefined) checkOwnKeys(sodium, walked.doc, self, { mustBeListed: false });
      head = walked;
      changed = true;
    }
  }
  const vouched = vouchedAt(
    sodium,
    { doc: head.doc, body: head.signed.body },
    answer.heartbeats ?? [],
  );
  const known = Date.parse(team.heartbeat_at ?? '') || 0;
  if (!changed && (vouched === null || vouched <= known)) return { changed: false, workspace };
  const applied = changed
    ? await applyDoc(services, workspace.id, head.signed, head.doc)
    : workspace;
  if (vouched === null) return { changed, workspace: applied };
  const at = new Date(vouched).toISOString();
  await services.workspaces.updateWorkspace(workspace.id, (w) => {
    if (w.team !== undefined) w.team.heartbeat_at = at;
  });
  return { changed, workspace: { ...applied, team: { ...applied.team!, heartbeat_at: at } } };
}

/**
 * Changes the signed document: syncs first, applies `change` to a copy, signs it as the next
 * seq and sends it; retries once if another admin moved it meanwhile. Applies it here too.
 */
export async function updateDoc(
  ctx: TeamContext,
  workspace: Workspace,
  change: (doc: WorkspaceDoc) => void,
): Promise<Workspace> {
  for (let attempt = 0; ; attempt++) {
    const current = (
      await syncDoc(ctx.services, ctx.session.api, ctx.sodium, workspace, ownKeys(ctx))
    ).workspace;
    const team = teamOf(current);
    if (team.role !== 'admin')
      throw new AgentSecretsError(
        'forbidden',
        `only an admin of workspace '${current.name}' can change this; ask one of its admins`,
      );
    const doc = JSON.parse(team.doc.body) as WorkspaceDoc;
    change(doc);
    doc.seq = team.doc_seq + 1;
    doc.issued_at = new Date().toISOString();
    const next = signed(ctx, doc, team.doc.body);
    try {
      await ctx.session.api.call('PUT', `/v1/workspaces/${encodeURIComponent(current.id)}/doc`, {
        doc: next,
      });
    } catch (err) {
      if (attempt === 0 && err instanceof AgentSecretsError && err.code === 'conflict') {
        workspace = current;
        continue;
      }
      throw err;
    }
    return applyDoc(ctx.services, current.id, next, doc);
  }
}

/** The workspace key of `epoch`, opening its grant from the server if needed. */
export async function workspaceKey(
  ctx: TeamContext,
  workspace: Workspace,
  epoch: number,
): Promise<Uint8Array> {
  const stored = await ctx.vault.getReserved(workspace.id, keyName(epoch));
  if (stored !== undefined) return fromBase64(stored);
  const team = teamOf(workspace);
  const { grants } = await ctx.session.api.call<{ grants: KeyGrant[] }>(
    'GET',
    `/v1/workspaces/${encodeURIComponent(workspace.id)}/grants`,
  );
  await openGrants(ctx, workspace.id, JSON.parse(team.doc.body) as WorkspaceDoc, grants);
  const opened = await ctx.vault.getReserved(workspace.id, keyName(epoch));
  if (opened === undefined)
    throw new AgentSecretsError(
      'forbidden',
      `you hold no key of epoch ${epoch} for workspace '${workspace.name}': an admin must confirm you (\`agentsecrets workspace confirm <your email>\`)`,
    );
  return fromBase64(opened);
}

/** Invites an email; returns whether the person has an account (then a fingerprint). */
export async function invite(
  ctx: TeamContext,
  workspace: Workspace,
  email: string,
): Promise<{ status: 'pending' | 'invited' | 'already_member'; user: RemoteMember | null }> {
  teamOf(workspace);
  const result = await ctx.session.api.call<{
    status: 'pending' | 'invited' | 'already_member';
    user: RemoteMember | null;
  }>('POST', `/v1/workspaces/${encodeURIComponent(workspace.id)}/invites`, { email });
  if (result.user !== null) {
    result.user.fingerprint = fingerprintOf(ctx.sodium, result.user);
    result.user.email = printable(result.user.email);
  }
  return result;
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
    { grants },
  );
  await ctx.services.workspaces.updateWorkspace(current.id, (w) => {
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
    await syncDoc(ctx.services, ctx.session.api, ctx.sodium, workspace, ownKeys(ctx))
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
    {
      role,
      grants,
      doc: next,
    },
  );
  await applyDoc(ctx.services, current.id, next, doc);
  await ctx.services.workspaces.updateWorkspace(current.id, (w) => {
    if (w.team !== undefined) w.team.pinned[member.id] = member.fingerprint;
  });
  return member;
}

function activeMember(remote: RemoteWorkspace, email: string): RemoteMember {
  const member = remote.members.find((m) => m.email === email.trim().toLowerCase());
  if (member === undefined || member.status !== 'active')
    throw new AgentSecretsError('not_found', `${email} is not an active member of this workspace`);
  return member;
}

/** A member as the signed document names them, with a fingerprint computed here. */
function signedMember(ctx: TeamContext, doc: WorkspaceDoc, email: string): RemoteMember {
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
function checkPinned(team: TeamInfo, member: RemoteMember): void {
  const pinned = team.pinned[member.id];
  if (pinned !== undefined && pinned !== member.fingerprint)
    throw new AgentSecretsError(
      'signature_invalid',
      `the keys the server shows for ${member.email} (${member.fingerprint}) differ from the ones you trusted (${pinned}); do not proceed until you have checked with them`,
    );
}

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
    await syncDoc(ctx.services, ctx.session.api, ctx.sodium, workspace, ownKeys(ctx))
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
  const reencrypted = await reencryptAll(
    ctx,
    current.id,
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
  await ctx.session.api.call('POST', `/v1/workspaces/${encodeURIComponent(current.id)}/rotate`, {
    from_epoch: team.epoch,
    epoch,
    grants,
    records: reencrypted,
    doc: next,
    remove_user_id: removed?.id ?? null,
  });
  await ctx.vault.setReserved(current.id, keyName(epoch), toBase64(newKey));
  if (replaceTokenKey) await ctx.vault.setReserved(current.id, SIGNING_KEY_NAME, tokenKey!);
  newKey.fill(0);
  oldKey.fill(0);
  await applyDoc(ctx.services, current.id, next, doc);
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
  workspaceId: string,
  oldKey: Uint8Array,
  newKey: Uint8Array,
  epoch: number,
  onProgress?: (text: string) => void,
) {
  const { records } = await ctx.session.api.call<{ records: (RotateRecord & { epoch: number })[] }>(
    'GET',
    `/v1/workspaces/${encodeURIComponent(workspaceId)}/records`,
  );
  onProgress?.(`re-encrypting ${records.length} record(s) under the key of epoch ${epoch}`);
  return records.map((r) => {
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
}

/** Whether the token key held here is the one the signed document publishes. */
function sameTokenKey(held: string, doc: WorkspaceDoc): boolean {
  const jwk = signingKeyPublicJwk(held);
  return doc.token_public_jwk !== null && jwk.x === doc.token_public_jwk.x;
}
