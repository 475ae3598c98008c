import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import type { ToolContext } from '../src/mcp/context.js';
import { result } from '../src/mcp/results.js';

const outputSchema = {
  remote_configured: z.boolean().describe('Whether a sync server is configured'),
  message: z.string().describe('A summary, or what to do when there is no remote'),
  pulled: z.array(z.string()).describe('Keys fetched into the vault (names only)'),
  conflicts: z
    .array(z.string())
    .describe('Keys changed on both sides: left for a human to resolve'),
  unchanged: z.number().describe('Keys already in sync'),
};

/** Registers `pull`. */
export function registerPullTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    'pull',
    {
      title: 'Pull from the remote',
      description:
        'Fetch newer secrets from the team sync server into the local vault. Returns counts and key names, never values. Conflicting keys are left alone for a human.',
      inputSchema: {},
      outputSchema,
      annotations: {
        readOnlyHint: false,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: true,
      },
    },
    ctx.guard(async () => {
      const target = await ctx.target();
      const pulled = await ctx.app.sync.pull(target);
      return result({ ...pulled }, pulled.remote_configured ? `${pulled.message}` : pulled.message);
    }),
  );
}
