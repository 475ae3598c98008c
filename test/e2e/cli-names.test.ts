import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { similarNames } from '../../src/cli/suggest.js';
import { givenAfterDashes } from '../../src/cli/commands/env.js';
import { runCli } from '../helpers/cli.js';
import { startDaemon } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

const PASSPHRASE = 'cli-names-passphrase';

describe('command names: the Go tool aliases, typos and `env` look-alikes (spawned CLI)', () => {
  let home: string;
  const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE };
  const cli = (args: string[], extra: Record<string, string | undefined> = env) =>
    runCli(args, { home, env: extra });

  beforeAll(async () => {
    home = join(await tempDir(), 'state');
    expect((await cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'])).code).toBe(0);
    expect(
      (await runCli(['secrets', 'set', 'NAMES_KEY'], { home, env, input: 'v'.repeat(24) })).code,
    ).toBe(0);
    expect((await cli(['env', '--', 'true'])).code).toBe(0);
  }, 60_000);

  it.each([
    [['log', 'shwo', 'x'], 'show'],
    [['log', 'lst'], 'list'],
    [['log', 'veriyf'], 'verify'],
    [['secrets', 'lst'], 'list'],
    [['workspace', 'swich', 'x'], 'switch'],
    [['environment', 'swich', 'staging'], 'switch'],
    [['agent', 'token', 'isue', 'x'], 'issue'],
    [['proxy', 'strt'], 'start'],
    [['staus'], 'status'],
  ])('`%s` is an unknown command with "Did you mean %s?" (exit 2)', async (args, meant) => {
    const result = await cli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command '");
    expect(result.stderr).toContain(`(Did you mean ${meant}?)`);
    expect(result.stderr).not.toContain('too many arguments');
  });

  it('`log detail ID` is `log show ID` (the Go tool name)', async () => {
    const list = await cli(['log', '--json']);
    const [entry] = JSON.parse(list.stdout) as { id: string }[];
    const detail = await cli(['log', 'detail', entry!.id, '--json']);
    const show = await cli(['log', 'show', entry!.id, '--json']);
    expect(detail.code).toBe(0);
    expect(detail.stdout).toBe(show.stdout);
    expect(JSON.parse(detail.stdout)).toMatchObject({ entry: { id: entry!.id } });
  });

  it('`log list --tail` follows new entries, as `log watch` does', async () => {
    const watcher = await startDaemon(['log', 'list', '--tail', '--json'], { home, env }, (out) =>
      out.includes('watching the audit log') ? true : undefined,
    );
    try {
      expect((await cli(['env', '--only', 'NAMES_KEY', '--', 'true'])).code).toBe(0);
      for (let i = 0; i < 200 && !/"command":\s?"true"/.test(watcher.output()); i++)
        await sleep(50);
      expect(watcher.output()).toMatch(/"command":\s?"true"/);
    } finally {
      await watcher.stop();
    }
  });

  it.each([
    [['env', 'list'], 'agentsecrets environment list'],
    [['env', 'switch', 'production'], 'agentsecrets environment switch production'],
    [['env', 'production'], 'agentsecrets environment switch production'],
  ])('`%s` is refused before any unlock and suggests `%s`', async (args, suggestion) => {
    const before = await readdir(join(home, 'audit')).catch(() => []);
    // No passphrase: had it tried to unlock, this would be exit 4 (vault locked).
    const result = await cli(args, {});
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(suggestion);
    expect(result.stderr).toContain(`agentsecrets env -- ${args.slice(1).join(' ')}`);
    expect(await readdir(join(home, 'audit')).catch(() => [])).toEqual(before);
  });

  it('`env -- list` runs a program named list (here: none, so 127)', async () => {
    const result = await cli(['env', '--', 'list']);
    expect(result.code).toBe(127);
    expect(result.stderr).toContain("cannot run 'list'");
  });

  it('pure helpers: similar names and `--` detection', () => {
    expect(similarNames('shwo', ['show', 'list', 'summary'])).toEqual(['show']);
    expect(similarNames('zzzz', ['show', 'list'])).toEqual([]);
    expect(givenAfterDashes(['node', 'as', 'env', '--', 'list'], 'list')).toBe(true);
    expect(givenAfterDashes(['node', 'as', 'env', 'list', '--', 'x'], 'list')).toBe(false);
    expect(givenAfterDashes(['node', 'as', 'env', 'list'], 'list')).toBe(false);
  });
});
