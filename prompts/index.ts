import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { registerAuditReviewPrompt } from './audit-review.js';
import { registerAuthenticatedCallPrompt } from './authenticated-call.js';
import { registerSyncCheckPrompt } from './sync-check.js';

/** Registers every prompt. */
export function registerPrompts(server: McpServer): void {
  registerAuthenticatedCallPrompt(server);
  registerSyncCheckPrompt(server);
  registerAuditReviewPrompt(server);
}
