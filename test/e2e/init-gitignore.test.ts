import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const env = { AGENTSECRETS_PASSPHRASE: 'gitignore-test-passphrase' };
const INIT = ['init', '--backend', 'passphrase', '--weak-kdf-for-tests'];

async function setup(gitignore: string | undefined) {
  const home = join(await tempDir(), 'state');
  const folder = await tempDir();
  if (gitignore !== undefined) await writeFile(join(folder, '.gitignore'), gitignore);
  const cli = (args: string[]) => runCli(args, { home, cwd: folder, env });
  return { folder, cli, path: join(folder, '.gitignore') };
}

describe('init and a .gitignore it did not create (spawned CLI)', () => {
  it('says so, naming the file, when it appends .env* (also with --json)', async () => {
    const { cli, path } = await setup('node_modules\n');
    const result = await cli([...INIT, '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ gitignore_updated: true });
    expect(result.stderr).toContain(`appended ".env*" to ${path}`);
    expect(result.stderr).toContain('--no-gitignore');
    expect(await readFile(path, 'utf8')).toBe(
      'node_modules\n# agentsecrets: keep plaintext .env files out of git\n.env*\n',
    );
    // Once is enough: a second init neither edits nor says anything about it.
    const again = await cli(INIT);
    expect(again.stderr).not.toContain('.gitignore');
    expect((await readFile(path, 'utf8')).match(/\.env\*/g)).toHaveLength(1);
  });

  it('--no-gitignore leaves the file exactly as it was', async () => {
    const { cli, path } = await setup('dist/\n');
    const result = await cli([...INIT, '--no-gitignore']);
    expect(result.code).toBe(0);
    expect(result.stderr + result.stdout).not.toContain('.gitignore');
    expect(await readFile(path, 'utf8')).toBe('dist/\n');
  });

  it('creates no .gitignore where there is none', async () => {
    const { cli, folder } = await setup(undefined);
    const result = await cli(INIT);
    expect(result.code).toBe(0);
    expect(await readdir(folder)).not.toContain('.gitignore');
    expect(result.stderr).not.toContain('.gitignore');
  });
});
