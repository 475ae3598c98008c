import { spawn } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createOutput, SPINNER_DELAY_MS } from '../../src/cli/output.js';
import { baseEnv, CLI, runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const GOOD = 'a-long-enough-passphrase';
const INIT = ['init', '--backend', 'passphrase', '--weak-kdf-for-tests'];

/** The prompts and complaints in `text`, in the order they appeared. */
function prompts(text: string): string[] {
  return [...text.matchAll(/New vault passphrase|Repeat the passphrase|too short|differ/g)].map(
    (m) => m[0],
  );
}

describe('the passphrase flow at a terminal (spawned CLI in a pseudo-terminal)', () => {
  it('checks the length before the repeat, and asks again on a short or mismatched passphrase', async () => {
    const home = join(await tempDir(), 'state');
    const typed = ['short', GOOD, 'not-the-same-passphrase', GOOD, GOOD].map((t) => `${t}\r`);
    const result = await runCliInPty(INIT, { home, input: typed.join('') });
    expect(result.code, result.stdout).toBe(0);
    expect(prompts(result.stdout)).toEqual([
      'New vault passphrase',
      'too short',
      'New vault passphrase',
      'Repeat the passphrase',
      'differ',
      'New vault passphrase',
      'Repeat the passphrase',
    ]);
    // After init with a passphrase, how the key holder works.
    expect(result.stdout).toContain('agentsecrets proxy start');
    const list = await runCli(['secrets', 'list'], {
      home,
      env: { AGENTSECRETS_PASSPHRASE: GOOD },
    });
    expect(list.code).toBe(0);
  }, 60_000);

  it('gives up after three tries and creates nothing', async () => {
    const home = join(await tempDir(), 'state');
    const typed = ['short', 'tiny', 'a-long-enough-one', 'but-another-one'].map((t) => `${t}\r`);
    const result = await runCliInPty(INIT, { home, input: typed.join('') });
    expect(result.code).toBe(2);
    expect(result.stdout).toContain('no passphrase after 3 tries');
    const status = await runCli(['status', '--json'], { home });
    expect(JSON.parse(status.stdout)).toMatchObject({ initialized: false });
  }, 60_000);

  it('every unlock prompt mentions `proxy start`', async () => {
    const home = join(await tempDir(), 'state');
    const env = { AGENTSECRETS_PASSPHRASE: GOOD };
    expect((await runCli(INIT, { home, env })).code).toBe(0);
    const result = await runCliInPty(['env', '--', 'true'], { home, input: `${GOOD}\r` });
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toMatch(/Vault passphrase \([^)]*agentsecrets proxy start[^)]*\): /);
  }, 60_000);

  it('`mcp install` warns, with the command, when the vault needs a key holder that is not running', async () => {
    const home = join(await tempDir(), 'state');
    const userHome = await tempDir();
    await mkdir(join(userHome, '.cursor'));
    const env = { AGENTSECRETS_PASSPHRASE: GOOD, HOME: userHome };
    expect((await runCli(INIT, { home, env })).code).toBe(0);
    const args = ['mcp', 'install', '--client', 'cursor', '--dry-run'];
    const without = await runCli(args, { home, env });
    expect(without.code).toBe(0);
    expect(without.stderr).toContain('no key holder is running');
    expect(without.stderr).toContain('agentsecrets proxy start');

    const proxy = spawn(process.execPath, [CLI, 'proxy', 'start', '--port', '0'], {
      env: baseEnv(home, env),
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => proxy.once('exit', resolve));
    try {
      for (let i = 0; i < 300 && !(await readdir(home)).includes('proxy.json'); i++)
        await sleep(50);
      const withHolder = await runCli(args, { home, env });
      expect(withHolder.code).toBe(0);
      expect(withHolder.stderr).not.toContain('no key holder is running');
    } finally {
      proxy.kill('SIGTERM');
      await exited;
    }
  }, 60_000);
});

describe('the spinner', () => {
  afterEach(() => vi.useRealTimers());

  const streams = (tty: boolean) => {
    const stderr = Object.assign(new PassThrough(), { isTTY: tty });
    const stdout = Object.assign(new PassThrough(), { isTTY: false });
    let written = '';
    stderr.on('data', (c: Buffer) => (written += c.toString('utf8')));
    return { stderr, stdout, term: 'xterm-256color', written: () => written };
  };

  it('shows nothing for work under 300 ms, spins after, and clears before output', async () => {
    vi.useFakeTimers();
    const s = streams(true);
    const out = createOutput(s);
    out.progress('unlocking the vault (Argon2id)…');
    await vi.advanceTimersByTimeAsync(SPINNER_DELAY_MS - 50);
    expect(s.written()).toBe('');
    await vi.advanceTimersByTimeAsync(400);
    expect(s.written()).toContain('unlocking the vault (Argon2id)…');
    const frames = s
      .written()
      .split('\r\x1b[K')
      .filter((f) => f !== '');
    expect(new Set(frames.map((f) => f[0])).size).toBeGreaterThan(1);
    out.line('done');
    expect(s.written().endsWith('\r\x1b[K')).toBe(true);
    const before = s.written();
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.written()).toBe(before);
  });

  it('quick work ends before the spinner would show', async () => {
    vi.useFakeTimers();
    const s = streams(true);
    const out = createOutput(s);
    out.progress('pulling…');
    await vi.advanceTimersByTimeAsync(100);
    out.endProgress();
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.written()).toBe('');
  });

  it('never spins on a terminal that TERM does not name (or names dumb)', async () => {
    vi.useFakeTimers();
    for (const term of [undefined, '', 'dumb']) {
      const s = { ...streams(true), term };
      const out = createOutput(s);
      out.progress('pulling…');
      await vi.advanceTimersByTimeAsync(2000);
      expect(s.written()).toBe('');
    }
  });

  it('never spins when stderr is not a terminal', async () => {
    vi.useFakeTimers();
    const s = streams(false);
    const out = createOutput(s);
    out.progress('pulling…');
    await vi.advanceTimersByTimeAsync(2000);
    expect(s.written()).toBe('');
  });
});
