import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';
import type { ToolContext } from '../src/mcp/context.js';
import { result } from '../src/mcp/results.js';

const inputSchema = {
  project: z.string().optional().describe('Project name; default: the selected project'),
  environment: z
    .enum(['development', 'staging', 'production'])
    .optional()
    .describe('Environment; default: the selected one'),
};

const outputSchema = {
  project: z.string().describe('Project name'),
  environment: z.string().describe('Environment'),
  secrets: z
    .array(
      z.object({
        key: z.string().describe('Key name, usable in `call`'),
        version: z.number().describe('Version, incremented on every change'),
        updated_at: z.string().describe('Last change (ISO)'),
        bound_to: z
          .array(z.string())
          .nullable()
          .describe('Domains the secret may be sent to, or null if unbound'),
      }),
    )
    .describe('Secrets, by name only; values are never returned'),
};

/** Registers `list`. */
export function registerListTool(server: McpServer, ctx: ToolContext): void {
  server.registerTool(
    'list',
    {
      title: 'List secrets',
      description:
        'Names and metadata of the secrets you can use with `call` (never values). Use the key names as they are; ask the human to add a missing one.',
      inputSchema,
      outputSchema,
      annotations: {
        readOnlyHint: true,
        destructiveHint: false,
        idempotentHint: true,
        openWorldHint: false,
      },
    },
    ctx.guard(async ({ project, environment }) => {
      const target = await ctx.target({ project, environment });
      const secrets = (await ctx.app.secrets.list(target)).map((r) => ({
        key: r.key,
        version: r.version,
        updated_at: r.updated_at,
        bound_to: r.binding?.domains ?? null,
      }));
      const text =
        secrets.length === 0
          ? `No secrets in ${target.projectName}/${target.environment}. Ask the human to add one with \`agentsecrets secrets set KEY\`.`
          : `${secrets.length} secret(s) in ${target.projectName}/${target.environment}: ${secrets.map((s) => s.key).join(', ')}`;
      return result(
        { project: target.projectName, environment: target.environment, secrets },
        text,
      );
    }),
  );
}
