import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type {
  CallToolResult,
  ServerNotification,
  ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { AgentSecretsError, isAgentSecretsError } from '../core/errors.js';
import type { HeldInfo } from '../policy/approvals-gate.js';
import { groupHeaders, injectionsFrom, withContentType } from '../app/call-request.js';
import type { Injection } from '../proxy/inject.js';
import type { ToolContext } from './context.js';
import { bodyForModel, result } from './results.js';

/** A call as the MCP tools describe it. */
export interface McpCallArgs {
  url: string;
  method?: string | undefined;
  headers?: Record<string, string> | undefined;
  body?: string | undefined;
  injections: Injection[];
  project?: string | undefined;
  environment?: string | undefined;
}

/** What the SDK hands a tool handler besides its arguments. */
export type ToolExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** How often a client that asked for progress hears that a held call still waits. */
const HELD_PROGRESS_MS = 10_000;

/** Where a human decides on a held call, for the model to pass on. */
function whereToDecide(dashboardUrl: string | null): string {
  return `open ${dashboardUrl ?? 'the dashboard (the human runs `agentsecrets dashboard`)'} or run \`agentsecrets approvals watch\``;
}

/**
 * Tells the client that the call waits for a human (issue 16: clients without elicitation get
 * told where the human decides): a progress notification when the request carried a
 * progressToken (repeated, so a client that resets its timeout on progress keeps waiting),
 * otherwise one log message. Returns a function that stops the repeats.
 */
function announceHeld(extra: ToolExtra, info: HeldInfo): () => void {
  const text = `waiting for a human's approval (up to ${info.timeout_s} s): ${whereToDecide(info.dashboard_url)}`;
  const token = extra._meta?.progressToken;
  if (token === undefined) {
    void extra
      .sendNotification({
        method: 'notifications/message',
        params: { level: 'notice', logger: 'agentsecrets', data: text },
      })
      .catch(() => undefined);
    return () => undefined;
  }
  const started = Date.now();
  const send = () =>
    void extra
      .sendNotification({
        method: 'notifications/progress',
        params: {
          progressToken: token,
          progress: Math.round((Date.now() - started) / 1000),
          total: info.timeout_s,
          message: text,
        },
      })
      .catch(() => undefined);
  send();
  const timer = setInterval(send, HELD_PROGRESS_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Runs one call through the same engine, allowlist, policy and audit as the proxy. A refusal
 * throws; the tool's guard turns it into an error result. With the SDK's `extra`, a call the
 * client cancels (or whose client goes away) stops waiting for approval, and a held call is
 * announced to the client.
 */
export async function runCall(
  ctx: ToolContext,
  args: McpCallArgs,
  extra?: ToolExtra,
): Promise<CallToolResult> {
  if (args.injections.length === 0) {
    throw new AgentSecretsError(
      'bad_request',
      'name at least one secret to inject, e.g. bearer: "STRIPE_KEY"',
    );
  }
  const target = await ctx.target({ project: args.project, environment: args.environment });
  const headers = withContentType(Object.entries(args.headers ?? {}), args.body);
  let held: HeldInfo | undefined;
  let stopAnnouncing = () => undefined as void;
  let response;
  try {
    response = await ctx.app.calls.execute(
      {
        url: args.url,
        method: (args.method ?? 'GET').toUpperCase(),
        headers,
        body: args.body === undefined ? undefined : Buffer.from(args.body, 'utf8'),
        injections: args.injections,
        target,
        signal: extra?.signal,
        onHeld: (info) => {
          held = info;
          if (extra !== undefined) stopAnnouncing = announceHeld(extra, info);
        },
      },
      ctx.identity(),
    );
  } catch (err) {
    throw withWhereToDecide(err, held);
  } finally {
    stopAnnouncing();
  }
  const grouped = groupHeaders(response.headers);
  const body = bodyForModel(response.body, ctx.maxBodyChars);
  const structured = {
    status: response.status,
    headers: grouped,
    body: body.body,
    body_encoding: body.encoding,
    body_truncated: body.truncated,
    redacted: response.redacted,
    duration_ms: Math.round(response.durationMs * 1000) / 1000,
    request_id: response.requestId,
  };
  const notes = [
    body.truncated ? `[body cut at ${ctx.maxBodyChars} characters]` : '',
    response.redacted ? '[a credential echo was replaced with [REDACTED_BY_AGENTSECRETS]]' : '',
  ].filter((n) => n !== '');
  return result(
    structured,
    `HTTP ${response.status}\n\n${body.body}${notes.length ? `\n${notes.join('\n')}` : ''}`,
  );
}

/**
 * A denied, timed-out or refused-for-a-full-queue call's error, naming where the human
 * decides (the dashboard URL and the terminal command) if its message does not yet.
 */
function withWhereToDecide(err: unknown, held: HeldInfo | undefined): unknown {
  if (
    !isAgentSecretsError(err, 'approval_denied') &&
    !isAgentSecretsError(err, 'approval_timeout') &&
    !isAgentSecretsError(err, 'approval_queue_full')
  )
    return err;
  if (err.message.includes('approvals watch')) return err;
  return new AgentSecretsError(
    err.code,
    `${err.message}. Where a human decides: ${whereToDecide(held?.dashboard_url ?? null)}`,
    { context: err.context, cause: err },
  );
}

/** Injections from the named-style arguments of the `call` tool. */
export function injectionsFromArgs(args: {
  bearer?: string | undefined;
  basic?: string | undefined;
  header?: Record<string, string> | undefined;
  query?: Record<string, string> | undefined;
  body_field?: Record<string, string> | undefined;
  form_field?: Record<string, string> | undefined;
}): Injection[] {
  return injectionsFrom({ ...args, body: args.body_field, form: args.form_field });
}

export { injectionsFromSpecs } from '../app/call-request.js';
