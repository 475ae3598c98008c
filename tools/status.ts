import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import { AgentSecretsError } from '../src/core/errors.js';
import type { ToolContext } from '../src/mcp/context.js';
import { result } from '../src/mcp/results.js';

const outputSchema = {
  workspace: z.string().describe('Workspace name'),
  project: z.string().describe('Selected project'),
  environment: z.string().describe('Selected environment'),
  backend: z.string().describe('Where the vault key lives: keychain or passphrase'),
  secrets: z.number().describe('Number of secrets in the project and environment'),
  unbound_secrets: z.array(z.string()).describe('Secrets not bound to any domain'),
  last_pull: z.string().nullable().describe('Last pull from the remote (ISO), or null if never'),
  last_push: z.string().nullable().describe('Last push to the remote (ISO), or null if never'),
  remote_configured: z.boolean().describe('Whether a sync server is configured'),
  proxy_running: z.boolean().describe('Whether the local proxy (key holder) runs'),
  intercepting_proxy: z
    .object({
      up: z.boolean().describe('Whether the key holder serves the intercepting proxy for `run`'),
      active_runs: z
        .number()
        .nullable()
        .describe('How many `agentsecrets run` children it serves now (null when not up)'),
    })
    .describe('The intercepting HTTPS proxy behind `agentsecrets run`'),
  identity: z
    .object({
      name: z.string().nullable().describe('Agent name, or null when anonymous'),
      level: z
        .enum(['anonymous', 'declared', 'issued'])
        .describe('declared = a claimed name; issued = a verified token'),
    })
    .describe("This session's identity"),
};

/** Registers `status`. */
export function registerStatusTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    'status',
    {
      title: 'agentsecrets status',
      description:
        'Where agentsecrets stands: workspace, project, environment, how many secrets exist (names only, via `list`), sync state, whether the proxy runs, and who this session is. Call this first.',
      inputSchema: {},
      outputSchema,
      annotations: {
        readOnlyHint: true,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    ctx.guard(async () => {
      const target = await ctx.target();
      const [snapshot, caller] = await Promise.all([
        ctx.app.status.snapshot({ target }),
        ctx.app.calls.identify(ctx.identity(), target.workspaceId),
      ]);
      if (!snapshot.initialized) {
        throw new AgentSecretsError(
          'not_initialized',
          'agentsecrets is not set up yet: ask the human to run `agentsecrets init`',
        );
      }
      const structured = {
        workspace: target.workspaceName,
        project: target.projectName,
        environment: target.environment,
        backend: snapshot.backend,
        secrets: snapshot.secrets,
        unbound_secrets: snapshot.unbound_secrets,
        last_pull: snapshot.last_pull,
        last_push: snapshot.last_push,
        remote_configured: snapshot.remote !== null,
        proxy_running: snapshot.proxy.running,
        intercepting_proxy: {
          up: snapshot.intercept.up,
          active_runs: snapshot.intercept.active_runs,
        },
        identity: { name: caller.agentId, level: caller.level },
      };
      const who = caller.agentId === null ? 'anonymous' : `${caller.agentId} (${caller.level})`;
      return result(
        structured,
        `${structured.workspace}/${structured.project}/${structured.environment}: ${structured.secrets} secret(s), vault key in ${structured.backend}, proxy ${structured.proxy_running ? 'running' : 'not running'}, remote ${structured.remote_configured ? 'configured' : 'none'}; you are ${who}.`,
      );
    }),
  );
}
