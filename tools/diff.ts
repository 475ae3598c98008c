import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import type { ToolContext } from '../src/mcp/context.js';
import { result } from '../src/mcp/results.js';

const outputSchema = {
  remote_configured: z.boolean().describe('Whether a sync server is configured'),
  message: z.string().describe('A summary, or what to do when there is no remote'),
  keys: z
    .array(
      z.object({
        key: z.string(),
        state: z.enum(['local_only', 'remote_only', 'out_of_sync', 'in_sync']),
        newer: z
          .enum(['local', 'remote', 'both'])
          .nullable()
          .describe('For out_of_sync: which side changed; both = a conflict'),
        local_version: z.number().nullable(),
        remote_version: z.number().nullable(),
      }),
    )
    .describe('Per-key sync state; values are never compared in the open'),
};

/** Registers `diff`. */
export function registerDiffTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    'diff',
    {
      title: 'Compare with the remote',
      description:
        'Sync state of each secret against the team sync server: local_only, remote_only, out_of_sync (with which side is newer) or in_sync. Names and versions only.',
      inputSchema: {},
      outputSchema,
      annotations: {
        readOnlyHint: true,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: true,
      },
    },
    ctx.guard(async () => {
      const target = await ctx.target();
      const diff = await ctx.app.sync.diff(target);
      const text = diff.remote_configured
        ? `${diff.message}\n${diff.keys.map((k) => `${k.key}: ${k.state}${k.newer ? ` (${k.newer} newer)` : ''}`).join('\n')}`
        : diff.message;
      return result({ ...diff }, text);
    }),
  );
}
