import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';

/** Registers `audit-review`: summarise recent activity, pointing out anonymous calls and blocks. */
export function registerAuditReviewPrompt(server: McpServer): void {
  server.registerPrompt(
    'audit-review',
    {
      title: 'Review recent credential use',
      description:
        'Summarise recent calls from the audit log, and point out anonymous calls and blocks.',
      argsSchema: {
        since: z.string().optional().describe('How far back: 1h, 24h, 7d (default 24h)'),
      },
    },
    ({ since }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'text',
            text: [
              `Review how credentials were used in the last ${since ?? '24h'}, with agentsecrets:`,
              `1. Call \`logs\` with since "${since ?? '24h'}" and a count of 200.`,
              '2. Summarise: how many calls, which agents (name and identity level: issued = verified token, declared = only a claimed name, anonymous = nothing), which secrets and which domains.',
              '3. Point out every anonymous call and every declared-only call that used a sensitive secret: they are not attributable to a verified agent.',
              '4. List every BLOCKED entry with its reason (domain_not_in_allowlist, ssrf_protection_blocked, policy_denied, token_revoked…) and what it suggests, e.g. an agent probing for hosts it should not reach.',
              '5. Call `logs` again with status "ERROR" if errors look frequent, and group them by reason.',
              'Keep it short; end with the two or three things I should look at first.',
            ].join('\n'),
          },
        },
      ],
    }),
  );
}
