import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ToolContext } from '../src/mcp/context.js';

/** Registers `list_secrets`, the Go AgentSecrets tool's name and text. */
export function registerListSecretsTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    'list_secrets',
    {
      title: 'List secret names (AgentSecrets compatible)',
      description:
        'Compatibility alias of `list`: the key names available to `api_call` and `call`.',
      annotations: {
        readOnlyHint: true,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    ctx.guard(async () => {
      const target = await ctx.target();
      const keys = (await ctx.app.secrets.list(target)).map((r) => r.key);
      return {
        content: [
          {
            type: 'text',
            text: `Found ${keys.length} secret(s):\n\n${keys.map((k) => `  • ${k}`).join('\n')}\n\nUse these key names in api_call's injections parameter.`,
          },
        ],
      };
    }),
  );
}
