import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { canary, findLeaks } from '../helpers/canary.js';
import { baseEnv, CLI, runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const PASSPHRASE = 'errors-test-passphrase';
const STACK = /\n\s+at .+\(.+:\d+:\d+\)/;

describe('bad input gets a clear error and an exit code, never a stack trace', () => {
  let home: string;
  const secret = canary();
  const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE };

  beforeAll(async () => {
    home = await tempDir();
    expect(
      (await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], { home, env }))
        .code,
    ).toBe(0);
    expect((await runCli(['secrets', 'set', 'KNOWN'], { home, env, input: secret })).code).toBe(0);
  });

  const rows: {
    name: string;
    args: string[];
    env?: Record<string, string | undefined>;
    input?: string;
    code: number;
    stderr: RegExp;
  }[] = [
    {
      name: 'an unknown key for env --only',
      args: ['env', '--only', 'NOPE', '--', 'true'],
      code: 1,
      stderr: /secret 'NOPE' not found/,
    },
    {
      name: 'an unknown key for delete',
      args: ['secrets', 'delete', 'NOPE'],
      code: 1,
      stderr: /secret 'NOPE' not found/,
    },
    {
      name: 'an invalid key name (argv form)',
      args: ['secrets', 'set', 'BAD-KEY=x'],
      code: 2,
      stderr: /invalid key name/,
    },
    {
      name: 'an invalid key name (stdin form)',
      args: ['secrets', 'set', '9LIVES'],
      input: 'x',
      code: 2,
      stderr: /invalid key name/,
    },
    {
      name: 'an empty value',
      args: ['secrets', 'set', 'EMPTY'],
      input: '\n',
      code: 2,
      stderr: /empty/,
    },
    {
      name: 'a wrong passphrase',
      args: ['env', '--', 'true'],
      env: { AGENTSECRETS_PASSPHRASE: 'wrong-passphrase' },
      code: 4,
      stderr: /could not unlock the vault: wrong passphrase or damaged key/,
    },
    {
      name: 'no passphrase and no terminal',
      args: ['env', '--', 'true'],
      env: { AGENTSECRETS_PASSPHRASE: undefined },
      code: 4,
      stderr: /vault is locked: set AGENTSECRETS_PASSPHRASE/,
    },
    {
      name: 'a missing project',
      args: ['secrets', 'list', '--project', 'nope'],
      code: 1,
      stderr: /project 'nope' not found/,
    },
    {
      name: 'an unknown environment',
      args: ['secrets', 'list', '--env', 'prod'],
      code: 2,
      stderr: /unknown environment 'prod'/,
    },
    {
      name: 'a missing .env file',
      args: ['secrets', 'import', 'missing.env'],
      code: 1,
      stderr: /does not exist/,
    },
    { name: 'an unknown command', args: ['frobnicate'], code: 2, stderr: /unknown command/ },
    {
      name: 'an unknown option',
      args: ['secrets', 'list', '--frob'],
      code: 2,
      stderr: /unknown option/,
    },
    {
      name: 'a command that does not exist',
      args: ['env', '--', 'no-such-command-xyz'],
      code: 127,
      stderr: /command not found/,
    },
    {
      name: 'reveal without a terminal',
      args: ['secrets', 'get', 'KNOWN', '--yes'],
      code: 3,
      stderr: /needs a human at an interactive terminal/,
    },
  ];

  it.each(rows)('$name', async (row) => {
    const result = await runCli(row.args, { home, env: { ...env, ...row.env }, input: row.input });
    expect(result.code, result.stderr).toBe(row.code);
    expect(result.stderr).toMatch(row.stderr);
    expect(result.stderr).not.toMatch(STACK);
    expect(findLeaks(result.stdout + result.stderr, secret)).toEqual([]);
  });

  it('--json commands print the error as one JSON document', async () => {
    const result = await runCli(['secrets', 'list', '--project', 'nope', '--json'], { home, env });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: 'project_not_found' });
  });

  it('reports malformed .env lines by number, never by content, and imports the rest', async () => {
    const project = await tempDir();
    const hidden = canary('LINE');
    await writeFile(
      join(project, '.env'),
      [
        'GOOD_ONE=1',
        `this line has no equals ${hidden}`,
        'GOOD_TWO="two"',
        `BAD-NAME=${hidden}`,
        `UNCLOSED="${hidden}`,
      ].join('\n'),
    );
    const result = await runCli(['secrets', 'import', '--json'], { home, cwd: project, env });
    // What could be imported was: exit 0, the skipped lines reported by number.
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as {
      created: number;
      keys: string[];
      skipped: { line: number }[];
    };
    expect(summary.keys).toEqual(['GOOD_ONE', 'GOOD_TWO']);
    expect(summary.skipped.map((s) => s.line)).toEqual([2, 4, 5]);
    expect(findLeaks(result.stdout + result.stderr, hidden)).toEqual([]);
  });

  it('before init, says to run init', async () => {
    const empty = await tempDir();
    const result = await runCli(['secrets', 'list'], { home: empty });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('agentsecrets init');
  });
});

describe('the human gate (pseudo-terminal via script -qec)', () => {
  let home: string;
  const secret = canary('REVEAL');
  const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE };

  beforeAll(async () => {
    home = await tempDir();
    await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], { home, env });
    await runCli(['secrets', 'set', 'REVEAL_ME'], { home, env, input: secret });
  });

  it('reveals at a terminal after the typed confirmation', async () => {
    const result = await runCliInPty(['secrets', 'get', 'REVEAL_ME'], {
      home,
      env,
      input: 'REVEAL_ME\r',
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(secret);
  });

  it('--yes skips the confirmation but still needs the terminal', async () => {
    const result = await runCliInPty(['secrets', 'get', 'REVEAL_ME', '--yes'], { home, env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(secret);
  });

  it('a wrong confirmation reveals nothing', async () => {
    const result = await runCliInPty(['secrets', 'get', 'REVEAL_ME'], {
      home,
      env,
      input: 'nope\r',
    });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('not confirmed');
    expect(findLeaks(result.stdout, secret)).toEqual([]);
  });

  it('a hidden prompt reads the passphrase and a value without echoing them', async () => {
    const typed = canary('TYPED');
    const set = await runCliInPty(['secrets', 'set', 'TYPED_KEY'], {
      home,
      env: { AGENTSECRETS_PASSPHRASE: undefined },
      input: `${typed}\r${PASSPHRASE}\r`,
    });
    expect(set.code, set.stdout).toBe(0);
    expect(findLeaks(set.stdout, typed)).toEqual([]);
    expect(findLeaks(set.stdout, PASSPHRASE)).toEqual([]);
    const check = await runCli(
      [
        'env',
        '--no-mask',
        '--only',
        'TYPED_KEY',
        '--',
        process.execPath,
        '-e',
        'process.stdout.write(process.env.TYPED_KEY)',
      ],
      { home, env },
    );
    expect(check.stdout).toBe(typed);
  });
});

describe('env: signals and exit codes', () => {
  let home: string;
  const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE };

  beforeAll(async () => {
    home = await tempDir();
    await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], { home, env });
    await runCli(['secrets', 'set', 'K'], { home, env, input: 'v' });
  });

  it.each([
    [0, 0],
    [3, 3],
    [42, 42],
  ])('passes exit code %i through', async (code, expected) => {
    const result = await runCli(['env', '--', process.execPath, '-e', `process.exit(${code})`], {
      home,
      env,
    });
    expect(result.code).toBe(expected);
  });

  it('reports death by signal n as 128+n', async () => {
    const result = await runCli(
      ['env', '--', process.execPath, '-e', 'process.kill(process.pid, "SIGKILL")'],
      { home, env },
    );
    expect(result.code).toBe(137);
  });

  it.each(['SIGINT', 'SIGTERM', 'SIGHUP'] as const)(
    'forwards %s to the child for as long as it lives',
    async (signal) => {
      // The child reports each signal it receives, and exits on the second one.
      const script = `let n=0; for (const s of ['SIGINT','SIGTERM','SIGHUP']) process.on(s, () => { console.log('got', s); if (++n === 2) process.exit(7); }); console.log('ready'); setInterval(() => {}, 1000);`;
      const child = spawn(
        process.execPath,
        [CLI, 'env', '--no-mask', '--', process.execPath, '-e', script],
        {
          env: baseEnv(home, env),
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => {
        stdout += c.toString();
      });
      while (!stdout.includes('ready')) await new Promise((r) => setTimeout(r, 10));
      child.kill(signal);
      while (!stdout.includes(`got ${signal}`)) await new Promise((r) => setTimeout(r, 10));
      child.kill(signal);
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(stdout.match(new RegExp(`got ${signal}`, 'g'))).toHaveLength(2);
      expect(code).toBe(7);
    },
  );
});
