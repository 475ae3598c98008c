import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, CLI, runCli, runCliInPty, shellQuote } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';

/**
 * Strict mode (issue 14) and the dashboard (issue 16): a change made on the page needs the
 * vault passphrase, verified by the key holder with the terminal gate's own code. The key
 * holder is started in a pseudo-terminal, where the passphrase is typed as a human would.
 */

const PASSPHRASE = 'strict-dashboard-passphrase';
const noEnv = { AGENTSECRETS_PASSPHRASE: undefined };

function http(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: { host: `127.0.0.1:${port}`, ...options.headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('dashboard changes in strict mode', () => {
  let home: string;
  let holder: ChildProcess;
  let port: number;
  let cookie: string;
  let csrf: string;
  /** The session's base path, /s/<path secret>. */
  let base: string;
  let upstream: Upstream;
  let proxy: { port: number; session_token: string };

  beforeAll(async () => {
    home = join(await tempDir(), 'state');
    const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE };
    expect(
      (await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], { home, env }))
        .code,
    ).toBe(0);
    upstream = await startUpstream(echo);
    expect(
      (
        await runCli(['secrets', 'set', 'API_KEY'], {
          home,
          env,
          input: 'strict-dashboard-value-0123',
        })
      ).code,
    ).toBe(0);
    const on = await runCliInPty(['strict', 'enable'], {
      home,
      env: noEnv,
      input: `${PASSPHRASE}\r`,
    });
    expect(on.stdout).toContain('strict mode is on');
    // The key holder, unlocked with the passphrase typed at its terminal.
    const command = [process.execPath, CLI, 'proxy', 'start', '--port', '0']
      .map(shellQuote)
      .join(' ');
    holder = spawn('script', ['-qec', command, '/dev/null'], {
      env: baseEnv(home, { ...noEnv, AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' }),
    });
    holder.stdin!.on('error', () => undefined);
    holder.stdout!.resume();
    setTimeout(() => holder.stdin!.write(`${PASSPHRASE}\r`), 300);
    for (let i = 0; i < 600; i++) {
      const state = await readFile(join(home, 'proxy.json'), 'utf8').catch(() => undefined);
      if (state !== undefined) {
        proxy = JSON.parse(state) as typeof proxy;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const dash = await runCli(['dashboard', '--no-open', '--json'], { home, env: noEnv });
    expect(dash.code, dash.stderr).toBe(0);
    const { url, login_url } = JSON.parse(dash.stdout) as { url: string; login_url: string };
    port = Number(new URL(url).port);
    // The human is told where the passphrase may be typed (a look-alike page is on another port).
    const told = await runCli(['dashboard', '--no-open'], { home, env: noEnv });
    expect(told.stderr).toContain(`address bar shows 127.0.0.1:${port}/s/`);
    const login = await http(port, new URL(login_url).pathname + new URL(login_url).search);
    expect(login.status).toBe(303);
    cookie = String(login.headers['set-cookie']).split(';')[0]!;
    base = String(login.headers.location).replace(/\/$/, '');
    const page = await http(port, `${base}/allowlist`, { headers: { cookie } });
    expect(page.body).toContain('name="passphrase"');
    csrf = /name="csrf-token" content="([^"]+)"/.exec(page.body)![1]!;
  });

  afterAll(async () => {
    await upstream?.close();
    if (holder !== undefined && holder.exitCode === null) {
      const pid = JSON.parse(
        await readFile(join(home, 'proxy.json'), 'utf8').catch(() => '{}'),
      ) as {
        pid?: number;
      };
      if (pid.pid !== undefined) process.kill(pid.pid, 'SIGTERM');
      await new Promise((r) => holder.once('exit', r));
    }
  });

  const add = (domain: string, passphrase?: string) =>
    http(port, `${base}/allowlist/add`, {
      method: 'POST',
      headers: {
        cookie,
        origin: `http://127.0.0.1:${port}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        _csrf: csrf,
        domain,
        ...(passphrase === undefined ? {} : { passphrase }),
      }).toString(),
    });
  const allowlist = async () =>
    (await runCli(['workspace', 'allowlist', 'list', '--json'], { home, env: noEnv })).stdout;

  it('refuses a change without the passphrase or with a wrong one, and makes it with the right one', async () => {
    const none = await add('none.example.com');
    expect(none.status).toBe(403);
    expect(none.body).toContain('strict_mode');
    const wrong = await add('wrong.example.com', 'not-the-passphrase');
    expect(wrong.body).toContain('wrong passphrase');
    expect(await allowlist()).not.toMatch(/none\.example\.com|wrong\.example\.com/);
    const right = await add('right.example.com', PASSPHRASE);
    expect(right.status, right.body).toBe(303);
    expect(await allowlist()).toContain('right.example.com');
    // The gate audited both attempts, as at the terminal.
    const log = await runCli(['log', 'list', '--json', '--limit', '10'], { home, env: noEnv });
    expect(log.stdout).toMatch(/"reason": ?"unlock_failed"/);
    expect(log.stdout).toContain('Allow credentials to be sent to right.example.com');
    // Nothing of the passphrase in what the page answered or what was logged.
    for (const text of [none.body, wrong.body, right.body, log.stdout])
      expect(text).not.toContain(PASSPHRASE);
  });

  const post = (path: string, fields: Record<string, string>) =>
    http(port, `${base}${path}`, {
      method: 'POST',
      headers: {
        cookie,
        origin: `http://127.0.0.1:${port}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ _csrf: csrf, ...fields }).toString(),
    });
  const rules = async () =>
    JSON.parse((await runCli(['approvals', 'rules', '--json'], { home, env: noEnv })).stdout) as {
      ask_unlisted: boolean;
      timeout_s: number;
      rules: { id: string; agent: string | null }[];
    };

  it('edits the sealed approvals.json with the passphrase typed on the page, and only with it', async () => {
    const refused = await post('/approval-config', { ask_unlisted: 'on', timeout: '30' });
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('strict_mode');
    expect((await rules()).ask_unlisted).toBe(false);
    const set = await post('/approval-config', {
      ask_unlisted: 'on',
      timeout: '30',
      passphrase: PASSPHRASE,
    });
    expect(set.status, set.body).toBe(303);
    const added = await post('/approval-rules/add', {
      agent: 'strict-agent',
      passphrase: PASSPHRASE,
    });
    expect(added.status, added.body).toBe(303);
    const now = await rules();
    expect(now).toMatchObject({ ask_unlisted: true, timeout_s: 30 });
    const rule = now.rules.find((r) => r.agent === 'strict-agent')!;
    expect(rule).toBeDefined();
    // Sealed: the CLI (which verifies the seal in strict mode) reads it back, and the key
    // holder's page shows it.
    expect((await http(port, `${base}/approvals`, { headers: { cookie } })).body).toContain(
      rule.id,
    );
    const removed = await post('/approval-rules/remove', { rule: rule.id, passphrase: PASSPHRASE });
    expect(removed.status, removed.body).toBe(303);
    expect((await rules()).rules.some((r) => r.id === rule.id)).toBe(false);
  });

  it('"approve and add to the allowlist" adds the domain through the sealed path, then lets the call through', async () => {
    const hostPort = `127.0.0.1:${upstream.port}`;
    expect(await allowlist()).not.toContain(hostPort);
    const call = http(proxy.port, '/proxy', {
      headers: {
        host: `127.0.0.1:${proxy.port}`,
        'X-AS-Session-Token': proxy.session_token,
        'X-AS-Target-URL': `http://${hostPort}/held`,
        'X-AS-Inject-Bearer': 'API_KEY',
        'X-AS-Agent-ID': 'alpha',
      },
    });
    let pending: { id: string; host: string }[] = [];
    for (let i = 0; i < 200 && pending.length === 0; i++) {
      pending = JSON.parse(
        (await http(port, `${base}/api/approvals`, { headers: { cookie } })).body,
      ) as typeof pending;
      if (pending.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    expect(pending[0]!.host).toBe(hostPort);
    // A wrong passphrase adds nothing and decides nothing: the call still waits.
    const wrong = await post(`/approvals/${pending[0]!.id}`, {
      decision: 'approve_and_allow',
      passphrase: 'not-the-passphrase',
    });
    expect(wrong.body).toContain('wrong passphrase');
    expect(await allowlist()).not.toContain(hostPort);
    const right = await post(`/approvals/${pending[0]!.id}`, {
      decision: 'approve_and_allow',
      passphrase: PASSPHRASE,
    });
    expect(right.status, right.body).toBe(303);
    const answered = await call;
    expect(answered.status, answered.body).toBe(200);
    expect(upstream.seen.at(-1)!.url).toBe('/held');
    // Added by the CLI's own command, sealed: `allowlist list` verifies the seal in strict mode.
    expect(await allowlist()).toContain(hostPort);
    // The audit says what happened: the strict gate's entry for the add, then the approval.
    const log = await runCli(['log', 'list', '--json', '--limit', '20'], { home, env: noEnv });
    const entries = JSON.parse(log.stdout) as { reason: string | null; command: string | null }[];
    const reasons = entries.map((e) => e.reason);
    expect(reasons).toContain('approval_granted');
    expect(reasons).not.toContain('approval_granted_allowlisted');
    expect(log.stdout).toContain(`Allow credentials to be sent to ${hostPort}`);
    expect(log.stdout).not.toContain(PASSPHRASE);
  });

  it('binds and unbinds a secret with the passphrase typed on the page, re-sealing the vault', async () => {
    const target = { project: 'default', environment: 'development', key: 'API_KEY' };
    const listed = async () =>
      (
        JSON.parse((await runCli(['secrets', 'list', '--json'], { home, env: noEnv })).stdout) as {
          key: string;
          binding: { domains: string[] } | null;
        }[]
      ).find((r) => r.key === 'API_KEY')!.binding;
    const none = await post('/bindings/set', { ...target, domains: 'api.example.com' });
    expect(none.status).toBe(403);
    expect(none.body).toContain('strict_mode');
    expect(await listed()).toBeNull();
    const bound = await post('/bindings/set', {
      ...target,
      domains: 'api.example.com',
      passphrase: PASSPHRASE,
    });
    expect(bound.status, bound.body).toBe(303);
    expect(await listed()).toMatchObject({ domains: ['api.example.com'] });
    // The strict gate audited it, as `secrets bind` at the terminal.
    const log = await runCli(['log', 'list', '--json', '--limit', '10'], { home, env: noEnv });
    expect(log.stdout).toContain('Bind API_KEY to api.example.com');
    // A strict-mode vault write checks the seal first: the unbind succeeding shows the bind
    // left the rights sealed.
    const unbound = await post('/bindings/remove', { ...target, passphrase: PASSPHRASE });
    expect(unbound.status, unbound.body).toBe(303);
    expect(await listed()).toBeNull();
  });
});
