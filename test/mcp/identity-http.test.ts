import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLeaks } from '../helpers/canary.js';
import {
  type Fixture,
  latest,
  SECRET,
  setup,
  startHttp,
  stdioClient,
  stopHttp,
} from './fixture.js';

let fixture: Fixture;
const seen: string[] = [];

beforeAll(async () => {
  fixture = await setup();
});
afterAll(async () => {
  await fixture.upstream.close();
  expect(findLeaks(seen.join('\n'), SECRET)).toEqual([]);
});

describe('MCP clientInfo.name: sanitised into a declared name, else anonymous', () => {
  // The previous server took any printable name as is: "Claude Desktop", "alpha issued".
  it.each([
    ['Claude Desktop', 'Claude-Desktop', 'declared'],
    ['alpha issued', 'alpha-issued', 'declared'],
    ['cursor', 'cursor', 'declared'],
    ['日本語クライアント', null, 'anonymous'],
  ])('clientInfo.name %j is %j (%s)', async (clientName, name, level) => {
    const { transport } = stdioClient(fixture);
    const client = new Client({ name: clientName, version: '1.0.0' });
    await client.connect(transport);
    const status = await client.callTool({ name: 'status', arguments: {} });
    expect(status.structuredContent).toMatchObject({ identity: { name, level } });
    const url = `${fixture.upstream.url}/client-name/${encodeURIComponent(clientName)}`;
    const result = await client.callTool({ name: 'call', arguments: { url, bearer: 'API_KEY' } });
    seen.push(JSON.stringify(result));
    expect(result.isError).not.toBe(true);
    await client.close();
    expect(await latest(fixture, (e) => e.target_url === url)).toMatchObject({
      agent_id: name,
      identity_level: level,
      source: 'mcp',
    });
  });

  it('an explicit --agent-id wins over the client name', async () => {
    const { transport } = stdioClient(fixture, {}, ['--agent-id', 'desk.top_1']);
    const client = new Client({ name: 'Claude Desktop', version: '1.0.0' });
    await client.connect(transport);
    const status = await client.callTool({ name: 'status', arguments: {} });
    expect(status.structuredContent).toMatchObject({
      identity: { name: 'desk.top_1', level: 'declared' },
    });
    await client.close();
  });

  it('an explicit --agent-id that does not match is refused at start', async () => {
    const { transport, stderr } = stdioClient(fixture, {}, ['--agent-id', 'Claude Desktop']);
    const client = new Client({ name: 'cursor', version: '1.0.0' });
    await expect(client.connect(transport)).rejects.toThrow();
    expect(stderr()).toContain('[invalid_agent_id]');
    expect(stderr()).toContain('1-64 letters, digits, ".", "_" or "-"');
  });
});

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One raw request: the status and header exactly as sent. */
function raw(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path: url.pathname, method, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: {
    protocolVersion: '2025-06-18',
    capabilities: {},
    clientInfo: { name: 'raw', version: '1' },
  },
});

describe('MCP over HTTP without a valid token: 401 with an ASCII WWW-Authenticate', () => {
  let server: ChildProcess;
  let base: string;

  beforeAll(async () => {
    ({ child: server, base } = await startHttp(fixture, []));
  });
  afterAll(async () => {
    await stopHttp(server);
  });

  const forged = () => `${fixture.tokens['alpha-bot']!.slice(0, -4)}AAAA`;
  const cases: {
    name: string;
    path: '/mcp' | '/sse';
    token: () => string | undefined;
    challenge: RegExp;
  }[] = [
    {
      name: 'POST /mcp, no token',
      path: '/mcp',
      token: () => undefined,
      challenge: /^Bearer realm="agentsecrets"$/,
    },
    {
      name: 'GET /sse, no token',
      path: '/sse',
      token: () => undefined,
      challenge: /^Bearer realm="agentsecrets"$/,
    },
    {
      name: 'POST /mcp, forged token',
      path: '/mcp',
      token: forged,
      challenge: /^Bearer realm="agentsecrets", error="invalid_token", error_description="[^"]+"$/,
    },
    {
      name: 'GET /sse, forged token',
      path: '/sse',
      token: forged,
      challenge: /^Bearer realm="agentsecrets", error="invalid_token", error_description="[^"]+"$/,
    },
  ];

  it.each(cases)('$name: 401, not 500', async ({ path, token, challenge }) => {
    const presented = token();
    const auth: Record<string, string> =
      presented === undefined ? {} : { authorization: `Bearer ${presented}` };
    const answer =
      path === '/mcp'
        ? await raw(
            new URL(`${base}/mcp`),
            'POST',
            {
              'content-type': 'application/json',
              accept: 'application/json, text/event-stream',
              ...auth,
            },
            INITIALIZE,
          )
        : await raw(new URL(`${base}/sse`), 'GET', { accept: 'text/event-stream', ...auth });
    expect(answer.status).toBe(401);
    const header = answer.headers['www-authenticate'];
    expect(typeof header).toBe('string');
    expect(header).toMatch(/^[\x20-\x7e]+$/);
    expect(header).toMatch(challenge);
    const body = JSON.parse(answer.body) as { error: string; message: string };
    expect(body.error).toMatch(/^(invalid_agent_token|token_revoked)$/);
    expect(body.message).not.toMatch(/internal/);
    if (presented !== undefined) {
      expect(answer.body).not.toContain(presented.slice(4));
      expect(header).not.toContain(presented.slice(4));
    }
  });

  it('the real SDK client over Streamable HTTP sees the 401', async () => {
    const client = new Client({ name: 'nobody', version: '1.0.0' });
    const error = await client
      .connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`)))
      .then(
        () => undefined,
        (err: unknown) => err as { code?: number; message: string },
      );
    expect(error).toBeDefined();
    expect(error!.code).toBe(401);
  });

  it('the real SDK client over SSE sees the 401', async () => {
    const client = new Client({ name: 'nobody', version: '1.0.0' });
    const error = await client.connect(new SSEClientTransport(new URL(`${base}/sse`))).then(
      () => undefined,
      (err: unknown) => err as { code?: number; message: string },
    );
    expect(error).toBeDefined();
    expect(error!.code).toBe(401);
  });
});
