import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newestEntries } from '../../src/audit/reader.js';
import type { AgentSecretsError } from '../../src/core/errors.js';
import {
  createLocalCredentialService,
  type CredentialService,
  type ServiceCallInput,
} from '../../src/proxy/credential-service.js';
import { createKeyHolderClient, keyHolderAlive } from '../../src/proxy/key-holder.js';
import { startProxy, type RunningProxy } from '../../src/app/proxy-runtime.js';
import { findKeyHolder } from '../../src/proxy/state.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { makeWorkspace, type Workspace } from '../helpers/proxy-fixture.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';

const SECRET = canary('HOLDER');

/**
 * One service interface, two implementations (DESIGN §5): every case runs through the
 * in-process service and through a running key holder's socket, and must come out the same.
 */
describe('credential service: in-process and key holder behave the same', () => {
  let upstream: Upstream;
  let ws: Workspace;
  let proxy: RunningProxy;
  let local: CredentialService;
  let remote: CredentialService;

  beforeAll(async () => {
    upstream = await startUpstream(echo);
    ws = await makeWorkspace({
      secrets: { API_KEY: SECRET, OTHER: 'other-value-1234' },
      allowlist: [`127.0.0.1:${upstream.port}`],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    proxy = await startProxy({
      services: ws.services,
      vault: await ws.services.vault.unlock(),
      port: 0,
      host: '127.0.0.1',
      sessionToken: true,
    });
    local = await createLocalCredentialService({
      config: ws.services.config,
      workspaces: ws.services.workspaces,
      vault: ws.services.vault,
      unlock: () => ws.services.vault.unlock(),
    });
    const holder = await findKeyHolder(ws.services.config.paths);
    expect(holder).toBeDefined();
    remote = createKeyHolderClient(holder!.socket);
  });
  afterAll(async () => {
    await local.close();
    await proxy.close();
    await upstream.close();
  });

  const base = (over: Partial<ServiceCallInput>): ServiceCallInput => ({
    url: `http://127.0.0.1:0/`,
    method: 'GET',
    headers: [],
    body: undefined,
    injections: [{ style: 'bearer', key: 'API_KEY' }],
    target: ws.target,
    identity: { agentId: 'parity-bot', source: 'cli' },
    ...over,
  });

  const cases: {
    name: string;
    input: () => Partial<ServiceCallInput>;
    expect: { status?: number; code?: string };
  }[] = [
    {
      name: 'an injected call',
      input: () => ({ url: `${upstream.url}/ok` }),
      expect: { status: 200 },
    },
    {
      name: 'a POST with a JSON body field',
      input: () => ({
        url: `${upstream.url}/post`,
        method: 'POST',
        headers: [['Content-Type', 'application/json']],
        body: Buffer.from('{"a":1}'),
        injections: [{ style: 'body', target: 'auth.token', key: 'API_KEY' }],
      }),
      expect: { status: 200 },
    },
    {
      name: 'a domain off the allowlist',
      input: () => ({ url: 'https://evil.example.com/' }),
      expect: { code: 'domain_not_in_allowlist' },
    },
    {
      name: 'an unknown secret',
      input: () => ({ url: `${upstream.url}/x`, injections: [{ style: 'bearer', key: 'NOPE' }] }),
      expect: { code: 'secret_not_found' },
    },
    { name: 'a bad URL', input: () => ({ url: 'nope' }), expect: { code: 'bad_request' } },
    {
      name: 'cloud metadata',
      input: () => ({ url: 'https://169.254.169.254/' }),
      expect: { code: 'domain_not_in_allowlist' },
    },
  ];

  it.each(cases)('$name', async (row) => {
    const outcomes = [];
    for (const service of [local, remote]) {
      try {
        const result = await service.call(base(row.input()));
        outcomes.push({
          status: result.status,
          redacted: result.redacted,
          body: result.body.toString(),
        });
      } catch (err) {
        const error = err as AgentSecretsError;
        outcomes.push({ code: error.code, message: error.message });
        expect(error.message).not.toContain(SECRET);
      }
    }
    const [viaLocal, viaHolder] = outcomes;
    if (row.expect.status !== undefined) {
      expect(viaLocal).toMatchObject({ status: row.expect.status, redacted: true });
      expect(viaHolder).toMatchObject({ status: row.expect.status, redacted: true });
      expect(findLeaks(viaLocal!.body!, SECRET)).toEqual([]);
      expect(findLeaks(viaHolder!.body!, SECRET)).toEqual([]);
    } else {
      expect(viaLocal).toEqual(viaHolder);
      expect(viaLocal).toMatchObject({ code: row.expect.code });
    }
  });

  it('env values: the same keys and values either way, and an unknown key fails the same', async () => {
    const request = {
      target: ws.target,
      keys: ['API_KEY'],
      command: 'node',
      identity: { source: 'env' as const },
    };
    expect((await local.envValues(request)).values).toEqual(new Map([['API_KEY', SECRET]]));
    expect((await remote.envValues(request)).values).toEqual(new Map([['API_KEY', SECRET]]));
    // Both hand env every value in scope to mask (the vault's own records change over time,
    // e.g. the audit checkpoint head, so only the secret is compared).
    expect((await remote.envValues(request)).mask).toContain(SECRET);
    expect((await local.envValues(request)).mask).toContain(SECRET);
    const missing = { ...request, keys: ['NOPE'] };
    const a = (await local.envValues(missing).catch((e: unknown) => e)) as AgentSecretsError;
    const b = (await remote.envValues(missing).catch((e: unknown) => e)) as AgentSecretsError;
    expect([a.code, b.code]).toEqual(['secret_not_found', 'secret_not_found']);
  });

  it('the key holder verifies a presented token itself: a forged one is refused', async () => {
    const err = (await remote
      .call(
        base({
          url: `${upstream.url}/ok`,
          identity: { token: 'agt_forged.token.value', source: 'cli' },
        }),
      )
      .catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('invalid_agent_token');
  });

  it('calls through the socket are audited by the key holder with the caller identity', async () => {
    await proxy.credentials.audit.flush();
    const entries = await newestEntries(ws.services.config.paths.auditDir, 100);
    expect(
      entries.some(
        (e) => e.agent_id === 'parity-bot' && e.identity_level === 'declared' && e.status === 'OK',
      ),
    ).toBe(true);
  });
});

describe('graceful shutdown', () => {
  it('finishes in-flight calls, then removes proxy.json and the socket', async () => {
    const slow = await startUpstream(async (req, res, body) => {
      await new Promise((r) => setTimeout(r, 400));
      echo(req, res, body);
    });
    const ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: [`127.0.0.1:${slow.port}`],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    const proxy = await startProxy({
      services: ws.services,
      vault: await ws.services.vault.unlock(),
      port: 0,
      host: '127.0.0.1',
      sessionToken: true,
    });
    const inFlight = new Promise<number>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: proxy.state.port,
          path: '/proxy',
          headers: {
            'X-AS-Session-Token': proxy.state.session_token!,
            'X-AS-Target-URL': `${slow.url}/slow`,
            'X-AS-Inject-Bearer': 'API_KEY',
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        },
      );
      req.on('error', reject);
      req.end();
    });
    await new Promise((r) => setTimeout(r, 100));
    const closing = proxy.close();
    expect(await inFlight).toBe(200);
    await closing;
    expect(await findKeyHolder(ws.services.config.paths)).toBeUndefined();
    expect(await keyHolderAlive(ws.services.config.paths.socket)).toBe(false);
    const entries = await newestEntries(ws.services.config.paths.auditDir, 10);
    expect(entries.map((e) => e.status)).toEqual(['OK']);
    await slow.close();
  });
});
