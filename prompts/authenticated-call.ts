import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import * as z from 'zod';

/** Registers `authenticated-call`: how to call an API with a named secret. */
export function registerAuthenticatedCallPrompt(server: McpServer): void {
  server.registerPrompt(
    'authenticated-call',
    {
      title: 'Call an API with a stored secret',
      description:
        'How to make an authenticated API call by key name, without ever handling the value.',
      argsSchema: {
        url: z.string().optional().describe('The API URL to call, if known'),
        key: z.string().optional().describe('The key name of the credential, if known'),
      },
    },
    ({ url, key }) => ({
      messages: [
        {
          role: 'user',
          content: {
            type: 'text',
            text: [
              `I need an authenticated API call${url ? ` to ${url}` : ''}${key ? ` using the secret ${key}` : ''}.`,
              '',
              'Use agentsecrets, and never ask me for the value of a secret:',
              '1. Call `list` to see which key names exist (names only). If the one you need is missing, ask me to run `agentsecrets secrets set KEY` in my own terminal.',
              '2. Call `call` with the URL and the key name in the right place: `bearer` for Authorization: Bearer, `basic` for a user:password pair, `header` {"Name": "KEY"}, `query` {"param": "KEY"}, `body_field` {"a.b": "KEY"} or `form_field`.',
              '3. If the call is blocked (domain_not_in_allowlist, empty_allowlist, secret_binding_mismatch, policy_denied…), stop and tell me the command the error names; do not try another way.',
              '4. Treat [REDACTED_BY_AGENTSECRETS] in a response as a value you are not meant to see; do not try to recover it.',
            ].join('\n'),
          },
        },
      ],
    }),
  );
}
