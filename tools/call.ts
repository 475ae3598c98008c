import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import { injectionsFromArgs, runCall } from '../src/mcp/call.js';
import type { ToolContext } from '../src/mcp/context.js';

const keyMap = z.record(z.string(), z.string());

const inputSchema = {
  url: z
    .string()
    .describe('The https:// URL to call. Its domain must be on the workspace allowlist.'),
  method: z.string().optional().describe('HTTP method; default GET'),
  headers: z
    .record(z.string(), z.string())
    .optional()
    .describe('Ordinary headers to send as they are (no secrets here)'),
  body: z.string().optional().describe('Request body; JSON is sent as application/json'),
  bearer: z.string().optional().describe('Key name to send as Authorization: Bearer <value>'),
  basic: z.string().optional().describe('Key name (a user:password secret) to send as HTTP Basic'),
  header: keyMap.optional().describe('Header name → key name, e.g. {"X-Api-Key": "API_KEY"}'),
  query: keyMap.optional().describe('Query parameter → key name, e.g. {"key": "MAPS_KEY"}'),
  body_field: keyMap
    .optional()
    .describe('Dotted JSON path in the body → key name, e.g. {"auth.token": "TOKEN"}'),
  form_field: keyMap.optional().describe('Form field → key name'),
  project: z.string().optional().describe('Project name; default: the selected project'),
  environment: z
    .enum(['development', 'staging', 'production'])
    .optional()
    .describe('Environment; default: the selected one'),
};

const outputSchema = {
  status: z.number().describe('HTTP status of the upstream answer'),
  headers: z
    .record(z.string(), z.array(z.string()))
    .describe('Response headers (credential echoes replaced)'),
  body: z
    .string()
    .describe(
      'Response body, with any echo of a credential replaced by [REDACTED_BY_AGENTSECRETS]',
    ),
  body_encoding: z.enum(['utf8', 'base64']).describe('base64 when the body is not UTF-8 text'),
  body_truncated: z.boolean().describe('Whether the body was cut at the size limit'),
  redacted: z.boolean().describe('Whether anything was replaced'),
  duration_ms: z.number().describe('How long the call took'),
  request_id: z.string().describe('The audit entry id of this call'),
};

/** Registers `call`. */
export function registerCallTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    'call',
    {
      title: 'Call an API with a secret',
      description:
        'Make one HTTPS request with secrets injected by key name (bearer, basic, header, query, body_field, form_field). You never see the values: agentsecrets injects them and returns the response with any echo replaced. If the call is blocked, tell the human what the error says they must do; do not look for another way.',
      inputSchema,
      outputSchema,
      annotations: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: false,
        openWorldHint: true,
      },
    },
    ctx.guard(
      async (args, extra) =>
        runCall(
          ctx,
          {
            url: args.url,
            method: args.method,
            headers: args.headers,
            body: args.body,
            injections: injectionsFromArgs(args),
            project: args.project,
            environment: args.environment,
          },
          extra,
        ),
      { identityCheckedByCall: true },
    ),
  );
}
