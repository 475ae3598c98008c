import { sealedAgentsChange, sealedWorkspaceChange } from '../strict/documents.js';
import { type AgentsFile, createAgentStore } from '../identity/agents.js';
import { openAccount } from '../sync/account.js';
import { type TeamContext, teamContext, updateDoc } from '../sync/team.js';
import type { UnlockedVault } from '../vault/vault.js';
import type { Project, Workspace } from '../workspace/model.js';
import type { CliContext } from './context.js';

/**
 * Runs `fn` with the signed-in account and an unlocked vault (in this process: the account's
 * private keys never leave it). `vault` reuses one the caller already unlocked.
 */
export async function withTeam<T>(
  ctx: CliContext,
  fn: (team: TeamContext) => Promise<T>,
  vault?: UnlockedVault,
): Promise<T> {
  const services = ctx.services();
  const unlocked = vault ?? (await services.vault.unlock());
  try {
    return await fn(await teamContext(services, unlocked, await openAccount(services, unlocked)));
  } finally {
    if (vault === undefined) unlocked.close();
  }
}

/**
 * `secrets delete` in a team workspace: pushes a signed deletion (a tombstone) before the key
 * is deleted here, so the next pull does not bring it back. False when the server never had
 * the key. Fails (nothing deleted) when the server cannot be reached.
 */
export async function pushSecretDeletion(
  ctx: CliContext,
  target: { workspace: Workspace; project: Project; environment: string },
  key: string,
  vault?: UnlockedVault,
): Promise<boolean> {
  const { pushDeletion } = await import('../sync/tombstones.js');
  return withTeam(ctx, async (team) => (await pushDeletion(team, target, key)).remote, vault);
}

/**
 * Changes a workspace's allowlist or policy: in workspaces.json for a local workspace; for a
 * team workspace, as a new signed workspace document on the server (admins only), which every
 * member's proxy then picks up.
 */
export async function changeWorkspace(
  ctx: CliContext,
  workspace: Workspace,
  change: (w: Workspace) => void,
): Promise<void> {
  if (workspace.kind !== 'team') {
    if (!(await ctx.strict())) {
      await ctx.services().workspaces.updateWorkspace(workspace.id, change);
      return;
    }
    // Strict mode: the change is sealed under the vault's key (the gate has the passphrase).
    const services = ctx.services();
    const vault = await services.vault.unlock();
    try {
      await sealedWorkspaceChange(
        { paths: ctx.config.paths, workspaces: services.workspaces, vault: services.vault },
        vault,
        workspace.id,
        change,
      );
    } finally {
      vault.close();
    }
    return;
  }
  await withTeam(ctx, (team) =>
    updateDoc(team, workspace, (doc) => {
      const view: Workspace = {
        ...workspace,
        allowlist: doc.allowlist,
        allowlist_log: doc.allowlist_log,
        policy: doc.policy,
      };
      change(view);
      doc.allowlist = view.allowlist;
      doc.allowlist_log = view.allowlist_log;
      doc.policy = view.policy;
    }),
  );
}

/** Changes agents (and their tokens' metadata) the same way: agents.json, or the signed doc. */
export async function changeAgents(
  ctx: CliContext,
  workspace: Workspace,
  change: (file: AgentsFile) => void,
  vault?: UnlockedVault,
): Promise<void> {
  if (workspace.kind !== 'team') {
    await updateLocalAgents(ctx, change, vault);
    return;
  }
  await withTeam(
    ctx,
    (team) =>
      updateDoc(team, workspace, (doc) => {
        const file: AgentsFile = { format: 1, agents: doc.agents };
        change(file);
        doc.agents = file.agents.filter((a) => a.workspace_id === workspace.id);
      }),
    vault,
  );
}

/** Changes agents.json of local workspaces; sealed in strict mode (needs the unlocked vault). */
export async function updateLocalAgents(
  ctx: CliContext,
  change: (file: AgentsFile) => void,
  vault?: UnlockedVault,
): Promise<void> {
  if (!(await ctx.strict())) {
    await createAgentStore(ctx.config.paths).update(change);
    return;
  }
  const services = ctx.services();
  const unlocked = vault ?? (await services.vault.unlock());
  try {
    await sealedAgentsChange(
      { paths: ctx.config.paths, workspaces: services.workspaces, vault: services.vault },
      unlocked,
      change,
    );
  } finally {
    if (vault === undefined) unlocked.close();
  }
}
