import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/audit/format.js';
import { newestEntries } from '../../src/audit/reader.js';
import { verifyChain } from '../../src/audit/verify.js';
import { canary, findLeaks, scanTree } from '../helpers/canary.js';
import { baseEnv, CLI, type CliResult, runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';

const PASSPHRASE = 'identity-e2e-passphrase';
const SECRET = canary('IDENTITY');
const OTHER = canary('OTHERKEY');

function proxyCall(
  port: number,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/proxy', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('issued tokens, revocation and policy, end to end (spawned CLI and proxy)', () => {
  let home: string;
  let upstream: Upstream;
  let proxy: ChildProcess;
  let port: number;
  let session: string;
  const tokens: Record<string, string> = {};
  const outputs: string[] = [];
  const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE, AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' };

  const cli = async (
    args: string[],
    extra: Record<string, string | undefined> = {},
    input?: string,
  ): Promise<CliResult> => {
    const result = await runCli(args, { home, env: { ...env, ...extra }, input });
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  const human = async (args: string[]) => {
    const result = await runCliInPty([...args, '--yes'], { home, env });
    outputs.push(result.stdout);
    expect(result.code, result.stdout).toBe(0);
    return result;
  };
  const call = async (headers: Record<string, string>) => {
    const result = await proxyCall(port, {
      'X-AS-Session-Token': session,
      'X-AS-Target-URL': `${upstream.url}/v1/charges`,
      ...headers,
    });
    outputs.push(result.body);
    return result;
  };
  const entries = async (): Promise<AuditEntry[]> => {
    // Entries are written as each call completes; give the writer its turn.
    await new Promise((r) => setTimeout(r, 50));
    return newestEntries(join(home, 'audit'), 100_000);
  };

  beforeAll(async () => {
    upstream = await startUpstream(echo);
    home = join(await tempDir(), 'state');
    expect((await cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'])).code).toBe(0);
    expect((await cli(['secrets', 'set', 'STRIPE_KEY'], {}, SECRET)).code).toBe(0);
    expect((await cli(['secrets', 'set', 'GITHUB_TOKEN'], {}, OTHER)).code).toBe(0);
    await human(['workspace', 'allowlist', 'add', `127.0.0.1:${upstream.port}`]);
    for (const name of ['billing-bot', 'support-bot']) {
      expect((await cli(['agent', 'create', name])).code).toBe(0);
    }
    proxy = spawn(process.execPath, [CLI, 'proxy', 'start', '--port', '0'], {
      env: baseEnv(home, env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (let i = 0; i < 200 && port === undefined; i++) {
      const text = await readFile(join(home, 'proxy.json'), 'utf8').catch(() => undefined);
      if (text !== undefined)
        ({ port, session_token: session } = JSON.parse(text) as {
          port: number;
          session_token: string;
        });
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(port).toBeGreaterThan(0);
  });

  afterAll(async () => {
    if (proxy.exitCode === null && proxy.signalCode === null) {
      proxy.kill('SIGTERM');
      await new Promise((r) => proxy.once('exit', r));
    }
    await upstream.close();
  });

  it('token issue prints exactly one token line on stdout; agents.json keeps only its id', async () => {
    for (const name of ['billing-bot', 'support-bot']) {
      // The human gate needs a terminal; the token is the first line of the terminal's output.
      const result = await runCliInPty(
        ['agent', 'token', 'issue', name, '--label', 'e2e', '--yes'],
        { home, env },
      );
      expect(result.code).toBe(0);
      const token = result.stdout.split(/\r?\n/)[0]!.trim();
      expect(token).toMatch(/^agt_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      tokens[name] = token;
    }
    // Without a terminal it is refused.
    const refused = await cli(['agent', 'token', 'issue', 'billing-bot', '--yes']);
    expect(refused.code).toBe(3);
    expect(refused.stdout).toBe('');
    const agentsJson = await readFile(join(home, 'agents.json'), 'utf8');
    expect(agentsJson).toMatch(/"id": "tok_/);
    for (const token of Object.values(tokens)) expect(agentsJson).not.toContain(token.slice(4, 40));
  });

  it('a call with the token is attributed to the agent as issued, with the token id', async () => {
    const result = await call({
      'X-AS-Inject-Bearer': 'STRIPE_KEY',
      'X-AS-Agent-Token': tokens['billing-bot']!,
    });
    expect(result.status).toBe(200);
    const list = await cli(['agent', 'token', 'list', 'billing-bot', '--json']);
    const [meta] = JSON.parse(list.stdout) as { id: string; status: string; calls: number }[];
    expect(meta).toMatchObject({ status: 'active', calls: 1 });
    const latest = (await entries())[0]!;
    expect(latest).toMatchObject({
      agent_id: 'billing-bot',
      identity_level: 'issued',
      token_id: meta!.id,
      status: 'OK',
    });
  });

  it('a declared name is logged as a claim, never as verified', async () => {
    const result = await call({
      'X-AS-Inject-Bearer': 'STRIPE_KEY',
      'X-AS-Agent-ID': 'billing-bot',
    });
    expect(result.status).toBe(200);
    expect((await entries())[0]).toMatchObject({
      agent_id: 'billing-bot',
      identity_level: 'declared',
      token_id: null,
    });
    const table = await cli(['log', '--limit', '2']);
    expect(table.stdout).toMatch(/\sbilling-bot\s+declared\s/);
    expect(table.stdout).toMatch(/\sbilling-bot\s+issued\s/);
  });

  it('an invalid token is an error, never a silent downgrade', async () => {
    const forged = `${tokens['billing-bot']!.slice(0, -6)}AAAAAA`;
    for (const bad of [forged, 'agt_garbage', 'BILLING_TOKEN']) {
      const result = await call({
        'X-AS-Inject-Bearer': 'STRIPE_KEY',
        'X-AS-Agent-Token': bad,
        'X-AS-Agent-ID': 'billing-bot',
      });
      expect(result.status).toBe(401);
      expect(JSON.parse(result.body)).toMatchObject({ error: 'invalid_agent_token' });
    }
  });

  it('revoking a token stops it on the very next call; the other agent keeps working', async () => {
    const list = await cli(['agent', 'token', 'list', 'billing-bot', '--json']);
    const [meta] = JSON.parse(list.stdout) as { id: string }[];
    await human(['agent', 'token', 'revoke', meta!.id, '--agent', 'billing-bot']);
    const refused = await call({
      'X-AS-Inject-Bearer': 'STRIPE_KEY',
      'X-AS-Agent-Token': tokens['billing-bot']!,
    });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'token_revoked' });
    const other = await call({
      'X-AS-Inject-Bearer': 'STRIPE_KEY',
      'X-AS-Agent-Token': tokens['support-bot']!,
    });
    expect(other.status).toBe(200);
    // Entries made before the revocation keep their attribution.
    const all = await entries();
    expect(
      all.some(
        (e) => e.token_id === meta!.id && e.status === 'OK' && e.identity_level === 'issued',
      ),
    ).toBe(true);
  });

  it('the CLI verifies tokens too: call --token and AGENTSECRETS_AGENT_TOKEN', async () => {
    const viaFlag = await cli([
      'call',
      '--url',
      `${upstream.url}/cli`,
      '--bearer',
      'STRIPE_KEY',
      '--token',
      tokens['support-bot']!,
    ]);
    expect(viaFlag.code).toBe(0);
    const viaEnv = await cli(['call', '--url', `${upstream.url}/cli`, '--bearer', 'STRIPE_KEY'], {
      AGENTSECRETS_AGENT_TOKEN: tokens['support-bot']!,
    });
    expect(viaEnv.code).toBe(0);
    const viaGoName = await cli(
      ['call', '--url', `${upstream.url}/cli`, '--bearer', 'STRIPE_KEY'],
      { AS_AGENT_TOKEN: tokens['billing-bot']! },
    );
    expect(viaGoName.code).toBe(1);
    expect(viaGoName.stderr).toContain('token_revoked');
    const byName = await cli([
      'call',
      '--url',
      `${upstream.url}/cli`,
      '--bearer',
      'STRIPE_KEY',
      '--token',
      'SUPPORT_BOT_TOKEN',
    ]);
    expect(byName.code).toBe(1);
    expect(byName.stderr).toContain('not a name');
    const latest = (await entries()).filter((e) => e.source === 'cli' && e.status === 'OK');
    expect(latest[0]).toMatchObject({ agent_id: 'support-bot', identity_level: 'issued' });
  });

  it('per-agent rules bind only the issued token; claiming the name grants nothing', async () => {
    // Defaults deny STRIPE_*; support-bot's own rules allow it.
    await human(['workspace', 'policy', 'set', '--default-deny-secrets', 'STRIPE_*']);
    await human([
      'agent',
      'policy',
      'set',
      'support-bot',
      '--allow-secrets',
      'STRIPE_*',
      '--methods',
      'GET',
    ]);
    const issued = await call({
      'X-AS-Inject-Bearer': 'STRIPE_KEY',
      'X-AS-Agent-Token': tokens['support-bot']!,
    });
    expect(issued.status).toBe(200);
    const claimed = await call({
      'X-AS-Inject-Bearer': 'STRIPE_KEY',
      'X-AS-Agent-ID': 'support-bot',
    });
    expect(claimed.status).toBe(403);
    expect(JSON.parse(claimed.body)).toMatchObject({ error: 'policy_denied' });
    const anonymous = await call({ 'X-AS-Inject-Bearer': 'STRIPE_KEY' });
    expect(JSON.parse(anonymous.body)).toMatchObject({ error: 'policy_denied' });
    // The agent's own secret rule: GITHUB_TOKEN is outside 'STRIPE_*'.
    const wrongSecret = await call({
      'X-AS-Inject-Bearer': 'GITHUB_TOKEN',
      'X-AS-Agent-Token': tokens['support-bot']!,
    });
    expect(JSON.parse(wrongSecret.body)).toMatchObject({ error: 'policy_denied' });
    const denied = (await entries()).find(
      (e) => e.reason === 'policy_denied' && e.identity_level === 'declared',
    );
    expect(denied).toMatchObject({ agent_id: 'support-bot', policy: null });
    const allowed = (await entries()).find(
      (e) => e.status === 'OK' && e.policy === 'agent:support-bot',
    );
    expect(allowed).toBeDefined();
  });

  it('the method rule works', async () => {
    const post = await proxyCall(port, {
      'X-AS-Session-Token': session,
      'X-AS-Target-URL': `${upstream.url}/v1/charges`,
      'X-AS-Method': 'POST',
      'X-AS-Inject-Bearer': 'STRIPE_KEY',
      'X-AS-Agent-Token': tokens['support-bot']!,
    });
    expect(post.status).toBe(403);
    expect(JSON.parse(post.body)).toMatchObject({ error: 'policy_denied' });
  });

  it('the rate limit holds under concurrency: call N+1 in the window is refused', async () => {
    await human(['agent', 'policy', 'set', 'support-bot', '--rate', '5/min']);
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        call({ 'X-AS-Inject-Bearer': 'STRIPE_KEY', 'X-AS-Agent-Token': tokens['support-bot']! }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    expect(JSON.parse(results.find((r) => r.status === 429)!.body)).toMatchObject({
      error: 'rate_limited',
    });
  });

  it('require-identity issued refuses anonymous and declared callers', async () => {
    await human([
      'workspace',
      'policy',
      'set',
      '--require-identity',
      'issued',
      '--default-deny-secrets',
      'none',
    ]);
    for (const headers of [{}, { 'X-AS-Agent-ID': 'someone' }] as Record<string, string>[]) {
      const result = await call({ 'X-AS-Inject-Bearer': 'STRIPE_KEY', ...headers });
      expect(result.status).toBe(403);
      expect(JSON.parse(result.body)).toMatchObject({ error: 'identity_required' });
    }
    await human(['workspace', 'policy', 'set', '--require-identity', 'anonymous']);
  });

  it('deleting an agent revokes its tokens first', async () => {
    await human(['agent', 'policy', 'set', 'support-bot', '--clear']);
    await human(['agent', 'delete', 'support-bot']);
    const result = await call({
      'X-AS-Inject-Bearer': 'STRIPE_KEY',
      'X-AS-Agent-Token': tokens['support-bot']!,
    });
    expect([401, 403]).toContain(result.status);
    // Re-creating the name does not revive old tokens (a new random agent id).
    expect((await cli(['agent', 'create', 'support-bot'])).code).toBe(0);
    const again = await call({
      'X-AS-Inject-Bearer': 'STRIPE_KEY',
      'X-AS-Agent-Token': tokens['support-bot']!,
    });
    expect(again.status).toBe(401);
  });

  it('canary: the tokens and the values appear in no file, log or output except token issue', async () => {
    proxy.kill('SIGTERM');
    await new Promise((r) => proxy.once('exit', r));
    expect((await verifyChain(join(home, 'audit'))).ok).toBe(true);
    for (const token of Object.values(tokens)) {
      expect(await scanTree(home, token)).toEqual([]);
      // Only the issuing command's output carried it (checked there); nothing else did.
      expect(
        findLeaks(outputs.filter((o) => !o.startsWith('agt_')).join('\n'), token.slice(4)),
      ).toEqual([]);
    }
    for (const value of [SECRET, OTHER]) {
      expect(await scanTree(home, value)).toEqual([]);
      expect(findLeaks(outputs.join('\n'), value)).toEqual([]);
    }
  });
});
