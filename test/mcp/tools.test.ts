import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerPrompts } from '../../prompts/index.js';
import { registerTools } from '../../tools/index.js';
import { type App, createApp, type SyncBackend } from '../../src/app/index.js';
import { createInflight } from '../../src/mcp/inflight.js';
import { createMcpSession, defaultTargetOnce } from '../../src/mcp/server.js';
import type { McpDeps } from '../../src/mcp/context.js';
import { type LocalCredentialService } from '../../src/proxy/credential-service.js';
import type { DiffResult, PullResult } from '../../src/sync/types.js';
import { canary, findLeaks } from '../helpers/canary.js';
import {
  makeWorkspace,
  serviceFor,
  tableResolver,
  type Workspace,
} from '../helpers/proxy-fixture.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/*
 * Each MCP tool, through the SDK's real Client over InMemoryTransport, against a services
 * object built in this process: a real vault and workspace in a temp folder, the real local
 * credential service and engine, a real upstream on 127.0.0.1. Only team sync is a fake of our
 * own SyncBackend interface (the spawned e2e suite covers a real sync server).
 */

const SECRET = canary('MCP_TOOL');

type ToolResult = {
  isError?: boolean;
  structuredContent?: Record<string, unknown>;
  content: { type: string; text: string }[];
};

let ws: Workspace;
let upstream: Upstream;
let credentials: LocalCredentialService;
const outputs: string[] = [];

/** A fake sync backend: what the tools do with its answers, not how sync computes them. */
function fakeSync(): SyncBackend & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async diff(target) {
      asked.push(`diff ${target.projectName}/${target.environment}`);
      const result: DiffResult = {
        remote_configured: true,
        message: '1 key differs',
        keys: [
          {
            key: 'API_KEY',
            state: 'out_of_sync',
            newer: 'remote',
            local_version: 1,
            remote_version: 2,
          },
        ],
      };
      return result;
    },
    async pull(target) {
      asked.push(`pull ${target.projectName}/${target.environment}`);
      const result: PullResult = {
        remote_configured: true,
        message: 'pulled 1 key',
        pulled: ['API_KEY'],
        conflicts: [],
        unchanged: 0,
      };
      return result;
    },
  };
}

async function connect(
  app: App,
  session: { agentId?: string; token?: string } = { agentId: 'tool-tester' },
): Promise<Client> {
  const deps: McpDeps = {
    app,
    maxBodyChars: 65_536,
    version: 'test',
    inflight: createInflight(),
    register(server: McpServer, ctx) {
      registerTools(server, ctx);
      registerPrompts(server);
    },
  };
  const server = createMcpSession(deps, session, defaultTargetOnce(deps));
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'vitest', version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}

async function call(client: Client, name: string, args: Record<string, unknown> = {}) {
  const result = (await client.callTool({ name, arguments: args })) as ToolResult;
  outputs.push(JSON.stringify(result));
  return result;
}

beforeAll(async () => {
  upstream = await startUpstream();
  ws = await makeWorkspace({
    secrets: { API_KEY: SECRET },
    allowlist: [`127.0.0.1:${upstream.port}`],
    env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
  });
  credentials = await serviceFor(ws, { resolver: tableResolver({}) });
});

afterAll(async () => {
  await credentials?.close();
  await upstream?.close();
  // Nothing any tool returned carries the value, in any encoding.
  expect(findLeaks(outputs.join('\n'), SECRET)).toEqual([]);
});

describe('MCP tools over InMemoryTransport against a services object', () => {
  it('lists the eight tools with read-only hints where they only read', async () => {
    const client = await connect(createApp(ws.services, { credentials: () => credentials }));
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      'api_call',
      'call',
      'diff',
      'list',
      'list_secrets',
      'logs',
      'pull',
      'status',
    ]);
    const readOnly = tools.filter((t) => t.annotations?.readOnlyHint === true).map((t) => t.name);
    expect(readOnly.sort()).toEqual(['diff', 'list', 'list_secrets', 'logs', 'status']);
    await client.close();
  });

  it('status reports the selection, the secret count and the declared caller', async () => {
    const client = await connect(createApp(ws.services, { credentials: () => credentials }));
    const status = await call(client, 'status');
    expect(status.isError).toBeFalsy();
    expect(status.structuredContent).toMatchObject({
      project: 'default',
      environment: 'development',
      secrets: 1,
      unbound_secrets: ['API_KEY'],
      remote_configured: false,
      proxy_running: false,
      identity: { name: 'tool-tester', level: 'declared' },
    });
    await client.close();
  });

  it('list and list_secrets give names and versions, never values', async () => {
    const client = await connect(createApp(ws.services, { credentials: () => credentials }));
    const list = await call(client, 'list');
    expect(list.structuredContent).toMatchObject({
      project: 'default',
      secrets: [{ key: 'API_KEY', version: 1, bound_to: null }],
    });
    const compat = await call(client, 'list_secrets');
    expect(compat.content[0]!.text).toContain('• API_KEY');
    const missing = await call(client, 'list', { project: 'nope' });
    expect(missing.isError).toBe(true);
    expect(missing.content[0]!.text).toContain('project_not_found');
    await client.close();
  });

  it('call injects by name, redacts the echo, and a blocked host is an error result', async () => {
    const client = await connect(createApp(ws.services, { credentials: () => credentials }));
    const ok = await call(client, 'call', {
      url: `${upstream.url}/tools-test`,
      bearer: 'API_KEY',
      body: '{"a":1}',
    });
    expect(ok.isError).toBeFalsy();
    expect(ok.structuredContent).toMatchObject({ status: 200, redacted: true });
    const seen = upstream.seen.at(-1)!;
    expect(seen.headers['authorization']).toBe(`Bearer ${SECRET}`);
    // The call-request builder guessed the body's type.
    expect(seen.headers['content-type']).toBe('application/json');
    const blocked = await call(client, 'call', {
      url: 'https://evil.example.com/',
      bearer: 'API_KEY',
    });
    expect(blocked.isError).toBe(true);
    expect(blocked.content[0]!.text).toContain('domain_not_in_allowlist');
    const none = await call(client, 'call', { url: `${upstream.url}/x` });
    expect(none.isError).toBe(true);
    expect(none.content[0]!.text).toContain('bad_request');
    await client.close();
  });

  it('api_call takes the Go tool spec map, and refuses an unknown spec', async () => {
    const client = await connect(createApp(ws.services, { credentials: () => credentials }));
    const ok = await call(client, 'api_call', {
      url: `${upstream.url}/go-style`,
      injections: { 'header:X-Api-Key': 'API_KEY' },
    });
    expect(ok.isError).toBeFalsy();
    expect(upstream.seen.at(-1)!.headers['x-api-key']).toBe(SECRET);
    const bad = await call(client, 'api_call', {
      url: `${upstream.url}/go-style`,
      injections: { 'cookie:session': 'API_KEY' },
    });
    expect(bad.isError).toBe(true);
    expect(bad.content[0]!.text).toContain("unknown injection 'cookie:session'");
    await client.close();
  });

  it('logs shows the calls above, filtered, with who made them', async () => {
    await credentials.audit.flush();
    const client = await connect(createApp(ws.services, { credentials: () => credentials }));
    const blocked = await call(client, 'logs', { status: 'BLOCKED' });
    const entries = blocked.structuredContent!.entries as { status: string; agent: string }[];
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e) => e.status === 'BLOCKED' && e.agent === 'tool-tester')).toBe(true);
    const one = await call(client, 'logs', { count: 1, status: 'OK' });
    expect((one.structuredContent!.entries as unknown[]).length).toBe(1);
    const badSince = await call(client, 'logs', { since: 'yesterday-ish' });
    expect(badSince.isError).toBe(true);
    await client.close();
  });

  it('diff and pull say there is no remote, or relay the sync backend for the session target', async () => {
    const none = await connect(createApp(ws.services, { credentials: () => credentials }));
    const noDiff = await call(none, 'diff');
    expect(noDiff.structuredContent).toMatchObject({ remote_configured: false, keys: [] });
    const noPull = await call(none, 'pull');
    expect(noPull.structuredContent).toMatchObject({ remote_configured: false, pulled: [] });
    await none.close();

    const sync = fakeSync();
    const client = await connect(createApp(ws.services, { credentials: () => credentials, sync }));
    const diff = await call(client, 'diff');
    expect(diff.structuredContent).toMatchObject({
      remote_configured: true,
      keys: [{ key: 'API_KEY', state: 'out_of_sync', newer: 'remote' }],
    });
    expect(diff.content[0]!.text).toContain('API_KEY: out_of_sync (remote newer)');
    const pull = await call(client, 'pull');
    expect(pull.structuredContent).toMatchObject({ pulled: ['API_KEY'] });
    expect(sync.asked).toEqual(['diff default/development', 'pull default/development']);
    await client.close();
  });

  it('a workspace that requires an issued identity refuses every tool to a declared session', async () => {
    const app = createApp(ws.services, { credentials: () => credentials });
    await ws.services.workspaces.updateWorkspace(ws.target.workspaceId, (w) => {
      w.policy.require_identity = 'issued';
    });
    try {
      const client = await connect(app);
      for (const name of ['status', 'list', 'logs', 'diff']) {
        const refused = await call(client, name);
        expect(refused.isError, name).toBe(true);
        expect(refused.content[0]!.text, name).toContain('identity_required');
      }
      await client.close();
    } finally {
      await ws.services.workspaces.updateWorkspace(ws.target.workspaceId, (w) => {
        w.policy.require_identity = 'anonymous';
      });
    }
  });
});
