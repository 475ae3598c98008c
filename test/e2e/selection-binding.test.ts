import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const env = { AGENTSECRETS_PASSPHRASE: 'selection-test-passphrase' };

describe('a folder binding and the global selection (spawned CLI)', () => {
  let home: string;
  let bound: string;
  let plain: string;
  const cli = (args: string[], cwd: string) => runCli(args, { home, cwd, env });
  const status = async (cwd: string) =>
    JSON.parse((await cli(['status', '--json'], cwd)).stdout) as {
      workspace: string;
      project: string;
      environment: string;
    };

  beforeAll(async () => {
    home = join(await tempDir(), 'state');
    bound = await tempDir();
    plain = await tempDir();
    expect(
      (await cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], plain)).code,
    ).toBe(0);
    expect((await cli(['project', 'create', 'other'], plain)).code).toBe(0);
    expect((await cli(['project', 'use', 'default'], bound)).code).toBe(0);
    // A second local workspace, as a team member's state folder holds several.
    const path = join(home, 'workspaces.json');
    const file = JSON.parse(await readFile(path, 'utf8')) as {
      workspaces: { id: string; name: string }[];
    };
    file.workspaces.push({ ...file.workspaces[0]!, id: 'ws_secondsecondsec', name: 'second' });
    await writeFile(path, JSON.stringify(file, null, 2));
  }, 60_000);

  const bindingFile = () => join(bound, '.agentsecrets', 'project.json');

  it('`project use --global` in a bound folder says the binding wins, and names the file', async () => {
    const control = await cli(['project', 'use', 'other', '--global'], plain);
    expect(control.code).toBe(0);
    expect(control.stderr).toBe('');
    const result = await cli(['project', 'use', 'other', '--global'], bound);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(bindingFile());
    expect(result.stderr).toContain('binding wins here over the project you just selected');
    // And it is true: the folder still uses its bound project.
    expect((await status(bound)).project).toBe('default');
    expect((await status(plain)).project).toBe('other');
  });

  it('`environment switch --global` warns when the binding has its own environment', async () => {
    expect((await cli(['environment', 'switch', 'production'], bound)).stderr).toBe('');
    const result = await cli(['environment', 'switch', 'staging', '--global'], bound);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(bindingFile());
    expect(result.stderr).toContain('environment production');
    expect((await status(bound)).environment).toBe('production');
  });

  it('`workspace switch` in a bound folder says the binding keeps its workspace', async () => {
    const result = await cli(['workspace', 'switch', 'second'], bound);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('switched to workspace second');
    expect(result.stderr).toContain(bindingFile());
    expect(result.stderr).toContain('workspace local');
    expect((await status(bound)).workspace).toBe('local');
    expect((await cli(['workspace', 'switch', 'local'], plain)).stderr).toBe('');
  });

  it('a stale binding names its file and the fix, and `project use` repairs it', async () => {
    const stale = await tempDir();
    await mkdir(join(stale, '.agentsecrets'));
    const path = join(stale, '.agentsecrets', 'project.json');
    await writeFile(
      path,
      JSON.stringify({
        workspace_id: 'ws_elsewhere000000',
        workspace_name: 'elsewhere',
        project_id: 'prj_elsewhere00000',
        project_name: 'api',
        environment: null,
      }),
    );
    const broken = await cli(['secrets', 'list'], stale);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain(path);
    expect(broken.stderr).toContain("workspace 'elsewhere'");
    expect(broken.stderr).toContain('agentsecrets project use NAME');
    expect(broken.stderr).not.toContain('the selected workspace does not exist');
    const fixed = await cli(['project', 'use', 'default'], stale);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect((await cli(['secrets', 'list'], stale)).code).toBe(0);
  });
});
