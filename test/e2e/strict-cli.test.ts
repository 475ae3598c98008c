import { spawn } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { canary, findLeaks } from '../helpers/canary.js';
import { baseEnv, CLI, runCli, runCliInPty, shellQuote } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

// Strict mode through the CLI (functional; the red-team suite in test/redteam runs the attacks
// as an unprivileged user). Each check first shows the thing working where it should.

const PASSPHRASE = 'strict-cli-passphrase';
const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE };
const noEnv = { AGENTSECRETS_PASSPHRASE: undefined };

interface Doctor {
  ok: boolean;
  checks: { check: string; level: string; detail: string; fix?: string }[];
}

async function doctor(
  home: string,
  cwd: string,
  extra: Record<string, string | undefined> = noEnv,
) {
  const r = await runCli(['doctor', '--json'], { home, cwd, env: extra });
  return { code: r.code, report: JSON.parse(r.stdout) as Doctor };
}

describe('doctor', () => {
  let home: string;
  let project: string;
  beforeAll(async () => {
    home = await tempDir();
    project = await tempDir();
    expect(
      (await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], { home, env }))
        .code,
    ).toBe(0);
  });

  it('lists every check and exits 0 when nothing fails', async () => {
    const { code, report } = await doctor(home, project);
    const names = report.checks.map((c) => c.check);
    for (const name of [
      'keychain',
      'vault',
      'passphrase_in_environment',
      'passphrase_in_files',
      'program_files',
      'ptrace_scope',
      'key_holder',
      'documents',
      'state_modes',
      'allowlist',
      'log_verify',
      'team',
    ])
      expect(names).toContain(name);
    expect(
      report.checks.filter((c) => c.level === 'fail'),
      JSON.stringify(report),
    ).toEqual([]);
    expect(code).toBe(0);
  });

  const rows: {
    name: string;
    check: string;
    make: () => Promise<Record<string, string | undefined>>;
  }[] = [
    {
      name: 'a passphrase in the environment',
      check: 'passphrase_in_environment',
      make: async () => env,
    },
    {
      name: 'a passphrase in a .env file of the project',
      check: 'passphrase_in_files',
      make: async () => {
        await writeFile(join(project, '.env'), `AGENTSECRETS_PASSPHRASE=${PASSPHRASE}\n`);
        return noEnv;
      },
    },
    {
      name: 'a state file readable by others',
      check: 'state_modes',
      make: async () => {
        await chmod(join(home, 'config.json'), 0o644);
        return noEnv;
      },
    },
  ];
  it.each(rows.map((r) => [r.name, r] as const))('fails on %s (exit 1)', async (_name, row) => {
    const extra = await row.make();
    const { code, report } = await doctor(home, project, extra);
    expect(report.checks.find((c) => c.check === row.check)?.level).toBe('fail');
    expect(report.ok).toBe(false);
    expect(code).toBe(1);
  });
});

describe('strict enable, status, gates, reseal and disable', () => {
  let home: string;
  const value = canary('STRICT');
  beforeAll(async () => {
    home = await tempDir();
    expect(
      (await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], { home, env }))
        .code,
    ).toBe(0);
    expect((await runCli(['secrets', 'set', 'KEY'], { home, env, input: value })).code).toBe(0);
  });

  it('off: AGENTSECRETS_PASSPHRASE reveals through a pseudo-terminal; on: refused, saying why', async () => {
    const before = await runCliInPty(['secrets', 'get', 'KEY', '--yes'], { home, env });
    expect(findLeaks(before.stdout, value).length).toBeGreaterThan(0);
    const on = await runCliInPty(['strict', 'enable'], {
      home,
      env: noEnv,
      input: `${PASSPHRASE}\r`,
    });
    expect(on.stdout).toContain('strict mode is on');
    const after = await runCliInPty(['secrets', 'get', 'KEY', '--yes'], { home, env });
    expect(after.stdout).toMatch(
      /refuses AGENTSECRETS_PASSPHRASE: every process of this user can read/,
    );
    expect(findLeaks(after.stdout, value)).toEqual([]);
    const status = await runCli(['strict', 'status', '--json'], { home, env: noEnv });
    expect(JSON.parse(status.stdout)).toMatchObject({ strict: true, backend: 'passphrase' });
    expect(await readFile(join(home, 'vault.json'), 'utf8')).toContain('"strict": true');
  });

  it('a reveal approved with the passphrase goes to the terminal, never to stdout or stderr', async () => {
    const dir = await tempDir();
    const [out, err] = [join(dir, 'stdout'), join(dir, 'stderr')];
    // stdout and stderr go to files the "agent" reads; only the terminal is left for the value.
    const command = `${[process.execPath, CLI, 'secrets', 'get', 'KEY'].map(shellQuote).join(' ')} >${shellQuote(out)} 2>${shellQuote(err)}`;
    const terminal = await new Promise<string>((resolve) => {
      const child = spawn('script', ['-qec', command, '/dev/null'], { env: baseEnv(home, noEnv) });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString('utf8')));
      child.stdin.on('error', () => undefined);
      setTimeout(() => child.stdin.write(`${PASSPHRASE}\r`), 300);
      child.on('close', () => resolve(text));
    });
    expect(findLeaks(terminal, value).length, terminal).toBeGreaterThan(0);
    const captured = (await readFile(out, 'utf8')) + (await readFile(err, 'utf8'));
    expect(captured).toContain('written to the terminal');
    expect(findLeaks(captured, value)).toEqual([]);
    // Without a controlling terminal: refused (exit 3), nothing anywhere.
    const none = await runCli(['secrets', 'get', 'KEY'], { home, env: noEnv });
    expect(none.code).toBe(3);
    expect(findLeaks(none.stdout + none.stderr, value)).toEqual([]);
  });

  it('env gives real values only to the command line a human approved, and audits the approval', async () => {
    const refused = await runCli(['env', '--real', '--only', 'KEY', '--', 'printenv', 'KEY'], {
      home,
      env: noEnv,
    });
    expect(refused.code).toBe(3);
    expect(findLeaks(refused.stdout + refused.stderr, value)).toEqual([]);
    // Without --real the command gets placeholders; with no key holder running, this process
    // would have to unlock the vault, and without a terminal it cannot.
    const placeholders = await runCli(['env', '--only', 'KEY', '--', 'printenv', 'KEY'], {
      home,
      env: noEnv,
    });
    expect(placeholders.code).toBe(3);
    expect(placeholders.stderr).toContain('the command gets placeholders, not values');
    expect(placeholders.stderr).toContain('[needs_terminal]');
    expect(findLeaks(placeholders.stdout + placeholders.stderr, value)).toEqual([]);
    const approved = await runCliInPty(
      ['env', '--real', '--only', 'KEY', '--', 'printenv', 'KEY'],
      {
        home,
        env: noEnv,
        input: `${PASSPHRASE}\r`,
      },
    );
    expect(approved.stdout).toContain('run `printenv KEY` with the REAL values of KEY');
    expect(findLeaks(approved.stdout, value).length).toBeGreaterThan(0);
    const log = await runCli(['log', 'list', '--json', '--limit', '5'], { home, env: noEnv });
    expect(log.stdout).toMatch(/env printenv \(command line sha256 [0-9a-f]{16}\)/);
    expect(findLeaks(log.stdout, value)).toEqual([]);
  });

  it('a hand edit of workspaces.json stops the key holder from starting (state_tampered, naming the file)', async () => {
    const path = join(home, 'workspaces.json');
    const original = await readFile(path, 'utf8');
    const doc = JSON.parse(original) as { workspaces: { allowlist: unknown[] }[] };
    doc.workspaces[0]!.allowlist.push({ pattern: 'evil.example', added_by: 'x', added_at: 't' });
    await writeFile(path, JSON.stringify(doc));
    const start = await runCliInPty(['proxy', 'start', '--port', '0'], {
      home,
      env: noEnv,
      input: `${PASSPHRASE}\r`,
    });
    expect(start.stdout).toMatch(
      /workspaces\.json .*changed outside agentsecrets.*\[state_tampered\]/s,
    );
    // reseal (the passphrase) accepts it; then the key holder would start.
    const reseal = await runCliInPty(['strict', 'reseal'], {
      home,
      env: noEnv,
      input: `${PASSPHRASE}\r`,
    });
    expect(reseal.stdout).toContain('resealed workspaces.json');
    await writeFile(path, original);
  });

  it('a wrong passphrase changes nothing and is audited; the right one turns strict mode off', async () => {
    const wrong = await runCliInPty(['strict', 'disable'], {
      home,
      env: noEnv,
      input: 'not-the-passphrase\r',
    });
    expect(wrong.stdout).toContain('wrong passphrase');
    const log = await runCli(['log', 'list', '--json', '--limit', '5'], { home, env: noEnv });
    expect(log.stdout).toMatch(/"method": ?"APPROVE"[\s\S]*"reason": ?"unlock_failed"/);
    const off = await runCliInPty(['strict', 'disable'], {
      home,
      env: noEnv,
      input: `${PASSPHRASE}\r`,
    });
    expect(off.stdout).toContain('strict mode is off');
    const status = await runCli(['strict', 'status', '--json'], { home, env: noEnv });
    expect(JSON.parse(status.stdout)).toMatchObject({ strict: false });
  });
});

const bus = inject('keyringBus');

describe.runIf(bus !== '')('strict enable on a keychain vault (real Secret Service)', () => {
  it('off: any process of the user gets the key from the keychain; on: the key is gone from it', async () => {
    const home = await tempDir();
    const keychainEnv = { DBUS_SESSION_BUS_ADDRESS: bus, AGENTSECRETS_PASSPHRASE: undefined };
    expect((await runCli(['init', '--backend', 'keychain'], { home, env: keychainEnv })).code).toBe(
      0,
    );
    const value = canary('KEYCHAIN');
    expect(
      (await runCli(['secrets', 'set', 'KEY'], { home, env: keychainEnv, input: value })).code,
    ).toBe(0);
    // Strict mode off: no passphrase anywhere, and a pseudo-terminal passes the gate.
    const before = await runCliInPty(['secrets', 'get', 'KEY', '--yes'], {
      home,
      env: keychainEnv,
    });
    expect(findLeaks(before.stdout, value).length).toBeGreaterThan(0);
    const on = await runCliInPty(['strict', 'enable'], {
      home,
      env: keychainEnv,
      input: `strict\r${PASSPHRASE}\r${PASSPHRASE}\r`,
    });
    expect(on.stdout, on.stdout).toContain('strict mode is on');
    const header = JSON.parse(await readFile(join(home, 'vault.json'), 'utf8')) as {
      key: { provider: string; strict?: boolean };
    };
    expect(header.key).toMatchObject({ provider: 'passphrase', strict: true });
    // The agent's way in is gone: no keychain entry, and it does not know the passphrase.
    const after = await runCliInPty(['secrets', 'get', 'KEY', '--yes'], {
      home,
      env: keychainEnv,
      input: 'a-guess-at-it\r',
    });
    expect(after.stdout).toContain('wrong passphrase');
    expect(findLeaks(after.stdout, value)).toEqual([]);
  });
});
