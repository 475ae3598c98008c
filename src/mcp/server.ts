import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { declaredNameFromClient } from '../identity/caller.js';
import type { PresentedIdentity } from '../proxy/credential-service.js';
import type { McpDeps, ResolvedTarget, SessionIdentity, ToolContext } from './context.js';
import { createGuard } from './guard.js';

/** What the server tells the model about using these tools safely. */
export const MCP_INSTRUCTIONS = [
  'agentsecrets lets you use API credentials by name without ever seeing them.',
  '- Start with `status`, then `list` to see which key names exist. Values are never returned by any tool.',
  '- Make authenticated requests with `call`: put the key name where the credential goes (bearer, basic, header, query, body_field, form_field). agentsecrets injects the value and returns the response with any echo of it replaced by [REDACTED_BY_AGENTSECRETS].',
  '- Never ask the user to paste a secret into the chat. If a key is missing, ask them to run `agentsecrets secrets set KEY` in their own terminal.',
  '- Blocks are deliberate: a domain off the allowlist, a secret bound to another host, a policy, an SSRF guard. Tell the user what the error says a human must do; do not try another route.',
  '- `logs` shows recent calls and who made them; `diff` and `pull` work with the team sync server when one is configured.',
].join('\n');

/** One MCP server for one session (DESIGN §9: a server per session). */
export function createMcpSession(
  deps: McpDeps,
  session: SessionIdentity,
  defaultTarget: () => Promise<ResolvedTarget>,
): McpServer {
  const server = new McpServer(
    { name: 'agentsecrets', version: deps.version },
    { instructions: MCP_INSTRUCTIONS, capabilities: { logging: {} } },
  );
  const identity = (): PresentedIdentity =>
    session.token !== undefined
      ? { token: session.token, source: 'mcp' }
      : { agentId: session.agentId ?? clientName(server), source: 'mcp' };
  const ctx: ToolContext = {
    ...deps,
    identity,
    guard: createGuard({
      deps,
      identity,
      target: defaultTarget,
      onTokenRefused: session.onTokenRefused,
    }),
    async target(names = {}) {
      if (names.project === undefined && names.environment === undefined) return defaultTarget();
      const current = await deps.app.resolveSelection({
        project: names.project,
        environment: names.environment,
      });
      return current.target;
    },
  };
  deps.register(server, ctx);
  return server;
}

/**
 * The client's self-reported name as a declared identity (never for authorization), sanitised
 * into a valid declared name ("Claude Desktop" becomes `Claude-Desktop`); anonymous when
 * nothing usable is left.
 */
function clientName(server: McpServer): string | undefined {
  return declaredNameFromClient(server.server.getClientVersion()?.name);
}

/** Resolves the selection once; an MCP server serves the project it was started for. */
export function defaultTargetOnce(deps: McpDeps): () => Promise<ResolvedTarget> {
  let pending: Promise<ResolvedTarget> | undefined;
  return () =>
    (pending ??= deps.app.resolveSelection().then((current) => current.target)).catch(
      (err: unknown) => {
        pending = undefined;
        throw err;
      },
    );
}
