import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { canary, findLeaks, scanTree } from '../helpers/canary.js';
import { type CliResult, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const PASSPHRASE = 'e2e-test-passphrase';

/**
 * The whole foundation flow through the built binary, with canary values: the values must
 * reach the child's environment and appear nowhere else.
 */
describe('CLI flow with canary values (spawned binary)', () => {
  let home: string;
  let project: string;
  let outside: string;
  const viaStdin = canary('STDIN');
  const viaArgv = canary('ARGV');
  const viaImport = canary('IMPORT');
  const outputs: CliResult[] = [];

  const cli = async (args: string[], input?: string) => {
    const result = await runCli(args, {
      home,
      cwd: project,
      input,
      env: { AGENTSECRETS_PASSPHRASE: PASSPHRASE },
    });
    outputs.push(result);
    return result;
  };

  beforeAll(async () => {
    home = join(await tempDir(), 'state');
    project = await tempDir();
    outside = await tempDir();
    await writeFile(join(project, '.gitignore'), 'node_modules\n');
  });

  it('init creates a private state folder and the workflow file', async () => {
    const result = await cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests']);
    expect(result.code).toBe(0);
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    for (const file of ['vault.json', 'config.json', 'workspaces.json']) {
      expect((await stat(join(home, file))).mode & 0o777).toBe(0o600);
    }
    const workflow = await readFile(
      join(project, '.agent', 'workflows', 'agentsecrets.md'),
      'utf8',
    );
    expect(workflow).toContain('agentsecrets run --');
    expect(workflow).toContain('agentsecrets env --');
    expect(workflow).not.toMatch(/secrets get/);
    expect(await readFile(join(project, '.gitignore'), 'utf8')).toContain('.env*');
  });

  it('init is idempotent', async () => {
    const before = await readFile(join(home, 'vault.json'), 'utf8');
    const result = await cli(['init', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ created: false, vault_created: false });
    expect(await readFile(join(home, 'vault.json'), 'utf8')).toBe(before);
    expect((await readFile(join(project, '.gitignore'), 'utf8')).match(/\.env\*/g)).toHaveLength(1);
  });

  it('sets a value from stdin, stripping exactly one newline', async () => {
    const result = await cli(['secrets', 'set', 'FROM_STDIN'], `${viaStdin}\n`);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('created FROM_STDIN');
  });

  it('sets KEY=value from argv, with a warning about argv visibility', async () => {
    const result = await cli(['secrets', 'set', `FROM_ARGV=${viaArgv}`]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('visible to other processes');
  });

  it('imports a .env file and reports counts', async () => {
    await writeFile(
      join(project, '.env'),
      `# comment\nFROM_IMPORT="${viaImport}"\nexport PLAIN=abc\n`,
    );
    const result = await cli(['secrets', 'import', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      created: 2,
      updated: 0,
      keys: ['FROM_IMPORT', 'PLAIN'],
      skipped: [],
    });
  });

  it('lists names and metadata only', async () => {
    const table = await cli(['secrets', 'list']);
    expect(table.code).toBe(0);
    for (const key of ['FROM_STDIN', 'FROM_ARGV', 'FROM_IMPORT', 'PLAIN'])
      expect(table.stdout).toContain(key);
    const json = await cli(['secrets', 'list', '--json']);
    const rows = JSON.parse(json.stdout) as { key: string; version: number }[];
    expect(rows.map((r) => r.key)).toEqual(['FROM_ARGV', 'FROM_IMPORT', 'FROM_STDIN', 'PLAIN']);
  });

  it('injects the values into the child environment (and only there)', async () => {
    const dump = join(outside, 'child-env.json');
    const script = `require('node:fs').writeFileSync(${JSON.stringify(dump)}, JSON.stringify({a: process.env.FROM_STDIN, b: process.env.FROM_ARGV, c: process.env.FROM_IMPORT, p: process.env.AGENTSECRETS_PASSPHRASE ?? null}))`;
    const result = await cli(['env', '--', process.execPath, '-e', script]);
    expect(result.code).toBe(0);
    expect(JSON.parse(await readFile(dump, 'utf8'))).toEqual({
      a: viaStdin,
      b: viaArgv,
      c: viaImport,
      p: null,
    });
  });

  it('masks values the child prints to a pipe', async () => {
    const result = await cli([
      'env',
      '--',
      process.execPath,
      '-e',
      'process.stdout.write(process.env.FROM_STDIN + "\\n"); process.stderr.write("err:" + process.env.FROM_ARGV)',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('[REDACTED_BY_AGENTSECRETS]\n');
    expect(result.stderr).toContain('err:[REDACTED_BY_AGENTSECRETS]');
  });

  it('--no-mask passes output through untouched (a human asked for it)', async () => {
    const result = await runCli(
      [
        'env',
        '--no-mask',
        '--only',
        'PLAIN',
        '--',
        process.execPath,
        '-e',
        'process.stdout.write(process.env.PLAIN)',
      ],
      {
        home,
        cwd: project,
        env: { AGENTSECRETS_PASSPHRASE: PASSPHRASE },
      },
    );
    expect(result.stdout).toBe('abc');
  });

  it('deletes a secret', async () => {
    const result = await cli(['secrets', 'delete', 'PLAIN']);
    expect(result.code).toBe(0);
    const list = await cli(['secrets', 'list', '--json']);
    expect((JSON.parse(list.stdout) as { key: string }[]).map((r) => r.key)).not.toContain('PLAIN');
  });

  it('status reports the setup without unlocking', async () => {
    const result = await runCli(['status', '--json'], { home, cwd: project });
    outputs.push(result);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      initialized: true,
      project: 'default',
      environment: 'development',
      backend: 'passphrase',
      secrets: 3,
      last_pull: null,
      last_push: null,
    });
  });

  it('leaves no value in any output or file, except the .env the test wrote', async () => {
    const all = outputs.map((o) => `${o.stdout}\n${o.stderr}`).join('\n');
    for (const value of [viaStdin, viaArgv, viaImport]) {
      expect(findLeaks(all, value)).toEqual([]);
      expect(await scanTree(home, value)).toEqual([]);
      expect(
        await scanTree(project, value, { except: (p) => p === join(project, '.env') }),
      ).toEqual([]);
    }
    // The passphrase is no value of ours to print either.
    expect(findLeaks(all, PASSPHRASE)).toEqual([]);
    expect(await scanTree(home, PASSPHRASE)).toEqual([]);
  });
});
