import { isAgentSecretsError } from '../core/errors.js';
import type { Services } from '../services/index.js';
import type { ResolvedSelection, ResolvedTarget } from '../workspace/selection.js';
import { targetOf, vaultSelection } from '../workspace/selection.js';
import type { KeyHolderUseCase } from './key-holder.js';

/** Where agentsecrets stands, without unlocking anything: the CLI's and MCP's `status`. */
export type StatusSnapshot =
  | { initialized: false; home: string }
  | {
      initialized: true;
      home: string;
      workspace: string | null;
      project: string | null;
      environment: string | null;
      environment_source: ResolvedSelection['sources']['environment'] | null;
      bound_folder: string | null;
      backend: string;
      secrets: number;
      unbound_secrets: string[];
      last_pull: string | null;
      last_push: string | null;
      remote: string | null;
      account: { email: string; server: string; fingerprint: string | null } | null;
      team: {
        role: string;
        key_epoch: number;
        document_seq: number;
        synced_at: string | null;
      } | null;
      proxy:
        | { running: false }
        | {
            running: true;
            pid: number;
            port: number;
            host: string;
            session_token_required: boolean;
          };
      intercept: { up: boolean; port: number | null; active_runs: number | null };
      /** Why no selection could be made (the rest still reports). */
      problem: string | null;
    };

/** The status use case. */
export interface StatusUseCase {
  /**
   * The snapshot for `target` (an MCP session's selection), or for the current selection.
   * A selection that cannot be resolved is reported as `problem`, not thrown.
   */
  snapshot(options?: { target?: ResolvedTarget }): Promise<StatusSnapshot>;
}

/** Creates the status use case. */
export function createStatusUseCase(
  services: Services,
  keyHolder: KeyHolderUseCase,
): StatusUseCase {
  async function select(target: ResolvedTarget | undefined) {
    if (target === undefined) return services.workspaces.resolve();
    const workspace = await services.workspaces.require(target.workspaceId);
    const project = workspace.projects.find((p) => p.id === target.projectId);
    if (project === undefined) return services.workspaces.resolve();
    return {
      workspace,
      project,
      environment: target.environment,
      target: targetOf(workspace, project, target.environment),
      sources: undefined,
      binding: undefined,
    };
  }

  return {
    async snapshot(options = {}) {
      const home = services.config.paths.home;
      const config = await services.workspaces.readConfig();
      if (config === undefined || !(await services.vault.exists()))
        return { initialized: false, home };
      const header = await services.vault.read();
      let selection: Awaited<ReturnType<typeof select>> | undefined;
      let problem: string | null = null;
      try {
        selection = await select(options.target);
      } catch (err) {
        if (!isAgentSecretsError(err)) throw err;
        problem = err.message;
      }
      const [records, holder, intercept] = await Promise.all([
        selection ? services.vault.list(vaultSelection(selection.target)) : [],
        keyHolder.find(),
        keyHolder.intercept(),
      ]);
      const team = selection?.workspace.team;
      return {
        initialized: true,
        home,
        workspace: selection?.workspace.name ?? null,
        project: selection?.project.name ?? null,
        environment: selection?.environment ?? null,
        environment_source: selection?.sources?.environment ?? null,
        bound_folder: selection?.binding?.path ?? null,
        backend: header.key.provider,
        secrets: records.length,
        unbound_secrets: records.filter((r) => r.binding === null).map((r) => r.key),
        last_pull: selection?.project.last_pull_at ?? null,
        last_push: selection?.project.last_push_at ?? null,
        remote: config.server_url,
        account:
          config.account === null
            ? null
            : {
                email: config.account.email,
                server: config.account.server_url,
                fingerprint: config.account.fingerprint ?? null,
              },
        team:
          team === undefined
            ? null
            : {
                role: team.role,
                key_epoch: team.epoch,
                document_seq: team.doc_seq,
                synced_at: team.synced_at,
              },
        proxy:
          holder === undefined
            ? { running: false }
            : {
                running: true,
                pid: holder.pid,
                port: holder.port,
                host: holder.host,
                session_token_required: !holder.no_session_token,
              },
        intercept,
        problem,
      };
    },
  };
}
