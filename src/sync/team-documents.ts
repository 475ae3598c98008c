import { AgentSecretsError } from '../core/errors.js';
import { type Sodium } from '../crypto/sodium.js';
import { type AgentsFile, createAgentStore } from '../identity/agents.js';
import { type SealDeps, sealedTeamApply } from '../strict/documents.js';
import type { UnlockedVault } from '../vault/vault.js';
import type { Services } from '../services/index.js';
import { type Workspace } from '../workspace/model.js';
import type { AccountSession } from './account.js';
import { vouchedAt, walkChain } from './chain.js';
import { parseDocBody, verifyDoc, type WorkspaceDoc } from './doc.js';
import { checkOwnKeys, type OwnKeys } from './trust.js';
import type { SignedDoc } from './wire.js';
import { printable } from './api.js';
import { type TeamContext, teamOf, trustedOf, signed, ownKeys } from './team-context.js';
import * as wire from './wire.js';

/** Every link of the log after `after`, paging through the server's answers. */
export async function docLinks(
  api: AccountSession['api'],
  id: string,
  after: number,
): Promise<SignedDoc[]> {
  const links: SignedDoc[] = [];
  for (let from = after; ;) {
    const page = await api.call(
      'GET',
      `/v1/workspaces/${encodeURIComponent(id)}/docs?after=${from}`,
      wire.docsResponse,
    );
    links.push(...page.docs);
    if (!page.more || page.docs.length === 0) return links;
    from = parseDocBody(page.docs.at(-1)!.body).seq;
  }
}

/** What the sealed writers of src/strict need from the services. */
export function sealDeps(services: Services): SealDeps {
  return { paths: services.config.paths, workspaces: services.workspaces, vault: services.vault };
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
  vault?: UnlockedVault,
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
  const agents = (file: AgentsFile) => {
    file.agents = [...file.agents.filter((a) => a.workspace_id !== id), ...doc.agents];
  };
  if (vault !== undefined) {
    // The rights copied here are sealed (strict mode reads nothing else), by a process that
    // verified the document and holds the vault key.
    await sealedTeamApply(sealDeps(services), vault, { workspace, agents });
  } else {
    const header = (await services.vault.read()).key;
    if ('strict' in header && header.strict === true)
      throw new AgentSecretsError(
        'strict_mode',
        'strict mode: a team document is applied only by a process holding the unlocked vault (the key holder, or `agentsecrets pull` at your terminal)',
      );
    await services.workspaces.putWorkspace(workspace);
    await createAgentStore(services.config.paths).update(agents);
  }
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
  vault?: UnlockedVault,
): Promise<{ changed: boolean; workspace: Workspace }> {
  const team = teamOf(workspace);
  const id = encodeURIComponent(workspace.id);
  const answer = await api.call(
    'GET',
    `/v1/workspaces/${id}/doc?since=${team.doc_seq}`,
    wire.docResponse,
  );
  let head = { signed: team.doc, doc: parseDocBody(team.doc.body) };
  let changed = false;
  if (answer.unchanged !== true && answer.doc !== undefined) {
    // Walk every link from the one trusted here (F6), not only the newest.
    const links = await docLinks(api, workspace.id, team.doc_seq);
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
    ? await applyDoc(services, workspace.id, head.signed, head.doc, undefined, vault)
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
      await syncDoc(ctx.services, ctx.session.api, ctx.sodium, workspace, ownKeys(ctx), ctx.vault)
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
      await ctx.session.api.call(
        'PUT',
        `/v1/workspaces/${encodeURIComponent(current.id)}/doc`,
        wire.statusResponse,
        {
          doc: next,
        },
      );
    } catch (err) {
      if (attempt === 0 && err instanceof AgentSecretsError && err.code === 'conflict') {
        workspace = current;
        continue;
      }
      throw err;
    }
    return applyDoc(ctx.services, current.id, next, doc, undefined, ctx.vault);
  }
}
