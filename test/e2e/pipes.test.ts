import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderTable, keyList } from '../../src/cli/output.js';
import { baseEnv, CLI, runCli, shellQuote } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const PASSPHRASE = 'pipes-test-passphrase';
const KEYS = 1500;

/** Runs a shell line with `set -o pipefail`, so the exit code is the CLI's (the reader's is 0). */
function shell(
  line: string,
  home: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `set -o pipefail; ${line}`], {
      env: baseEnv(home, env),
      cwd: home,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const cli = (args: string) => `${shellQuote(process.execPath)} ${shellQuote(CLI)} ${args}`;

describe('output to pipes and terminals (spawned CLI)', () => {
  let home: string;
  const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE };

  beforeAll(async () => {
    home = join(await tempDir(), 'state');
    expect(
      (await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], { home, env }))
        .code,
    ).toBe(0);
    const dotenv = join(await tempDir(), 'many.env');
    const lines = Array.from({ length: KEYS }, (_, i) => `KEY_${i}=value-of-key-number-${i}`);
    await writeFile(dotenv, `${lines.join('\n')}\n`);
    expect((await runCli(['secrets', 'import', dotenv], { home, env })).code).toBe(0);
    // One `env` entry that injected every key: the row that used to be 20 KB wide.
    expect((await runCli(['env', '--', 'true'], { home, env })).code).toBe(0);
  }, 120_000);

  it('an early-closing reader makes a plain node writer crash with EPIPE (the control)', async () => {
    const control = await shell(
      `${shellQuote(process.execPath)} -e "setTimeout(() => { for (let i = 0; i < 10; i++) process.stdout.write('x\\n') }, 300)" | true`,
      home,
    );
    expect(control.stderr).toContain('EPIPE');
    expect(control.code).not.toBe(0);
  });

  it.each([
    ['status | true', 'status'],
    ['secrets list | true', 'secrets list'],
    ['log | true', 'log'],
    ['secrets list | head -1', 'secrets list'],
    ['log list | head -1', 'log list'],
    ['log --json | head -1', 'log --json'],
  ])('`%s` exits 0 without a stack trace', async (_name, args) => {
    const reader = _name.slice(_name.indexOf('|'));
    const result = await shell(`${cli(args)} ${reader}`, home, env);
    expect(result.stderr).not.toContain('EPIPE');
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.code).toBe(0);
  });

  it('the log SECRETS column shows three names and +N; --json keeps every key', async () => {
    const table = await runCli(['log', '--limit', '1'], { home, env });
    expect(table.code).toBe(0);
    const row = table.stdout.split('\n')[1]!;
    expect(row).toMatch(/KEY_\d+,KEY_\d+,KEY_\d+ \+1497/);
    expect(row.length).toBeLessThan(200);
    const json = await runCli(['log', '--limit', '1', '--json'], { home, env });
    const [entry] = JSON.parse(json.stdout) as { secret_keys: string[] }[];
    expect(entry!.secret_keys).toHaveLength(KEYS);
  });

  it('a table on a terminal fits its width; the same table to a pipe is whole', async () => {
    const line = `stty cols 60; ${cli('log --limit 5')}`;
    const tty = await new Promise<string>((resolve, reject) => {
      const child = spawn('script', ['-qec', line, '/dev/null'], {
        env: baseEnv(home, env),
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
      child.on('error', reject);
      child.on('close', () => resolve(out));
      child.stdin.on('error', () => undefined);
    });
    const rows = tty.split(/\r?\n/).filter((l) => l.startsWith('TIME') || /^\d{4}-/.test(l));
    expect(rows.length).toBeGreaterThan(1);
    for (const row of rows) expect([...row].length).toBeLessThanOrEqual(60);
    const piped = await runCli(['log', '--limit', '5'], { home, env });
    expect(Math.max(...piped.stdout.split('\n').map((l) => l.length))).toBeGreaterThan(60);
  }, 60_000);
});

describe('renderTable and keyList', () => {
  const columns = [
    { header: 'A', value: (r: string[]) => r[0]! },
    { header: 'B', value: (r: string[]) => r[1]! },
  ];
  it('narrows the widest column and marks the cut with …', () => {
    const text = renderTable([['short', 'x'.repeat(50)]], columns, 30);
    for (const line of text.trimEnd().split('\n')) expect(line.length).toBeLessThanOrEqual(30);
    expect(text).toContain('…');
    expect(renderTable([['short', 'x'.repeat(50)]], columns)).toContain('x'.repeat(50));
  });
  it('lists at most three keys', () => {
    expect(keyList(['A', 'B'])).toBe('A,B');
    expect(keyList(['A', 'B', 'C'])).toBe('A,B,C');
    expect(keyList(['A', 'B', 'C', 'D', 'E'])).toBe('A,B,C +2');
  });
});
