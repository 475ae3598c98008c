import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ToolContext } from '../src/mcp/context.js';
import { registerApiCallTool } from './api-call.js';
import { registerCallTool } from './call.js';
import { registerDiffTool } from './diff.js';
import { registerListSecretsTool } from './list-secrets.js';
import { registerListTool } from './list.js';
import { registerLogsTool } from './logs.js';
import { registerPullTool } from './pull.js';
import { registerStatusTool } from './status.js';

/** Registers every tool: the six of DESIGN §9 and the Go tool's two names. */
export function registerTools(server: McpServer, ctx: ToolContext): void {
  registerStatusTool(server, ctx);
  registerListTool(server, ctx);
  registerDiffTool(server, ctx);
  registerPullTool(server, ctx);
  registerCallTool(server, ctx);
  registerLogsTool(server, ctx);
  registerApiCallTool(server, ctx);
  registerListSecretsTool(server, ctx);
}
