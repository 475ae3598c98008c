import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newestEntries } from '../../src/audit/reader.js';
import { createAgentStore, newAgent } from '../../src/identity/agents.js';
import { issueToken, loadSigningKey } from '../../src/identity/tokens.js';
import { startProxy, type RunningProxy } from '../../src/app/proxy-runtime.js';
import {
  AgentSecrets,
  AgentTokenError,
  DestinationBlockedError,
  DomainNotAllowedError,
  InvalidAgentIdError,
  ProxyUnavailableError,
  SecretNotFoundError,
} from '../../src/index.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { CLI, runCli, runCliInPty } from '../helpers/cli.js';
import { makeWorkspace, type Workspace } from '../helpers/proxy-fixture.js';
import { tempDir } from '../helpers/tmp.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';

const SECRET = canary('SDK');

describe('the TypeScript SDK against a running proxy', () => {
  let upstream: Upstream;
  let ws: Workspace;
  let proxy: RunningProxy;
  let token: string;

  beforeAll(async () => {
    upstream = await startUpstream(async (req, res, body) => {
      if (req.url === '/error') {
        res.writeHead(422, { 'content-type': 'application/json' });
        return void res.end(
          JSON.stringify({ error: 'invalid_request', message: 'upstream says no' }),
        );
      }
      echo(req, res, body);
    });
    ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: [`127.0.0.1:${upstream.port}`, '10.0.0.1'],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    const vault = await ws.services.vault.unlock();
    const key = (await loadSigningKey(vault, ws.target.workspaceId, { create: true }))!;
    const agents = createAgentStore(ws.services.config.paths);
    const agent = newAgent(ws.target.workspaceId, 'sdk-bot', '', new Date());
    const issued = await issueToken({
      key,
      agent,
      label: 'sdk',
      ttlSeconds: 3600,
      now: new Date(),
    });
    agent.tokens.push({
      id: issued.tokenId,
      label: 'sdk',
      created_at: new Date().toISOString(),
      expires_at: issued.expiresAt.toISOString(),
      revoked_at: null,
    });
    await agents.update((f) => void f.agents.push(agent));
    token = issued.token;
    proxy = await startProxy({
      services: ws.services,
      vault,
      port: 0,
      host: '127.0.0.1',
      sessionToken: true,
    });
  });
  afterAll(async () => {
    await proxy.close();
    await upstream.close();
  });

  it('calls with an injected secret and gets the redacted response', async () => {
    const client = new AgentSecrets({ home: ws.home, agentId: 'sdk-declared' });
    const response = await client.call({ url: `${upstream.url}/v1/items`, bearer: 'API_KEY' });
    expect(response.status).toBe(200);
    expect(response.redacted).toBe(true);
    expect(response.requestId).toMatch(/^evt_/);
    const echoed = response.json<{ headers: Record<string, string> }>();
    expect(echoed.headers.authorization).toBe('Bearer [REDACTED_BY_AGENTSECRETS]');
    expect(findLeaks(response.body, SECRET)).toEqual([]);
    client.close();
  });

  it('supports every injection style and a JSON body', async () => {
    const client = new AgentSecrets({ home: ws.home });
    const response = await client.call({
      url: `${upstream.url}/v1/post?keep=1`,
      method: 'post',
      body: { hello: 'world' },
      header: { 'X-Api-Key': 'API_KEY' },
      query: { apiKey: 'API_KEY' },
      bodyField: { 'auth.token': 'API_KEY' },
    });
    expect(response.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    expect(seen.method).toBe('POST');
    expect(seen.headers['x-api-key']).toBe(SECRET);
    expect(new URL(seen.url, 'http://x').searchParams.get('apiKey')).toBe(SECRET);
    expect(JSON.parse(seen.body)).toEqual({ hello: 'world', auth: { token: SECRET } });
    client.close();
  });

  it('an agent token is verified by the proxy and attributed', async () => {
    const client = new AgentSecrets({ home: ws.home, agentToken: token });
    await client.call({ url: `${upstream.url}/as-agent`, bearer: 'API_KEY' });
    await proxy.credentials.audit.flush();
    const [latest] = await newestEntries(ws.services.config.paths.auditDir, 1);
    expect(latest).toMatchObject({
      agent_id: 'sdk-bot',
      identity_level: 'issued',
      source: 'proxy',
    });
    client.close();
  });

  it.each([
    [
      'a domain off the allowlist',
      { url: 'https://evil.example.com/', bearer: 'API_KEY' },
      DomainNotAllowedError,
      'domain_not_in_allowlist',
    ],
    ['an unknown secret', { url: 'UP/x', bearer: 'NOPE' }, SecretNotFoundError, 'secret_not_found'],
    [
      'an allowlisted private address',
      { url: 'https://10.0.0.1/', bearer: 'API_KEY' },
      DestinationBlockedError,
      'ssrf_protection_blocked',
    ],
  ] as const)('maps %s to a typed error', async (_name, options, type, code) => {
    const client = new AgentSecrets({ home: ws.home });
    const err = await client
      .call({ ...options, url: options.url.replace('UP', upstream.url) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(type);
    expect(err).toMatchObject({ code });
    client.close();
  });

  it('a bad token is an AgentTokenError', async () => {
    const client = new AgentSecrets({ home: ws.home, agentToken: 'agt_nope' });
    const err = await client
      .call({ url: `${upstream.url}/x`, bearer: 'API_KEY' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentTokenError);
    client.close();
  });

  it.each(['alpha issued', 'bot\u00a0issued', 'x'.repeat(65), 'a/b'])(
    'agentId %j is refused: by the constructor, and by the proxy when sent as a header',
    async (name) => {
      let thrown: unknown;
      try {
        new AgentSecrets({ home: ws.home, agentId: name });
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(InvalidAgentIdError);
      expect(thrown).toMatchObject({ code: 'invalid_agent_id', status: 400 });
      // A client that skips the check (an ordinary header) meets the proxy's own.
      const client = new AgentSecrets({ home: ws.home });
      const before = upstream.seen.length;
      const err = await client
        .call({
          url: `${upstream.url}/v1/items`,
          bearer: 'API_KEY',
          headers: { 'X-AS-Agent-ID': name },
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidAgentIdError);
      expect(err).toMatchObject({ code: 'invalid_agent_id', status: 400 });
      expect((err as Error).message).toContain('1-64 letters, digits');
      expect(upstream.seen.length).toBe(before);
      client.close();
    },
  );

  it("an upstream's own JSON error is a response, not a proxy error", async () => {
    const client = new AgentSecrets({ home: ws.home });
    const response = await client.call({ url: `${upstream.url}/error`, bearer: 'API_KEY' });
    expect(response.status).toBe(422);
    expect(response.json()).toEqual({ error: 'invalid_request', message: 'upstream says no' });
    client.close();
  });

  it('without a running proxy it says how to start one', async () => {
    const client = new AgentSecrets({ home: await tempDir() });
    const err = await client.call({ url: 'https://x.test/', bearer: 'K' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProxyUnavailableError);
    expect((err as Error).message).toContain('agentsecrets proxy start');
  });
});

describe('the built SDK can start a proxy itself (autoStart)', () => {
  it('starts `agentsecrets proxy start` in the background and calls through it', async () => {
    const upstream = await startUpstream(echo);
    const home = join(await tempDir(), 'state');
    const env = {
      AGENTSECRETS_PASSPHRASE: 'sdk-autostart-pass',
      AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
    };
    expect(
      (await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], { home, env }))
        .code,
    ).toBe(0);
    expect((await runCli(['secrets', 'set', 'API_KEY'], { home, env, input: SECRET })).code).toBe(
      0,
    );
    expect(
      (
        await runCliInPty(
          ['workspace', 'allowlist', 'add', `127.0.0.1:${upstream.port}`, '--yes'],
          { home, env },
        )
      ).code,
    ).toBe(0);
    const script = `
      import { AgentSecrets } from ${JSON.stringify(new URL('../../dist/src/index.js', import.meta.url).href)};
      const client = new AgentSecrets({ home: process.env.HOME_DIR, autoStart: true, port: 0 });
      const response = await client.call({ url: process.env.URL, bearer: 'API_KEY' });
      process.stdout.write(JSON.stringify({ status: response.status, redacted: response.redacted }));
      client.close();
    `;
    // Asynchronous: the upstream lives in this process and must keep answering meanwhile.
    const result = await new Promise<{ status: number | null; stdout: string; stderr: string }>(
      (resolve) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
          env: { PATH: process.env.PATH, ...env, HOME_DIR: home, URL: `${upstream.url}/auto` },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
        child.on('close', (status) => resolve({ status, stdout, stderr }));
      },
    );
    expect(result.status, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ status: 200, redacted: true });
    // Stop the proxy the SDK started.
    expect(
      spawnSync(process.execPath, [CLI, 'proxy', 'stop'], {
        env: { PATH: process.env.PATH, AGENTSECRETS_HOME: home },
      }).status,
    ).toBe(0);
    await upstream.close();
  });
});
