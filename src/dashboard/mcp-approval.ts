import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { arr, obj } from '../core/validate.js';
import type { PendingApproval } from '../policy/approvals-queue.js';
import { postToKeyHolder } from '../proxy/key-holder.js';

/**
 * The MCP face of approvals (issue 16). While an MCP `call` is held by the key holder, this
 * looks for its pending request. A client that supports elicitation asks its human right
 * there (approve once, or deny) and the answer goes to the key holder. Any other client is
 * told, by a log message (and a progress notice when it asked for progress), that the call
 * waits for a human and where the dashboard is; the tool result comes when the call ends.
 */

const POLL_MS = 250;

export interface ApprovalPromptOptions {
  server: McpServer;
  /** The key holder's socket; undefined when the calls run in this process (no approvals). */
  socket: string | undefined;
  url: string;
  method: string;
  extra: RequestHandlerExtra<ServerRequest, ServerNotification>;
}

/** Runs `call`, prompting for its approval if the key holder holds it. */
export async function withApprovalPrompt<T>(
  options: ApprovalPromptOptions,
  call: () => Promise<T>,
): Promise<T> {
  const { socket } = options;
  let target: URL;
  try {
    target = new URL(options.url);
  } catch {
    return call();
  }
  if (socket === undefined) return call();
  const host = target.port === '' ? target.hostname : `${target.hostname}:${target.port}`;
  const method = options.method.toUpperCase();
  let done = false;
  const running = call().finally(() => {
    done = true;
  });
  const watch = (async () => {
    const handled = new Set<string>();
    while (!done) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      if (done) return;
      let pending: PendingApproval[];
      let dashboard: string | null;
      try {
        const r = await postToKeyHolder(socket, '/v1/dashboard/approvals', {});
        pending = arr(r.pending, 'pending').map((p) => obj(p, 'p') as unknown as PendingApproval);
        dashboard = typeof r.dashboard_url === 'string' ? r.dashboard_url : null;
      } catch {
        return;
      }
      const mine = pending.find(
        (p) =>
          !handled.has(p.id) &&
          p.source === 'mcp' &&
          p.method === method &&
          p.host === host &&
          p.path === target.pathname,
      );
      if (mine === undefined) continue;
      handled.add(mine.id);
      await prompt(options, socket, mine, dashboard).catch(() => undefined);
    }
  })();
  try {
    return await running;
  } finally {
    await watch.catch(() => undefined);
  }
}

async function prompt(
  options: ApprovalPromptOptions,
  socket: string,
  pending: PendingApproval,
  dashboard: string | null,
): Promise<void> {
  const where = dashboard ?? 'the dashboard (a human runs `agentsecrets dashboard`)';
  const what = `${pending.agent ?? 'an anonymous agent'} wants ${pending.method} ${pending.host}${pending.path} with ${pending.secret_keys.join(', ') || 'no secret'}`;
  const low = options.server.server;
  if (low.getClientCapabilities()?.elicitation !== undefined) {
    const answer = await low.elicitInput({
      message: `agentsecrets: ${what}. ${pending.reason === 'unlisted' ? 'The domain is not in the allowlist.' : 'A rule asks for approval.'} Approve this one call?`,
      requestedSchema: {
        type: 'object',
        properties: {
          decision: {
            type: 'string',
            title: 'Decision',
            enum: ['approve_once', 'deny'],
            description: 'approve_once lets this call through; deny fails it with approval_denied',
          },
        },
        required: ['decision'],
      },
    });
    const decision =
      answer.action === 'accept' && answer.content?.decision === 'approve_once'
        ? 'approve_once'
        : answer.action === 'cancel'
          ? undefined
          : 'deny';
    // Cancel leaves the call waiting: the dashboard can still decide it.
    if (decision !== undefined)
      await postToKeyHolder(socket, '/v1/dashboard/decide', { id: pending.id, decision });
    return;
  }
  const text = `This call waits for a human's approval (${what}), up to ${pending.expires_at.slice(11, 19)} UTC. Ask the human to approve or deny it at ${where}.`;
  await low
    .sendLoggingMessage({ level: 'notice', logger: 'agentsecrets', data: text })
    .catch(() => undefined);
  const token = options.extra._meta?.progressToken;
  if (token !== undefined)
    await options.extra
      .sendNotification({
        method: 'notifications/progress',
        params: { progressToken: token, progress: 0, message: text },
      })
      .catch(() => undefined);
}
