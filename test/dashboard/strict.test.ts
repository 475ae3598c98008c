import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, CLI, runCli, runCliInPty, shellQuote } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

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

  beforeAll(async () => {
    home = join(await tempDir(), 'state');
    const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE };
    expect(
      (await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], { home, env }))
        .code,
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
    holder = spawn('script', ['-qec', command, '/dev/null'], { env: baseEnv(home, noEnv) });
    holder.stdin!.on('error', () => undefined);
    holder.stdout!.resume();
    setTimeout(() => holder.stdin!.write(`${PASSPHRASE}\r`), 300);
    for (let i = 0; i < 600; i++) {
      if ((await readFile(join(home, 'proxy.json'), 'utf8').catch(() => undefined)) !== undefined)
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const dash = await runCli(['dashboard', '--no-open', '--json'], { home, env: noEnv });
    expect(dash.code, dash.stderr).toBe(0);
    const { url, login_url } = JSON.parse(dash.stdout) as { url: string; login_url: string };
    port = Number(new URL(url).port);
    const login = await http(port, new URL(login_url).pathname + new URL(login_url).search);
    expect(login.status).toBe(303);
    cookie = String(login.headers['set-cookie']).split(';')[0]!;
    base = String(login.headers.location).replace(/\/$/, '');
    const page = await http(port, `${base}/allowlist`, { headers: { cookie } });
    expect(page.body).toContain('name="passphrase"');
    csrf = /name="csrf-token" content="([^"]+)"/.exec(page.body)![1]!;
  });

  afterAll(async () => {
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
});
