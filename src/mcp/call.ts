import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AgentSecretsError } from '../core/errors.js';
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

/**
 * Runs one call through the same engine, allowlist, policy and audit as the proxy. A refusal
 * throws; the tool's guard turns it into an error result.
 */
export async function runCall(ctx: ToolContext, args: McpCallArgs): Promise<CallToolResult> {
  if (args.injections.length === 0) {
    throw new AgentSecretsError(
      'bad_request',
      'name at least one secret to inject, e.g. bearer: "STRIPE_KEY"',
    );
  }
  const target = await ctx.target({ project: args.project, environment: args.environment });
  const headers = withContentType(Object.entries(args.headers ?? {}), args.body);
  const response = await ctx.app.calls.execute(
    {
      url: args.url,
      method: (args.method ?? 'GET').toUpperCase(),
      headers,
      body: args.body === undefined ? undefined : Buffer.from(args.body, 'utf8'),
      injections: args.injections,
      target,
    },
    ctx.identity(),
  );
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
