import { readFile } from 'node:fs/promises';
import { registerPrompts } from '../../../prompts/index.js';
import { registerTools } from '../../../tools/index.js';
import { createApp } from '../../app/index.js';
import { AgentSecretsError, toAgentSecretsError, UsageError } from '../../core/errors.js';
import { assertDeclaredName } from '../../identity/caller.js';
import type { McpDeps } from '../../mcp/context.js';
import { createInflight } from '../../mcp/inflight.js';
import { defaultTargetOnce } from '../../mcp/server.js';
import type { CliContext } from '../context.js';
import { credentialService } from '../credentials.js';
import { isErrno } from '../../store/fs.js';

const VERSION = '0.1.0';
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
/** Past a call's total deadline, how long its audit entry may take to be written. */
const AUDIT_GRACE_MS = 5_000;

/**
 * `mcp serve`: stdio (default) or HTTP. Over stdio nothing but the protocol may reach stdout,
 * so everything here reports on stderr.
 */
export async function mcpServe(
  ctx: CliContext,
  options: {
    transport: string;
    port: string;
    host: string;
    agentId?: string;
    allowAnonymous?: boolean;
    allowOrigin?: string[];
  },
): Promise<number> {
  // An explicit name is the human's choice: a malformed one refuses the server at start.
  if (options.agentId !== undefined) assertDeclaredName(options.agentId, '--agent-id');
  const services = ctx.services();
  // The MCP server is a long-lived writer: it signs audit checkpoints when it holds the vault.
  const credentials = await credentialService(ctx, { signAudit: true });
  const maxBodyChars = Number(ctx.config.env.AGENTSECRETS_MCP_MAX_BODY_CHARS ?? 65_536);
  const app = createApp(services, {
    credentials: () => credentials,
    sync: (await import('../../sync/operations.js')).createSyncOperations(services),
  });
  const deps: McpDeps = {
    app,
    maxBodyChars: Number.isSafeInteger(maxBodyChars) && maxBodyChars > 0 ? maxBodyChars : 65_536,
    version: VERSION,
    inflight: createInflight(),
    register(server, tools) {
      registerTools(server, tools);
      registerPrompts(server);
    },
  };
  const defaultTarget = defaultTargetOnce(deps);
  await defaultTarget();
  try {
    if (options.transport === 'http') return await serveHttp(ctx, deps, defaultTarget, options);
    return await serveStdio(ctx, deps, defaultTarget, options);
  } finally {
    await finishCalls(ctx, deps);
    await credentials.close();
  }
}

/**
 * Waits for tool calls still running when the session ends, so that each writes its audit
 * entry before the credential service (and its audit writer) closes. The wait is bounded by
 * a call's total deadline, after which the engine has ended the call itself.
 */
async function finishCalls(ctx: CliContext, deps: McpDeps): Promise<void> {
  if (deps.inflight.size === 0) return;
  ctx.out.notice(`waiting for ${deps.inflight.size} call(s) in flight to finish`);
  const limitMs = ctx.config.limits.totalTimeoutMs + AUDIT_GRACE_MS;
  if (!(await deps.inflight.drain(limitMs))) {
    ctx.out.warn(
      `${deps.inflight.size} call(s) still running after ${Math.round(limitMs / 1000)} s; their audit entries may be missing`,
    );
  }
}

/** Resolves on the first SIGINT or SIGTERM (a second one ends the process as usual). */
function stopSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

async function serveStdio(
  ctx: CliContext,
  deps: McpDeps,
  defaultTarget: ReturnType<typeof defaultTargetOnce>,
  options: { agentId?: string },
): Promise<number> {
  const env = ctx.config.env;
  const token =
    nonEmpty(env.AGENTSECRETS_AGENT_TOKEN) ??
    nonEmpty(env.AS_AGENT_TOKEN) ??
    (await tokenFromFile(env.AGENTSECRETS_AGENT_TOKEN_FILE));
  if (token !== undefined) {
    // A token that does not verify refuses the session: no silent downgrade.
    try {
      await deps.app.calls.identify({ token, source: 'mcp' }, (await defaultTarget()).workspaceId);
    } catch (err) {
      const error = toAgentSecretsError(err);
      throw new AgentSecretsError(error.code, `the MCP session is refused: ${error.message}`);
    }
  }
  const { StdioServerTransport } = await import('@modelcontextprotocol/sdk/server/stdio.js');
  const { createMcpSession } = await import('../../mcp/server.js');
  const server = createMcpSession(deps, { token, agentId: options.agentId }, defaultTarget);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  await Promise.race([closed, stopSignal()]);
  await server.close().catch(() => undefined);
  return 0;
}

async function serveHttp(
  ctx: CliContext,
  deps: McpDeps,
  defaultTarget: ReturnType<typeof defaultTargetOnce>,
  options: {
    port: string;
    host: string;
    agentId?: string;
    allowAnonymous?: boolean;
    allowOrigin?: string[];
  },
): Promise<number> {
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError('--port must be 0-65535');
  const { createMcpHttpServer } = await import('../../mcp/http.js');
  const http = createMcpHttpServer({
    deps,
    defaultTarget,
    allowAnonymous: options.allowAnonymous === true,
    allowedOrigins: options.allowOrigin ?? [],
    agentId: options.agentId,
  });
  const address = await http.listen(port, options.host);
  const where = `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}`;
  ctx.out.notice(
    `agentsecrets MCP server: Streamable HTTP at ${where}/mcp, legacy SSE at ${where}/sse`,
  );
  if (options.allowAnonymous) {
    ctx.out.warn(
      '--allow-anonymous: sessions without an agent token are accepted; any local process can use this port',
    );
  }
  if (!LOOPBACK.has(options.host))
    ctx.out.warn(`listening on ${options.host}, not loopback: other machines may reach this port`);
  await stopSignal();
  await http.close();
  return 0;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** The token in AGENTSECRETS_AGENT_TOKEN_FILE (written 0600 by `mcp install` for Claude Code). */
async function tokenFromFile(path: string | undefined): Promise<string | undefined> {
  if (nonEmpty(path) === undefined) return undefined;
  let text: string;
  try {
    text = await readFile(path!, 'utf8');
  } catch (err) {
    throw new AgentSecretsError(
      'invalid_agent_token',
      `the MCP session is refused: cannot read AGENTSECRETS_AGENT_TOKEN_FILE ${path} (${isErrno(err, 'ENOENT') ? 'no such file' : 'unreadable'}); run \`agentsecrets mcp install --client claude-code --agent NAME --issue-token\` again`,
    );
  }
  const token = text.trim();
  if (token === '') {
    throw new AgentSecretsError(
      'invalid_agent_token',
      `the MCP session is refused: AGENTSECRETS_AGENT_TOKEN_FILE ${path} is empty`,
    );
  }
  return token;
}
