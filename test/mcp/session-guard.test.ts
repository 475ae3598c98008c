import type { ChildProcess } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeaks } from '../helpers/canary.js';
import {
  type Fixture,
  human,
  issueToken,
  latest,
  revokeToken,
  SECRET,
  setup,
  startHttp,
  stdioClient,
  stopHttp,
} from './fixture.js';

/**
 * Every tool re-establishes the session's identity before it does anything (DESIGN §6: a
 * revoked token stops working on the next call) and applies the workspace's minimum identity
 * level, on stdio and on HTTP.
 */

interface ToolResult {
  isError?: boolean;
  content: { type: string; text: string }[];
}

/** Every tool, with arguments that would succeed for a valid session. */
function toolArgs(fixture: Fixture): Record<string, Record<string, unknown>> {
  const url = `${fixture.upstream.url}/after-revoke`;
  return {
    status: {},
    list: {},
    list_secrets: {},
    diff: {},
    pull: {},
    logs: { count: 5 },
    call: { url, bearer: 'API_KEY' },
    api_call: { url, injections: { bearer: 'API_KEY' } },
  };
}

async function callTool(client: Client, name: string, args: Record<string, unknown> = {}) {
  return (await client.callTool({ name, arguments: args })) as ToolResult;
}

function streamable(base: string, token?: string): Transport {
  return new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
    ...(token === undefined
      ? {}
      : { requestInit: { headers: { Authorization: `Bearer ${token}` } } }),
  }) as Transport;
}

function sse(base: string, token: string): Transport {
  const headers = { Authorization: `Bearer ${token}` };
  return new SSEClientTransport(new URL(`${base}/sse`), {
    requestInit: { headers },
    eventSourceInit: {
      fetch: (url, init) =>
        fetch(url, {
          ...init,
          headers: { ...(init?.headers as Record<string, string>), ...headers },
        }),
    },
  }) as Transport;
}

async function connect(transport: Transport, name = 'guard-test'): Promise<Client> {
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(transport);
  return client;
}

let fixture: Fixture;
let http: { child: ChildProcess; base: string };
let anonymousHttp: { child: ChildProcess; base: string };
const seen: string[] = [];

beforeAll(async () => {
  fixture = await setup();
  http = await startHttp(fixture, []);
  anonymousHttp = await startHttp(fixture, ['--allow-anonymous']);
});
afterAll(async () => {
  await stopHttp(http.child);
  await stopHttp(anonymousHttp.child);
  await fixture.upstream.close();
  expect(findLeaks(seen.join('\n'), SECRET)).toEqual([]);
});

describe('a token revoked while its sessions are open', () => {
  let stdio: { client: Client; stderr: () => string };
  let overStreamable: Client;
  let overSse: Client;
  let token: string;

  beforeAll(async () => {
    token = await issueToken(fixture, 'revoked-bot');
    const spawned = stdioClient(fixture, { AGENTSECRETS_AGENT_TOKEN: token });
    stdio = { client: await connect(spawned.transport), stderr: spawned.stderr };
    overStreamable = await connect(streamable(http.base, token));
    overSse = await connect(sse(http.base, token));
    // Before the revocation, each session works.
    for (const client of [stdio.client, overStreamable, overSse]) {
      expect((await callTool(client, 'list')).isError).toBeFalsy();
    }
    await revokeToken(fixture, 'revoked-bot');
  });
  afterAll(async () => {
    for (const client of [stdio.client, overStreamable, overSse]) await client.close();
  });

  it.each(['status', 'list', 'list_secrets', 'diff', 'pull', 'logs', 'call', 'api_call'])(
    'stdio: %s is refused with token_revoked',
    async (name) => {
      const result = await callTool(stdio.client, name, toolArgs(fixture)[name]);
      seen.push(JSON.stringify(result));
      expect(result.isError).toBe(true);
      expect(result.content[0]!.text).toMatch(/^token_revoked: /);
      expect(result).not.toHaveProperty('structuredContent');
    },
  );

  it('stdio: the refused calls reached no upstream and were audited as blocked', async () => {
    expect(fixture.upstream.seen.filter((r) => r.url === '/after-revoke')).toEqual([]);
    expect(
      await latest(fixture, (e) => e.target_url?.endsWith('/after-revoke') === true),
    ).toMatchObject({ status: 'BLOCKED', reason: 'token_revoked', source: 'mcp' });
  });

  it.each([
    ['Streamable HTTP', 'list', () => overStreamable],
    ['legacy SSE', 'logs', () => overSse],
  ])(
    '%s: %s is refused with token_revoked, then the session is ended',
    async (_t, name, client) => {
      const result = await callTool(client(), name);
      seen.push(JSON.stringify(result));
      expect(result.isError).toBe(true);
      expect(result.content[0]!.text).toMatch(/^token_revoked: /);
      await expect(callTool(client(), 'status')).rejects.toThrow();
    },
  );

  it('HTTP: a new session with the revoked token is refused when it opens', async () => {
    await expect(connect(streamable(http.base, token))).rejects.toThrow(/token_revoked/);
  });
});

describe('a workspace that requires issued identities', () => {
  beforeAll(async () => {
    await human(fixture, ['workspace', 'policy', 'set', '--require-identity', 'issued', '--yes']);
  });
  afterAll(async () => {
    await human(fixture, [
      'workspace',
      'policy',
      'set',
      '--require-identity',
      'anonymous',
      '--yes',
    ]);
  });

  const refused: [string, () => Promise<Client>][] = [
    ['stdio, declared by clientInfo.name', () => connect(stdioClient(fixture).transport)],
    [
      'stdio, declared by --agent-id',
      () => connect(stdioClient(fixture, {}, ['--agent-id', 'named-bot']).transport),
    ],
    ['HTTP --allow-anonymous, anonymous', () => connect(streamable(anonymousHttp.base), '')],
  ];

  it.each(refused)('%s: list is refused with identity_required', async (_name, open) => {
    const client = await open();
    try {
      for (const tool of ['list', 'logs']) {
        const result = await callTool(client, tool);
        seen.push(JSON.stringify(result));
        expect(result.isError).toBe(true);
        expect(result.content[0]!.text).toMatch(/^identity_required: /);
      }
      const call = await callTool(client, 'call', {
        url: `${fixture.upstream.url}/needs-identity`,
        bearer: 'API_KEY',
      });
      expect(call.content[0]!.text).toMatch(/^identity_required: /);
    } finally {
      await client.close();
    }
  });

  it('an issued session is served', async () => {
    const client = await connect(streamable(http.base, fixture.tokens['beta-bot']!));
    const result = await callTool(client, 'list');
    await client.close();
    expect(result.isError).toBeFalsy();
  });
});
