import { spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findProgram } from '../../src/env/which.js';
import { baseEnv, CLI, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const PASSPHRASE = 'results-test-passphrase';

interface Entry {
  status: string;
  reason: string | null;
  command: string | null;
  secret_keys: string[];
}

describe('correct results: `secrets import` with skipped lines, `env` of a missing program', () => {
  let home: string;
  let folder: string;
  const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE };
  const cli = (args: string[]) => runCli(args, { home, cwd: folder, env });
  const newest = async (): Promise<Entry> =>
    (JSON.parse((await cli(['log', '--limit', '1', '--json'])).stdout) as Entry[])[0]!;

  beforeAll(async () => {
    home = join(await tempDir(), 'state');
    folder = await tempDir();
    expect((await cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'])).code).toBe(0);
    await writeFile(
      join(folder, 'mixed.env'),
      [
        'GOOD_A=aaaaaaaaaaaaaaaaaaaa',
        'no equals sign here',
        'GOOD_B=bbbbbbbbbbbbbbbbbbbb',
        'BAD-NAME=x',
      ].join('\n'),
    );
    await writeFile(join(folder, 'strict.env'), ['STRICT_A=1111111111111111', 'broken'].join('\n'));
    await writeFile(join(folder, 'bad.env'), ['broken one', 'broken two'].join('\n'));
  }, 60_000);

  it('imports what it can, exits 0 and names the skipped lines by number', async () => {
    const result = await cli(['secrets', 'import', 'mixed.env']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('imported 2 key(s)');
    expect(result.stderr).toContain('line 2 skipped');
    expect(result.stderr).toContain('line 4 skipped');
    expect(result.stderr).toContain('skipped line(s) 2, 4');
    expect(result.stderr).not.toContain('no equals sign here');
    const list = await cli(['secrets', 'list', '--json']);
    expect((JSON.parse(list.stdout) as { key: string }[]).map((r) => r.key)).toEqual([
      'GOOD_A',
      'GOOD_B',
    ]);
  });

  it('--strict imports nothing and exits 1 when a line would be skipped', async () => {
    const result = await cli(['secrets', 'import', 'strict.env', '--strict', '--json']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ created: 0, keys: [], strict: true });
    const list = await cli(['secrets', 'list', '--json']);
    expect((JSON.parse(list.stdout) as { key: string }[]).map((r) => r.key)).not.toContain(
      'STRICT_A',
    );
    // The same file without --strict imports its good line.
    expect((await cli(['secrets', 'import', 'strict.env'])).code).toBe(0);
  });

  it('a file with nothing importable exits 1', async () => {
    expect((await cli(['secrets', 'import', 'bad.env'])).code).toBe(1);
  });

  it('`env` of a program that exists is audited OK (the control)', async () => {
    expect((await cli(['env', '--', 'true'])).code).toBe(0);
    expect(await newest()).toMatchObject({ status: 'OK', command: 'true' });
  });

  it('`env` of a missing program exits 127, releases nothing, and is audited as ERROR', async () => {
    const result = await cli(['env', '--', 'no-such-program-here']);
    expect(result.code).toBe(127);
    expect(result.stderr).toContain('command not found');
    expect(await newest()).toMatchObject({
      status: 'ERROR',
      reason: 'command_not_found',
      command: 'no-such-program-here',
      secret_keys: [],
    });
  });

  describe('through a running key holder', () => {
    let proxy: ReturnType<typeof spawn>;
    beforeAll(async () => {
      proxy = spawn(process.execPath, [CLI, 'proxy', 'start', '--port', '0'], {
        env: baseEnv(home, env),
        stdio: 'ignore',
      });
      for (let i = 0; i < 300 && !(await readdir(home)).includes('proxy.json'); i++)
        await sleep(50);
    }, 30_000);
    afterAll(async () => {
      const exited = new Promise((resolve) => proxy.once('exit', resolve));
      proxy.kill('SIGTERM');
      await exited;
    });

    it('`env` of a missing program is audited as ERROR by the key holder too', async () => {
      const result = await runCli(['env', '--', './missing-script.sh'], { home, cwd: folder });
      expect(result.code).toBe(127);
      expect(await newest()).toMatchObject({
        status: 'ERROR',
        reason: 'command_not_found',
        command: 'missing-script.sh',
      });
    });
  });

  it('findProgram looks names up in PATH and paths relative to the folder', async () => {
    expect(await findProgram('sh', { path: process.env.PATH, cwd: folder })).toMatch(/\/sh$/);
    expect(await findProgram('no-such-program-here', { path: process.env.PATH, cwd: folder })).toBe(
      undefined,
    );
    expect(await findProgram('./mixed.env', { path: '', cwd: folder })).toBe(undefined);
  });
});
