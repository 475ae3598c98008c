import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import { injectionsFromSpecs, runCall } from '../src/mcp/call.js';
import type { ToolContext } from '../src/mcp/context.js';

const inputSchema = {
  url: z.string().describe('The https:// URL to call'),
  method: z.string().optional().describe('HTTP method; default GET'),
  body: z.string().optional().describe('Request body (a JSON string for JSON APIs)'),
  headers: z.record(z.string(), z.string()).optional().describe('Ordinary headers (no secrets)'),
  injections: z
    .record(z.string(), z.string())
    .describe(
      'Where each secret goes → key name: "bearer", "basic", "header:Name", "query:param", "body:json.path", "form:field"',
    ),
};

/** Registers `api_call`, the Go AgentSecrets tool's name and shape, over the same engine. */
export function registerApiCallTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    'api_call',
    {
      title: 'Call an API with secrets (AgentSecrets compatible)',
      description:
        'Compatibility alias of `call` for workflows written for the Go AgentSecrets: injections maps "bearer", "basic", "header:Name", "query:param", "body:json.path" or "form:field" to a key name, e.g. {"bearer": "STRIPE_KEY"}.',
      inputSchema,
      annotations: {
        readOnlyHint: false,
        destructiveHint: true,
        idempotentHint: false,
        openWorldHint: true,
      },
    },
    ctx.guard(
      async (args, extra) =>
        runCall(ctx, { ...args, injections: injectionsFromSpecs(args.injections) }, extra),
      { identityCheckedByCall: true },
    ),
  );
}
