import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/audit/format.js';
import { newestEntries } from '../../src/audit/reader.js';
import { createAuditWriter } from '../../src/audit/writer.js';
import { verifyChain } from '../../src/audit/verify.js';
import { canary, findLeaks, scanTree } from '../helpers/canary.js';
import { baseEnv, CLI, type CliResult, runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';

const PASSPHRASE = 'agent-names-e2e-passphrase';
const SECRET = canary('AGENTNAMES');
const SPOOF = 'alpha issued';
const RULE = '1-64 letters, digits, ".", "_" or "-"';
const REQUIRE_ISSUED = 'agentsecrets workspace policy set --require-identity issued';

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

/** The cells of a rendered table, cut at the header's column starts. */
function tableRows(text: string): Record<string, string>[] {
  const [header, ...lines] = text.split('\n').filter((l) => l.trim() !== '');
  const names = header!.split(/\s{2,}/);
  const starts = names.map((n) => header!.indexOf(n));
  return lines.map((line) =>
    Object.fromEntries(
      names.map((n, i) => [n, line.slice(starts[i], starts[i + 1] ?? line.length).trim()]),
    ),
  );
}

describe('declared agent names, the log columns and sheddable rules (spawned binary)', () => {
  let home: string;
  let upstream: Upstream;
  let proxy: ChildProcess;
  let port: number;
  let session: string;
  let token: string;
  const outputs: string[] = [];
  const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE, AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' };

  const cli = async (
    args: string[],
    extra: Record<string, string | undefined> = {},
  ): Promise<CliResult> => {
    const result = await runCli(args, { home, env: { ...env, ...extra } });
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  const human = async (args: string[]): Promise<string> => {
    const result = await runCliInPty([...args, '--yes'], { home, env });
    outputs.push(result.stdout);
    expect(result.code, result.stdout).toBe(0);
    return result.stdout;
  };
  const call = async (headers: Record<string, string>) => {
    const result = await proxyCall(port, {
      'X-AS-Session-Token': session,
      'X-AS-Target-URL': `${upstream.url}/v1/items`,
      'X-AS-Inject-Bearer': 'API_KEY',
      ...headers,
    });
    outputs.push(result.body);
    return result;
  };
  const entries = async (): Promise<AuditEntry[]> => {
    await new Promise((r) => setTimeout(r, 50));
    return newestEntries(join(home, 'audit'), 100_000);
  };

  beforeAll(async () => {
    upstream = await startUpstream(echo);
    home = join(await tempDir(), 'state');
    expect((await cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'])).code).toBe(0);
    expect((await runCli(['secrets', 'set', 'API_KEY'], { home, env, input: SECRET })).code).toBe(
      0,
    );
    await human(['workspace', 'allowlist', 'add', `127.0.0.1:${upstream.port}`]);
    expect((await cli(['agent', 'create', 'billing-bot'])).code).toBe(0);
    token = (await human(['agent', 'token', 'issue', 'billing-bot'])).split(/\r?\n/)[0]!.trim();
    expect(token).toMatch(/^agt_/);
    // An entry an earlier version wrote: it accepted any printable name, spaces included.
    const writer = createAuditWriter({ dir: join(home, 'audit') });
    await writer.append({
      workspace: 'personal',
      project: 'default',
      environment: 'development',
      agent_id: SPOOF,
      identity_level: 'declared',
      token_id: null,
      source: 'proxy',
      method: 'GET',
      target_url: `${upstream.url}/legacy`,
      domain: '127.0.0.1',
      secret_keys: ['API_KEY'],
      auth_styles: ['bearer'],
      status: 'OK',
      status_code: 200,
      reason: null,
      redacted: false,
      duration_ms: 1,
    });
    await writer.close();
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

  const spoofs = [SPOOF, 'alpha\tissued', 'alpha\u00a0issued', 'x'.repeat(65), 'bot;id'];

  it.each(spoofs)('X-AS-Agent-ID %j: 400 invalid_agent_id, nothing forwarded', async (name) => {
    const before = upstream.seen.length;
    const result = await call({ 'X-AS-Agent-ID': name });
    expect(result.status).toBe(400);
    const body = JSON.parse(result.body) as { error: string; message: string };
    expect(body.error).toBe('invalid_agent_id');
    expect(body.message).toContain(RULE);
    // Beside a valid token too: a malformed name is a client bug, never ignored.
    const withToken = await call({ 'X-AS-Agent-ID': name, 'X-AS-Agent-Token': token });
    expect(withToken.status).toBe(400);
    expect(upstream.seen.length).toBe(before);
  });

  it('valid names pass: declared, and a token still makes the call issued', async () => {
    for (const name of ['alpha', 'alpha-bot', 'claude.desktop_2']) {
      expect((await call({ 'X-AS-Agent-ID': name })).status).toBe(200);
    }
    expect((await call({ 'X-AS-Agent-Token': token })).status).toBe(200);
    expect((await entries())[0]).toMatchObject({
      agent_id: 'billing-bot',
      identity_level: 'issued',
    });
  });

  // Every command that takes a declared name refuses a malformed one, exit 2, before acting.
  const commands: { name: string; args: string[]; env?: Record<string, string> }[] = [
    {
      name: 'call --agent-id',
      args: ['call', '--url', 'PLAIN', '--bearer', 'API_KEY', '--agent-id', SPOOF],
    },
    {
      name: 'call with AGENTSECRETS_AGENT_ID',
      args: ['call', '--url', 'PLAIN', '--bearer', 'API_KEY'],
      env: { AGENTSECRETS_AGENT_ID: SPOOF },
    },
    {
      name: 'env --agent-id',
      args: ['env', '--agent-id', SPOOF, '--', process.execPath, '-e', 'process.exit(7)'],
    },
    {
      name: 'env with AGENTSECRETS_AGENT_ID',
      args: ['env', '--', process.execPath, '-e', 'process.exit(7)'],
      env: { AGENTSECRETS_AGENT_ID: 'x y' },
    },
    { name: 'mcp serve --agent-id', args: ['mcp', 'serve', '--agent-id', SPOOF] },
    {
      name: 'mcp serve --transport http --agent-id',
      args: [
        'mcp',
        'serve',
        '--transport',
        'http',
        '--port',
        '0',
        '--allow-anonymous',
        '--agent-id',
        SPOOF,
      ],
    },
    {
      name: 'mcp install --agent',
      args: ['mcp', 'install', '--client', 'all', '--dry-run', '--agent', SPOOF],
    },
  ];

  it.each(commands)(
    '$name: refused with invalid_agent_id, exit 2',
    async ({ args, env: extra }) => {
      const resolved = args.map((a) => (a === 'PLAIN' ? `${upstream.url}/cli` : a));
      const before = upstream.seen.length;
      const result = await cli(resolved, extra);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain('[invalid_agent_id]');
      expect(result.stderr).toContain(RULE);
      expect(upstream.seen.length).toBe(before);
    },
  );

  it('call --output json: the envelope carries 400 invalid_agent_id', async () => {
    const result = await cli([
      'call',
      '--url',
      `${upstream.url}/json`,
      '--bearer',
      'API_KEY',
      '--agent-id',
      SPOOF,
      '--output',
      'json',
    ]);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 400, error: 'invalid_agent_id' });
  });

  it('no refused name reached the audit log; only the entry the old version wrote has it', async () => {
    const all = await entries();
    expect(all.filter((e) => e.agent_id === SPOOF).map((e) => e.target_url)).toEqual([
      `${upstream.url}/legacy`,
    ]);
    for (const name of spoofs.slice(1)) expect(all.some((e) => e.agent_id === name)).toBe(false);
  });

  it('log: AGENT and IDENTITY are separate columns; an old spoofed name is quoted', async () => {
    const table = await cli(['log', '--limit', '100']);
    expect(table.code).toBe(0);
    const rows = tableRows(table.stdout);
    const cells = rows.map((r) => `${r.AGENT}|${r.IDENTITY}`);
    expect(cells).toContain('billing-bot|issued');
    expect(cells).toContain('alpha|declared');
    expect(cells).toContain('alpha-bot|declared');
    expect(cells).toContain('"alpha issued"|declared');
    expect(cells).toContain('-|anonymous');
    // The previous AGENT column read `alpha issued declared`: no unquoted form is left.
    expect(table.stdout).not.toMatch(/(?<!")alpha issued/);
    const shown = await cli([
      'log',
      'show',
      (await entries()).find((e) => e.agent_id === SPOOF)!.id,
    ]);
    expect(shown.stdout).toMatch(/^agent\s+"alpha issued"\r?$/m);
    expect(shown.stdout).toMatch(/^identity\s+declared\r?$/m);
    const summary = await cli(['log', 'summary']);
    expect(summary.stdout).toContain('"alpha issued" (declared, 1)');
    expect(summary.stdout).not.toMatch(/(?<!")alpha issued/);
  });

  it.each([
    ['alpha', ['alpha']],
    ['alpha-bot', ['alpha-bot']],
    [SPOOF, [SPOOF]],
    ['alph', []],
    ['billing-bot', ['billing-bot']],
  ])('log --agent %j matches names exactly', async (agent, expected) => {
    const result = await cli(['log', '--agent', agent, '--json']);
    const found = JSON.parse(result.stdout) as AuditEntry[];
    expect(found.length).toBeGreaterThanOrEqual(expected.length);
    expect([...new Set(found.map((e) => e.agent_id))]).toEqual(expected);
  });

  it('agent policy set warns while an agent can shed its rules, and the printed command ends it', async () => {
    const policy = async () => {
      const text = await human([
        'agent',
        'policy',
        'set',
        'billing-bot',
        '--deny-secrets',
        'API_KEY',
        '--json',
      ]);
      return {
        text,
        json: JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1)) as {
          warning: { code: string; command: string; minimum: string } | null;
        },
      };
    };
    // Default minimum (anonymous): the rules can be shed, and they are.
    const first = await policy();
    expect(first.text).toContain('warning: the rules of billing-bot bind only its issued tokens');
    expect(first.text).toContain(REQUIRE_ISSUED);
    expect(first.json.warning).toMatchObject({
      code: 'rules_can_be_shed',
      minimum: 'anonymous',
      command: REQUIRE_ISSUED,
    });
    expect((await call({ 'X-AS-Agent-Token': token })).status).toBe(403);
    expect((await call({ 'X-AS-Agent-ID': 'billing-bot' })).status).toBe(200);
    expect((await call({})).status).toBe(200);

    await human(['workspace', 'policy', 'set', '--require-identity', 'declared']);
    const second = await policy();
    expect(second.json.warning).toMatchObject({ minimum: 'declared', command: REQUIRE_ISSUED });
    expect((await call({ 'X-AS-Agent-ID': 'billing-bot' })).status).toBe(200);

    // The command the warning prints: now dropping the token is refused, and no warning.
    await human(REQUIRE_ISSUED.split(' ').slice(1));
    const third = await policy();
    expect(third.json.warning).toBeNull();
    expect(third.text).not.toContain('warning:');
    const shed = await call({ 'X-AS-Agent-ID': 'billing-bot' });
    expect(shed.status).toBe(403);
    expect(JSON.parse(shed.body)).toMatchObject({ error: 'identity_required' });
    expect((await call({ 'X-AS-Agent-Token': token })).status).toBe(403);
  });
  it('canary: the value is in no output and no file of the state folder; the chain is intact', async () => {
    proxy.kill('SIGTERM');
    await new Promise((r) => proxy.once('exit', r));
    expect((await verifyChain(join(home, 'audit'))).ok).toBe(true);
    expect(await scanTree(home, SECRET)).toEqual([]);
    expect(findLeaks(outputs.join('\n'), SECRET)).toEqual([]);
  });
});
