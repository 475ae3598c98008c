import { writeFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app/index.js';
import {
  contentTypeFor,
  encodeBody,
  groupHeaders,
  injectionHeaders,
  injectionsFrom,
  injectionsFromSpecs,
  withContentType,
} from '../../src/app/call-request.js';
import { loadConfig } from '../../src/core/config.js';
import type { AgentSecretsError } from '../../src/core/errors.js';
import { parseProxyHeaders } from '../../src/proxy/protocol.js';
import type { CredentialService } from '../../src/proxy/credential-service.js';
import { createServices } from '../../src/services/index.js';
import { canary } from '../helpers/canary.js';
import { makeWorkspace, type Workspace } from '../helpers/proxy-fixture.js';
import { tempDir } from '../helpers/tmp.js';

/** Use cases that need no credential service refuse to build one. */
const NO_CREDENTIALS = (): CredentialService => {
  throw new Error('this use case must not need the credential service');
};

async function refusal(promise: Promise<unknown>): Promise<AgentSecretsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e as AgentSecretsError,
  );
  if (err === undefined) throw new Error('expected a refusal');
  return err;
}

describe('status.snapshot', () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await makeWorkspace({ secrets: { B_KEY: canary(), A_KEY: canary() } });
  });

  it('reports an empty state folder as not initialized', async () => {
    const home = await tempDir('as-app-');
    const app = createApp(createServices(loadConfig({ AGENTSECRETS_HOME: home }, home)), {
      credentials: NO_CREDENTIALS,
    });
    expect(await app.status.snapshot()).toEqual({ initialized: false, home });
  });

  it('reports the current selection, its secrets and no key holder', async () => {
    const app = createApp(ws.services, { credentials: NO_CREDENTIALS });
    const snap = await app.status.snapshot();
    expect(snap).toMatchObject({
      initialized: true,
      project: 'default',
      environment: 'development',
      environment_source: 'global',
      secrets: 2,
      unbound_secrets: expect.arrayContaining(['A_KEY', 'B_KEY']),
      proxy: { running: false },
      intercept: { up: false },
      problem: null,
    });
  });

  it('for an MCP session target, reports that selection (no sources: the session chose it)', async () => {
    const app = createApp(ws.services, { credentials: NO_CREDENTIALS });
    const target = (await app.resolveSelection()).target;
    const snap = await app.status.snapshot({ target });
    expect(snap).toMatchObject({ project: 'default', secrets: 2, environment_source: null });
  });

  it('a stale proxy.json (dead pid) is not a running key holder', async () => {
    const app = createApp(ws.services, { credentials: NO_CREDENTIALS });
    const stale = { pid: 2 ** 22 + 12345, host: '127.0.0.1', port: 1, socket: '/nonexistent' };
    await writeFile(ws.services.config.paths.proxy, JSON.stringify(stale));
    expect(await app.keyHolder.find()).toBeUndefined();
    expect(
      (await app.status.snapshot()).initialized && (await app.status.snapshot()),
    ).toMatchObject({ proxy: { running: false } });
  });
});

describe('workspaces, selection and secrets', () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = await makeWorkspace({ secrets: { ZED: canary(), ALPHA: canary(), MID: canary() } });
  });

  it('resolveSelection gives one target with ids and names', async () => {
    const app = createApp(ws.services, { credentials: NO_CREDENTIALS });
    const current = await app.resolveSelection();
    expect(current.target).toEqual({
      ...ws.target,
      workspaceName: current.workspace.name,
      projectName: 'default',
    });
  });

  it('workspaces.require finds a workspace by id, or says workspace_not_found', async () => {
    const app = createApp(ws.services, { credentials: NO_CREDENTIALS });
    expect((await app.workspaces.require(ws.target.workspaceId)).id).toBe(ws.target.workspaceId);
    const err = await refusal(app.workspaces.require('ws_gone'));
    expect(err.code).toBe('workspace_not_found');
    expect(err.message).toContain('agentsecrets status');
  });

  it('secrets.list returns records sorted by key, without values', async () => {
    const app = createApp(ws.services, { credentials: NO_CREDENTIALS });
    const records = await app.secrets.list((await app.resolveSelection()).target);
    expect(records.map((r) => r.key)).toEqual(['ALPHA', 'MID', 'ZED']);
    expect(records.every((r) => !('ciphertext' in r) && !('value' in r))).toBe(true);
  });

  it('sync without a remote says so; audit.query parses since and refuses nonsense', async () => {
    const app = createApp(ws.services, { credentials: NO_CREDENTIALS });
    const target = (await app.resolveSelection()).target;
    expect(await app.sync.diff(target)).toMatchObject({ remote_configured: false, keys: [] });
    expect(await app.sync.pull(target)).toMatchObject({ remote_configured: false, pulled: [] });
    expect(await app.audit.query({ since: '1h' }, 10)).toEqual([]);
    expect((await refusal(app.audit.query({ since: 'whenever' }, 10))).code).toBe('usage_error');
  });

  it('calls.execute builds the credential service once, on first use', async () => {
    let built = 0;
    const fake: CredentialService = {
      mode: 'in-process',
      call: async (input) => ({
        requestId: 'evt_x',
        status: 200,
        headers: [],
        body: Buffer.from(input.identity.agentId ?? ''),
        redacted: false,
        durationMs: 1,
      }),
      envValues: () => Promise.reject(new Error('unused')),
      identify: async () => ({ level: 'anonymous', agentId: null, tokenId: null, source: 'cli' }),
      auditTrust: async () => ({ publicKey: undefined, head: null }),
      close: async () => undefined,
    };
    const app = createApp(ws.services, { credentials: () => (built++, fake) });
    expect(built).toBe(0);
    const request = {
      url: 'https://a.example/',
      method: 'GET',
      headers: [],
      body: undefined,
      injections: [],
      target: ws.target,
    };
    const first = await app.calls.execute(request, { agentId: 'bot', source: 'sdk' });
    await app.calls.execute(request, { agentId: 'bot', source: 'sdk' });
    expect(first.body.toString()).toBe('bot');
    expect(built).toBe(1);
  });
});

describe('the call-request builder', () => {
  it('orders injections bearer, basic, header, query, body, form; keeps repeated pairs', () => {
    expect(
      injectionsFrom({
        form: { f: 'F' },
        header: [
          ['X-A', 'K1'],
          ['X-A', 'K2'],
        ],
        basic: 'B',
        query: { q: 'Q' },
        bearer: 'T',
        body: { 'a.b': 'J' },
      }),
    ).toEqual([
      { style: 'bearer', key: 'T' },
      { style: 'basic', key: 'B' },
      { style: 'header', target: 'X-A', key: 'K1' },
      { style: 'header', target: 'X-A', key: 'K2' },
      { style: 'query', target: 'q', key: 'Q' },
      { style: 'body', target: 'a.b', key: 'J' },
      { style: 'form', target: 'f', key: 'F' },
    ]);
  });

  it.each([
    ['bearer', { style: 'bearer', key: 'K' }],
    ['header:X-Api-Key', { style: 'header', target: 'X-Api-Key', key: 'K' }],
    ['body:a.b', { style: 'body', target: 'a.b', key: 'K' }],
  ])('api_call spec %s', (spec, want) => {
    expect(injectionsFromSpecs({ [spec]: 'K' })).toEqual([want]);
  });

  it.each(['cookie:x', 'header:', 'header'])('api_call refuses the spec %s', (spec) => {
    expect(() => injectionsFromSpecs({ [spec]: 'K' })).toThrow(/unknown injection/);
  });

  it('guesses Content-Type only when a body has none', () => {
    expect(contentTypeFor('{"a":1}')).toBe('application/json');
    expect(contentTypeFor('a=1')).toBe('text/plain; charset=utf-8');
    expect(withContentType([], '[1]')).toEqual([['Content-Type', 'application/json']]);
    expect(withContentType([['content-type', 'x/y']], '[1]')).toEqual([['content-type', 'x/y']]);
    expect(withContentType([], undefined)).toEqual([]);
  });

  it('groups headers by lower-case name and encodes non-UTF-8 bodies as base64', () => {
    expect(
      groupHeaders([
        ['Set-Cookie', 'a'],
        ['set-cookie', 'b'],
        ['X', '1'],
      ]),
    ).toEqual({ 'set-cookie': ['a', 'b'], x: ['1'] });
    expect(encodeBody(Buffer.from('héllo'))).toEqual({ text: 'héllo', encoding: 'utf8' });
    expect(encodeBody(Buffer.from([0xff, 0x00]))).toEqual({ text: '/wA=', encoding: 'base64' });
  });

  it('the SDK wire headers parse back into the same injections at the proxy', () => {
    const injections = injectionsFrom({ bearer: 'T', header: { 'X-Key': 'H' }, query: { k: 'Q' } });
    const headers = Object.fromEntries(injectionHeaders(injections));
    expect(headers).toEqual({
      'X-AS-Inject-Bearer': 'T',
      'X-AS-Inject-Header-X-Key': 'H',
      'X-AS-Inject-Query-k': 'Q',
    });
    const parsed = parseProxyHeaders([
      'X-AS-Target-URL',
      'https://api.example.com/',
      ...injectionHeaders(injections).flat(),
    ]);
    expect(parsed.injections).toEqual(injections);
  });
});
