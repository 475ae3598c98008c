import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import type { ToolContext } from '../src/mcp/context.js';
import { displayAgentName, result } from '../src/mcp/results.js';

const inputSchema = {
  count: z
    .number()
    .int()
    .min(1)
    .max(500)
    .optional()
    .describe('How many entries, newest first (default 20, at most 500)'),
  agent: z.string().optional().describe('Only this agent name (declared or issued)'),
  identity: z
    .enum(['anonymous', 'declared', 'issued'])
    .optional()
    .describe('Only this identity level'),
  secret: z.string().optional().describe('Only entries that used this key'),
  status: z.enum(['OK', 'BLOCKED', 'ERROR']).optional().describe('Only this outcome'),
  since: z.string().optional().describe('Only entries after this: 1h, 7d, or an ISO date/time'),
};

const entry = z.object({
  id: z.string(),
  timestamp: z.string(),
  agent: z.string().nullable().describe('Agent name, or null when anonymous'),
  identity_level: z.enum(['anonymous', 'declared', 'issued']),
  token_id: z.string().nullable(),
  source: z.string(),
  method: z.string(),
  target_url: z.string().nullable(),
  domain: z.string().nullable(),
  secret_keys: z.array(z.string()),
  status: z.enum(['OK', 'BLOCKED', 'ERROR']),
  status_code: z.number().nullable(),
  reason: z.string().nullable(),
  redacted: z.boolean(),
  duration_ms: z.number(),
});

const outputSchema = {
  entries: z.array(entry).describe('Audit entries, newest first (no values, ever)'),
};

/** Registers `logs`. */
export function registerLogsTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    'logs',
    {
      title: 'Recent audit entries',
      description:
        'Recent calls, blocks and env runs from the tamper-evident audit log, with who made them (anonymous, declared name, or issued token). Filter by count, agent, identity, secret, status and since.',
      inputSchema,
      outputSchema,
      annotations: {
        readOnlyHint: true,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    ctx.guard(async (args) => {
      const found = await ctx.app.audit.query(
        {
          ...(args.agent === undefined ? {} : { agent: args.agent }),
          ...(args.identity === undefined ? {} : { identity: args.identity }),
          ...(args.secret === undefined ? {} : { secret: args.secret }),
          ...(args.status === undefined ? {} : { status: args.status }),
          ...(args.since === undefined ? {} : { since: args.since }),
        },
        args.count ?? 20,
      );
      const entries = found.map((e) => ({
        id: e.id,
        timestamp: e.timestamp,
        agent: e.agent_id,
        identity_level: e.identity_level,
        token_id: e.token_id,
        source: e.source,
        method: e.method,
        target_url: e.target_url,
        domain: e.domain,
        secret_keys: e.secret_keys,
        status: e.status,
        status_code: e.status_code,
        reason: e.reason,
        redacted: e.redacted,
        duration_ms: e.duration_ms,
      }));
      const lines = entries.map(
        (e) =>
          `${e.timestamp} ${e.status}${e.reason ? ` ${e.reason}` : ''} ${e.method} ${e.domain ?? ''} [${e.secret_keys.join(',')}] by ${e.agent === null ? 'anonymous' : `${displayAgentName(e.agent)} (${e.identity_level})`}`,
      );
      return result(
        { entries },
        entries.length === 0 ? 'No matching audit entries.' : lines.join('\n'),
      );
    }),
  );
}
