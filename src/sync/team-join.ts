import { randomBytes } from 'node:crypto';
import { AgentSecretsError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import { fromBase64, toBase64 } from '../crypto/aead.js';
import { newSigningKeyRecord, SIGNING_KEY_NAME, signingKeyPublicJwk } from '../identity/tokens.js';
import { defaultPolicy, type Workspace } from '../workspace/model.js';
import { type KeyGrant, makeGrant, openGrant } from './crypto.js';
import { walkChain } from './chain.js';
import {
  DEFAULT_MAX_STALENESS_S,
  parseDocBody,
  type TrustedDoc,
  verifyDoc,
  type WorkspaceDoc,
} from './doc.js';
import { anchorFor, checkOwnKeys, type DocAdmin, docAdmins } from './trust.js';
import type { SignedDoc } from './wire.js';
import { printable } from './api.js';
import {
  type TeamContext,
  keyName,
  teamOf,
  trustedOf,
  signed,
  myAdminEntry,
  myMemberEntry,
  fingerprintOf,
  me,
  ownFingerprint,
  select,
  remoteWorkspace,
  ownKeys,
  sameTokenKey,
} from './team-context.js';
import { applyDoc, docLinks, sealDeps } from './team-documents.js';
import { sealedTeamApply } from '../strict/documents.js';
import * as wire from './wire.js';

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
  await ctx.session.api.call('POST', '/v1/workspaces', wire.createWorkspaceResponse, {
    id,
    name,
    grants,
    doc: signedDoc,
  });
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
  // Sealed like every team workspace's rights (read by strict mode).
  await sealedTeamApply(sealDeps(ctx.services), ctx.vault, { workspace, agents: () => undefined });
  await select(ctx, id);
  return workspace;
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
  const workspace = await applyDoc(
    ctx.services,
    id,
    remote.doc,
    doc,
    {
      server_url: ctx.session.account.serverUrl,
      user_id: ctx.session.account.userId,
      pinned,
    },
    ctx.vault,
  );
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
export async function openGrants(
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

/** The workspace key of `epoch`, opening its grant from the server if needed. */
export async function workspaceKey(
  ctx: TeamContext,
  workspace: Workspace,
  epoch: number,
): Promise<Uint8Array> {
  const stored = await ctx.vault.getReserved(workspace.id, keyName(epoch));
  if (stored !== undefined) return fromBase64(stored);
  const team = teamOf(workspace);
  const { grants } = await ctx.session.api.call(
    'GET',
    `/v1/workspaces/${encodeURIComponent(workspace.id)}/grants`,
    wire.grantsResponse,
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
