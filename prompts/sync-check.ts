import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';

/** Registers `sync-check`: status, then diff, then pull. */
export function registerSyncCheckPrompt(server: McpServer): void {
  server.registerPrompt(
    'sync-check',
    {
      title: 'Check and bring secrets up to date',
      description:
        'Status, then diff against the team sync server, then pull what is newer remotely.',
    },
    () => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'text',
            text: [
              'Check whether my secrets are in sync with the team, using agentsecrets:',
              '1. Call `status` and tell me the workspace, project, environment and whether a remote is configured.',
              '2. If there is no remote, say so and stop: I can set one up with `agentsecrets login`.',
              '3. Call `diff` and summarise: how many keys are in_sync, local_only, remote_only and out_of_sync (and which side is newer).',
              '4. If some keys are newer remotely, call `pull` and report what was pulled. Leave conflicts (changed on both sides) to me; name them.',
              'Report key names only; values never come back from these tools.',
            ].join('\n'),
          },
        },
      ],
    }),
  );
}
