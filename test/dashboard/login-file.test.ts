import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, CLI, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Review finding 2 of issue 16: the one-time login token must be in no command line (argv is
 * readable by every user through /proc). `agentsecrets dashboard` opens a 0600 file in the
 * state folder that posts the token; the opener (here a recording xdg-open) sees a file path.
 */
describe('the dashboard login file', () => {
  let home: string;
  let bin: string;
  let holder: ChildProcess;
  const env = { AGENTSECRETS_PASSPHRASE: 'login-file-passphrase' };

  beforeAll(async () => {
    const dir = await tempDir();
    home = join(dir, 'state');
    bin = join(dir, 'bin');
    await mkdir(bin);
    // The opener records its argv, as any user could read it in /proc/<pid>/cmdline.
    await writeFile(
      join(bin, 'xdg-open'),
      `#!/bin/sh\nprintf '%s\\n' "$@" > "${join(dir, 'argv')}"\n`,
    );
    await chmod(join(bin, 'xdg-open'), 0o755);
    expect(
      (await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], { home, env }))
        .code,
    ).toBe(0);
    holder = spawn(process.execPath, [CLI, 'proxy', 'start', '--port', '0'], {
      env: baseEnv(home, env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (let i = 0; i < 400; i++) {
      if ((await readFile(join(home, 'proxy.json'), 'utf8').catch(() => undefined)) !== undefined)
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(async () => {
    if (holder !== undefined && holder.exitCode === null && holder.signalCode === null) {
      holder.kill('SIGTERM');
      await new Promise((r) => holder.once('exit', r));
    }
  });

  it('--no-open prints a URL that holds the token (what an opener used to get in its argv)', async () => {
    const r = await runCli(['dashboard', '--no-open', '--json'], { home, env });
    expect(r.code, r.stderr).toBe(0);
    expect(
      new URL((JSON.parse(r.stdout) as { login_url: string }).login_url).searchParams.get('token'),
    ).toMatch(/.{16,}/);
  });

  it('opens a 0600 file that posts the token; the opener argv holds no token', async () => {
    const argvFile = join(home, '..', 'argv');
    const r = await runCli(['dashboard', '--json'], {
      home,
      env: { ...env, DISPLAY: ':99', PATH: `${bin}:${process.env.PATH ?? ''}` },
    });
    expect(r.code, r.stderr).toBe(0);
    const { url, opened } = JSON.parse(r.stdout) as { url: string; opened: boolean };
    expect(opened).toBe(true);
    let argv = '';
    for (let i = 0; i < 200 && argv === ''; i++) {
      argv = await readFile(argvFile, 'utf8').catch(() => '');
      if (argv === '') await new Promise((res) => setTimeout(res, 25));
    }
    const opened0 = argv.trim();
    expect(opened0.startsWith('file://')).toBe(true);
    expect(opened0).not.toContain('token');
    const file = fileURLToPath(opened0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const token = /name="token" value="([^"]+)"/.exec(await readFile(file, 'utf8'))![1]!;
    expect(argv).not.toContain(token);
    // What the browser does with the file: a form post with `Origin: null`.
    const login = await fetch(`${url}/login`, {
      method: 'POST',
      headers: { origin: 'null', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(login.status).toBe(200);
    const setCookie = String(login.headers.get('set-cookie'));
    const cookie = setCookie.split(';')[0]!;
    // The page moves on to the session's own address, the only path its cookie is sent to.
    const sessionHome = /content="0;url=(\/s\/[\w-]+\/)"/.exec(await login.text())![1]!;
    expect(setCookie).toContain(`Path=${sessionHome}`);
    expect((await fetch(`${url}${sessionHome}`, { headers: { cookie } })).status).toBe(200);
    expect((await fetch(`${url}/`, { headers: { cookie } })).status).toBe(401);
    // The token worked once.
    const again = await fetch(`${url}/login`, {
      method: 'POST',
      headers: { origin: 'null', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    });
    expect(again.status).toBe(401);
  });
});
