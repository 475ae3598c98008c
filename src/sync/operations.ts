import { AgentSecretsError } from '../core/errors.js';
import type { Target } from '../workspace/selection.js';
import type { Services } from '../services/index.js';
import { openAccount } from './account.js';
import * as secrets from './secrets.js';
import { teamContext } from './team.js';
import { type DiffResult, NO_REMOTE, type PullResult } from './types.js';

/**
 * `diff` and `pull` for a long-running face (the MCP server): each call unlocks the vault in
 * this process (keychain, or AGENTSECRETS_PASSPHRASE), because the account's private keys
 * are needed and never leave a process that holds the vault. A local workspace has no remote.
 */
export function createSyncOperations(services: Services) {
  async function run<T>(
    target: Target,
    none: T,
    fn: (team: Awaited<ReturnType<typeof teamContext>>, t: secrets.SyncTarget) => Promise<T>,
  ): Promise<T> {
    const workspace = (await services.workspaces.readWorkspaces()).workspaces.find(
      (w) => w.id === target.workspaceId,
    );
    if (workspace === undefined)
      throw new AgentSecretsError('workspace_not_found', 'the selected workspace no longer exists');
    if (workspace.kind !== 'team') return none;
    const project = workspace.projects.find((p) => p.id === target.projectId);
    if (project === undefined)
      throw new AgentSecretsError('project_not_found', 'the selected project no longer exists');
    const vault = await services.vault.unlock();
    try {
      const team = await teamContext(services, vault, await openAccount(services, vault));
      return await fn(team, { workspace, project, environment: target.environment });
    } finally {
      vault.close();
    }
  }
  return {
    diff: (target: Target): Promise<DiffResult> =>
      run(target, { remote_configured: false, message: NO_REMOTE, keys: [] }, (team, t) =>
        secrets.diff(team, t),
      ),
    pull: (target: Target): Promise<PullResult> =>
      run(
        target,
        { remote_configured: false, message: NO_REMOTE, pulled: [], conflicts: [], unchanged: 0 },
        (team, t) => secrets.pull(team, t, { force: false }),
      ),
  };
}
