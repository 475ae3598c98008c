import { lstat, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import { describe, expect, it } from 'vitest';
import {
  buildEntry,
  type ClientId,
  CLIENTS,
  configLocation,
  type FileLocation,
  planInstall,
  planUninstall,
  type Scope,
  shapeEntry,
  tokenInfo,
} from '../../src/clients/index.js';
import { CLI, type CliResult, runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const PASSPHRASE = 'mcp-install-passphrase';

/** A temporary HOME, a state folder, a project folder and an empty PATH (no `claude`). */
interface Sandbox {
  home: string;
  state: string;
  cwd: string;
  bin: string;
}

async function sandbox(): Promise<Sandbox> {
  const root = await tempDir('agentsecrets-mcp-install-');
  const s = {
    home: join(root, 'home'),
    state: join(root, 'state'),
    cwd: join(root, 'project'),
    bin: join(root, 'bin'),
  };
  await Promise.all([mkdir(s.home), mkdir(s.cwd), mkdir(s.bin)]);
  return s;
}

function install(s: Sandbox, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['mcp', 'install', ...args], {
    home: s.state,
    cwd: s.cwd,
    env: { HOME: s.home, PATH: s.bin, AGENTSECRETS_PASSPHRASE: PASSPHRASE, ...env },
  });
}

function where(s: Sandbox, client: ClientId, scope: Scope): FileLocation {
  const location = configLocation(client, scope, {
    platform: process.platform,
    env: { HOME: s.home },
    homedir: s.home,
    cwd: s.cwd,
  });
  if (location.kind !== 'file') throw new Error(`${client} ${scope} is not a file`);
  return location;
}

async function readConfig(file: string): Promise<Record<string, Record<string, unknown>>> {
  return parseJsonc(await readFile(file, 'utf8')) as Record<string, Record<string, unknown>>;
}

async function backups(file: string): Promise<string[]> {
  const names = await readdir(dirname(file));
  const base = file.slice(dirname(file).length + 1);
  return names.filter((n) => n.startsWith(`${base}.bak-`)).map((n) => join(dirname(file), n));
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

interface Row {
  client: ClientId;
  scope: Scope;
  rootKey: string;
  typed: boolean;
}

const ROWS: Row[] = [
  { client: 'claude-desktop', scope: 'user', rootKey: 'mcpServers', typed: false },
  { client: 'cursor', scope: 'user', rootKey: 'mcpServers', typed: false },
  { client: 'vscode', scope: 'user', rootKey: 'servers', typed: true },
  { client: 'claude-code', scope: 'project', rootKey: 'mcpServers', typed: true },
  { client: 'windsurf', scope: 'user', rootKey: 'mcpServers', typed: false },
  { client: 'zed', scope: 'user', rootKey: 'context_servers', typed: false },
];

describe.each(ROWS)('mcp install --client $client --scope $scope', (row) => {
  const flags = ['--client', row.client, '--scope', row.scope];
  const expected = (s: Sandbox, extraArgs: string[] = []) => ({
    ...(row.typed ? { type: 'stdio' } : {}),
    command: process.execPath,
    args: [CLI, 'mcp', 'serve', ...extraArgs],
    env: { AGENTSECRETS_HOME: s.state },
  });

  it('writes a fresh file with absolute command and args', async () => {
    const s = await sandbox();
    const { file, dir } = where(s, row.client, row.scope);
    await mkdir(dir, { recursive: true });
    const result = await install(s, flags);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`installed ${file}`);
    expect(result.stderr).toMatch(/Restart .* to pick up the change/);
    const config = await readConfig(file);
    expect(config[row.rootKey]!.agentsecrets).toEqual(expected(s));
    const entry = config[row.rootKey]!.agentsecrets as { command: string; args: string[] };
    expect(isAbsolute(entry.command)).toBe(true);
    expect(isAbsolute(entry.args[0]!)).toBe(true);
    const text = await readFile(file, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(await backups(file)).toEqual([]);
  });

  it('merges into an existing file, keeps a backup of the old content, and is idempotent', async () => {
    const s = await sandbox();
    const { file, dir } = where(s, row.client, row.scope);
    await mkdir(dir, { recursive: true });
    const other = { command: 'npx', args: ['-y', 'some-server'], env: { LOG_LEVEL: 'debug' } };
    const before = `${JSON.stringify({ theme: 'dark', [row.rootKey]: { other }, nested: { a: [1, 2] } }, null, 2)}\n`;
    await writeFile(file, before, { mode: 0o640 });

    const first = await install(s, flags);
    expect(first.code, first.stderr).toBe(0);
    const config = await readConfig(file);
    expect(config.theme).toBe('dark');
    expect(config.nested).toEqual({ a: [1, 2] });
    expect(config[row.rootKey]!.other).toEqual(other);
    expect(config[row.rootKey]!.agentsecrets).toEqual(expected(s));
    expect((await stat(file)).mode & 0o777).toBe(0o640);
    const made = await backups(file);
    expect(made).toHaveLength(1);
    expect(made[0]).toMatch(/\.bak-\d{8}T\d{6}Z$/);
    expect(await readFile(made[0]!, 'utf8')).toBe(before);

    const after = await readFile(file, 'utf8');
    const again = await install(s, [...flags, '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual([
      { client: row.client, scope: row.scope, file, action: 'unchanged' },
    ]);
    expect(await readFile(file, 'utf8')).toBe(after);
    expect(await backups(file)).toHaveLength(1);
    const servers = (await readConfig(file))[row.rootKey]!;
    expect(Object.keys(servers).filter((k) => k === 'agentsecrets')).toHaveLength(1);
  });

  it('--uninstall removes only our entry, then reports not installed', async () => {
    const s = await sandbox();
    const { file, dir } = where(s, row.client, row.scope);
    await mkdir(dir, { recursive: true });
    const other = { command: 'uvx', args: ['other'] };
    await writeFile(file, JSON.stringify({ keep: true, [row.rootKey]: { other } }));
    expect((await install(s, flags)).code).toBe(0);
    const removed = await install(s, [...flags, '--uninstall']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`removed ${file}`);
    const config = await readConfig(file);
    expect(config[row.rootKey]).toEqual({ other });
    expect(config.keep).toBe(true);
    const again = await install(s, [...flags, '--uninstall']);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('not installed');
  });

  it('refuses invalid JSON: non-zero exit, file untouched, the message names the file', async () => {
    const s = await sandbox();
    const { file, dir } = where(s, row.client, row.scope);
    await mkdir(dir, { recursive: true });
    const broken = `{\n  "${row.rootKey}": {\n    "x": { "env": { "K": "BROKEN_CANARY_7f3a9c" }\n`;
    await writeFile(file, broken);
    const result = await install(s, flags);
    expect(result.code).toBe(1);
    expect(result.stdout + result.stderr).toContain(file);
    expect(result.stdout + result.stderr).toMatch(/line \d+, column \d+/);
    expect(result.stdout + result.stderr).not.toContain('BROKEN_CANARY_7f3a9c');
    expect(await readFile(file, 'utf8')).toBe(broken);
    expect(await backups(file)).toEqual([]);
  });

  it('--dry-run writes nothing', async () => {
    const s = await sandbox();
    const { file, dir } = where(s, row.client, row.scope);
    await mkdir(dir, { recursive: true });
    const fresh = await install(s, [...flags, '--dry-run']);
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(fresh.stdout).toContain(`would install ${file}`);
    expect(await exists(file)).toBe(false);
    const before = JSON.stringify({ [row.rootKey]: {} });
    await writeFile(file, before);
    const planned = await install(s, [...flags, '--dry-run', '--json']);
    expect(JSON.parse(planned.stdout)[0]).toMatchObject({ action: 'would install', file });
    expect(await readFile(file, 'utf8')).toBe(before);
    expect(await backups(file)).toEqual([]);
  });

  it('--agent billing writes --agent-id billing', async () => {
    const s = await sandbox();
    const { file, dir } = where(s, row.client, row.scope);
    await mkdir(dir, { recursive: true });
    expect((await install(s, [...flags, '--agent', 'billing'])).code).toBe(0);
    const config = await readConfig(file);
    expect(config[row.rootKey]!.agentsecrets).toEqual(expected(s, ['--agent-id', 'billing']));
    // Changing the agent updates the entry in place.
    const changed = await install(s, [...flags, '--agent', 'support']);
    expect(changed.stdout).toContain(`updated ${file}`);
    const servers = (await readConfig(file))[row.rootKey]!;
    expect((servers.agentsecrets as { args: string[] }).args.slice(-2)).toEqual([
      '--agent-id',
      'support',
    ]);
  });
});

describe('mcp install: JSONC, folders, scopes and Claude Code', () => {
  // One row per client whose file a user edits by hand; Claude Code's goes through `claude`.
  it.each(['zed', 'vscode', 'claude-desktop', 'cursor', 'windsurf'] as const)(
    '%s: comments survive install and uninstall',
    async (client) => {
      const s = await sandbox();
      const { file, dir, rootKey } = where(s, client, 'user');
      await mkdir(dir, { recursive: true });
      // Trailing commas only where the client's format allows them (JSONC).
      const comma = client === 'zed' || client === 'vscode' ? ',' : '';
      const text = `// top comment: keep me
{
  /* block comment */
  "theme": "One Dark", // trailing comment
  "${rootKey}": {
    // a server of the user's
    "other": { "command": "x", "args": [] }${comma}
  }${comma}
}
`;
      await writeFile(file, text);
      expect((await install(s, ['--client', client])).code).toBe(0);
      const installed = await readFile(file, 'utf8');
      for (const comment of [
        '// top comment: keep me',
        '/* block comment */',
        '// trailing comment',
        "// a server of the user's",
      ]) {
        expect(installed).toContain(comment);
      }
      const parsed = parseJsonc(installed) as Record<string, Record<string, unknown>>;
      expect(parsed[rootKey]!.other).toEqual({ command: 'x', args: [] });
      expect(parsed[rootKey]!.agentsecrets).toMatchObject({ command: process.execPath });

      expect((await install(s, ['--client', client, '--uninstall'])).code).toBe(0);
      const removed = await readFile(file, 'utf8');
      expect(removed).toContain('// top comment: keep me');
      expect(removed).toContain("// a server of the user's");
      expect(removed).not.toContain('agentsecrets');
      expect(parseJsonc(removed)).toEqual({
        theme: 'One Dark',
        [rootKey]: { other: { command: 'x', args: [] } },
      });
    },
  );

  it('--client all installs where a folder exists and skips the rest, with reasons', async () => {
    const s = await sandbox();
    const cursor = where(s, 'cursor', 'user');
    const zed = where(s, 'zed', 'user');
    await mkdir(cursor.dir, { recursive: true });
    await mkdir(zed.dir, { recursive: true });
    const result = await install(s, ['--json']);
    expect(result.code, result.stderr).toBe(0);
    const rows = JSON.parse(result.stdout) as { client: string; action: string; reason?: string }[];
    const byClient = Object.fromEntries(rows.map((r) => [r.client, r]));
    expect(byClient.cursor!.action).toBe('installed');
    expect(byClient.zed!.action).toBe('installed');
    for (const client of ['claude-desktop', 'vscode', 'windsurf', 'claude-code']) {
      expect(byClient[client]!.action).toBe('skipped');
      expect(byClient[client]!.reason).toBeTruthy();
    }
    expect(await exists(where(s, 'vscode', 'user').dir)).toBe(false);
    expect(await exists(where(s, 'windsurf', 'user').file)).toBe(false);
    expect(await exists(where(s, 'claude-desktop', 'user').file)).toBe(false);
    expect(await exists(join(s.home, '.claude.json'))).toBe(false);
  });

  it('an explicit client whose folder does not exist is an error that says where it looked', async () => {
    const s = await sandbox();
    const { file, dir } = where(s, 'windsurf', 'user');
    const result = await install(s, ['--client', 'windsurf']);
    expect(result.code).toBe(1);
    expect(result.stdout + result.stderr).toContain(file);
    expect(await exists(dir)).toBe(false);
  });

  it('clients without a project scope say so', async () => {
    const s = await sandbox();
    for (const client of ['claude-desktop', 'windsurf']) {
      const result = await install(s, ['--client', client, '--scope', 'project']);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('has no project scope');
    }
  });

  it.each([
    ['cursor', '.cursor/mcp.json'],
    ['vscode', '.vscode/mcp.json'],
    ['claude-code', '.mcp.json'],
    ['zed', '.zed/settings.json'],
  ] as const)(
    '--scope project writes %s into the working folder (%s)',
    async (client, relative) => {
      const s = await sandbox();
      const result = await install(s, ['--client', client, '--scope', 'project']);
      expect(result.code, result.stderr).toBe(0);
      const config = await readConfig(join(s.cwd, relative));
      const servers = Object.values(config)[0]!;
      expect(servers.agentsecrets).toMatchObject({ command: process.execPath });
    },
  );

  it('--scope project with --client all writes only where the project has a folder', async () => {
    const s = await sandbox();
    await mkdir(join(s.cwd, '.vscode'));
    const result = await install(s, ['--scope', 'project', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const rows = JSON.parse(result.stdout) as { client: string; action: string }[];
    expect(rows.filter((r) => r.action === 'installed').map((r) => r.client)).toEqual(['vscode']);
    expect(await readdir(s.cwd)).toEqual(['.vscode']);
  });

  it('keeps a symlinked config a symlink, and edits its target', async () => {
    const s = await sandbox();
    const { file, dir } = where(s, 'cursor', 'user');
    await mkdir(dir, { recursive: true });
    const target = join(s.home, 'dotfiles-mcp.json');
    await writeFile(target, '{"mcpServers":{}}');
    await symlink(target, file);
    expect((await install(s, ['--client', 'cursor'])).code).toBe(0);
    expect((await lstat(file)).isSymbolicLink()).toBe(true);
    expect((await readConfig(target)).mcpServers!.agentsecrets).toBeDefined();
  });

  it('Claude Code user scope without `claude` on PATH prints the command and writes nothing', async () => {
    const s = await sandbox();
    const result = await install(s, ['--client', 'claude-code', '--agent', 'coder']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      `claude mcp add -s user agentsecrets -e AGENTSECRETS_HOME=${s.state} -- ${process.execPath} ${CLI} mcp serve --agent-id coder`,
    );
    expect(await readdir(s.home)).toEqual([]);
  });

  it('Claude Code user scope runs `claude mcp add` / `claude mcp remove` when claude is on PATH', async () => {
    const s = await sandbox();
    const log = join(s.bin, 'calls.log');
    await writeFile(
      join(s.bin, 'claude'),
      `#!/bin/sh\nprintf '%s\\n' "$@" >> '${log}'\nprintf '==\\n' >> '${log}'\n`,
      { mode: 0o755 },
    );
    const added = await install(s, ['--client', 'claude-code']);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain('installed');
    const removed = await install(s, ['--client', 'claude-code', '--uninstall']);
    expect(removed.code, removed.stderr).toBe(0);
    const calls = (await readFile(log, 'utf8')).split('==\n').filter((c) => c !== '');
    expect(calls.map((c) => c.trim().split('\n'))).toEqual([
      [
        'mcp',
        'add',
        '-s',
        'user',
        'agentsecrets',
        '-e',
        `AGENTSECRETS_HOME=${s.state}`,
        '--',
        process.execPath,
        CLI,
        'mcp',
        'serve',
      ],
      ['mcp', 'remove', '-s', 'user', 'agentsecrets'],
    ]);
    expect(await exists(join(s.home, '.claude.json'))).toBe(false);
  });

  it('usage errors: --issue-token needs --agent, and does not go with --uninstall', async () => {
    const s = await sandbox();
    expect((await install(s, ['--client', 'cursor', '--issue-token'])).code).toBe(2);
    const both = await install(s, [
      '--client',
      'cursor',
      '--agent',
      'a',
      '--issue-token',
      '--uninstall',
    ]);
    expect(both.code).toBe(2);
  });
});

describe('configLocation (pure): documented paths per OS', () => {
  const mac = {
    platform: 'darwin' as const,
    env: { HOME: '/Users/ada' },
    homedir: '/x',
    cwd: '/Users/ada/proj',
  };
  const win = {
    platform: 'win32' as const,
    env: { USERPROFILE: 'C:\\Users\\ada', APPDATA: 'C:\\Users\\ada\\AppData\\Roaming' },
    homedir: 'C:\\x',
    cwd: 'C:\\work\\proj',
  };
  const linux = {
    platform: 'linux' as const,
    env: { HOME: '/home/ada' },
    homedir: '/x',
    cwd: '/home/ada/proj',
  };
  const file = (client: ClientId, scope: Scope, ctx: Parameters<typeof configLocation>[2]) => {
    const location = configLocation(client, scope, ctx);
    return location.kind === 'unsupported' ? location.reason : location.file;
  };

  it.each([
    [
      'claude-desktop',
      'user',
      mac,
      '/Users/ada/Library/Application Support/Claude/claude_desktop_config.json',
    ],
    [
      'claude-desktop',
      'user',
      win,
      'C:\\Users\\ada\\AppData\\Roaming\\Claude\\claude_desktop_config.json',
    ],
    ['claude-desktop', 'user', linux, '/home/ada/.config/Claude/claude_desktop_config.json'],
    ['cursor', 'user', mac, '/Users/ada/.cursor/mcp.json'],
    ['cursor', 'user', win, 'C:\\Users\\ada\\.cursor\\mcp.json'],
    ['cursor', 'project', win, 'C:\\work\\proj\\.cursor\\mcp.json'],
    ['vscode', 'user', mac, '/Users/ada/Library/Application Support/Code/User/mcp.json'],
    ['vscode', 'user', win, 'C:\\Users\\ada\\AppData\\Roaming\\Code\\User\\mcp.json'],
    ['vscode', 'user', linux, '/home/ada/.config/Code/User/mcp.json'],
    ['vscode', 'project', mac, '/Users/ada/proj/.vscode/mcp.json'],
    ['claude-code', 'project', linux, '/home/ada/proj/.mcp.json'],
    ['claude-code', 'user', mac, '/Users/ada/.claude.json'],
    ['windsurf', 'user', mac, '/Users/ada/.codeium/windsurf/mcp_config.json'],
    ['windsurf', 'user', win, 'C:\\Users\\ada\\.codeium\\windsurf\\mcp_config.json'],
    ['zed', 'user', mac, '/Users/ada/.config/zed/settings.json'],
    ['zed', 'user', linux, '/home/ada/.config/zed/settings.json'],
    ['zed', 'user', win, 'C:\\Users\\ada\\AppData\\Roaming\\Zed\\settings.json'],
    ['zed', 'project', linux, '/home/ada/proj/.zed/settings.json'],
    ['windsurf', 'project', mac, 'Windsurf has no project scope; use --scope user'],
    ['claude-desktop', 'project', win, 'Claude Desktop has no project scope; use --scope user'],
  ] as const)('%s %s on %s', (client, scope, ctx, expected) => {
    expect(file(client, scope, ctx)).toBe(expected);
  });

  it('XDG_CONFIG_HOME moves Linux user configs; APPDATA falls back to the profile', () => {
    expect(
      file('vscode', 'user', { ...linux, env: { HOME: '/home/ada', XDG_CONFIG_HOME: '/cfg' } }),
    ).toBe('/cfg/Code/User/mcp.json');
    expect(file('zed', 'user', { ...win, env: { USERPROFILE: 'C:\\Users\\bo' } })).toBe(
      'C:\\Users\\bo\\AppData\\Roaming\\Zed\\settings.json',
    );
    expect(file('cursor', 'user', { ...linux, env: {} })).toBe('/x/.cursor/mcp.json');
  });

  it('Claude Code user scope goes through its CLI, never a file edit', () => {
    expect(configLocation('claude-code', 'user', linux).kind).toBe('claude-cli');
  });
});

describe('mcp install --issue-token (human-gated)', () => {
  it('without a terminal exits 3 and changes nothing; at a terminal the token lands in env, unprinted', async () => {
    const s = await sandbox();
    const env = { HOME: s.home, PATH: s.bin, AGENTSECRETS_PASSPHRASE: PASSPHRASE };
    const cli = (args: string[]) => runCli(args, { home: s.state, cwd: s.cwd, env });
    expect((await cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'])).code).toBe(0);
    expect((await cli(['agent', 'create', 'billing'])).code).toBe(0);
    const { file, dir } = where(s, 'cursor', 'user');
    await mkdir(dir, { recursive: true });
    const before = '{"mcpServers":{"other":{"command":"x"}}}';
    await writeFile(file, before, { mode: 0o644 });
    const agentsBefore = await readFile(join(s.state, 'agents.json'), 'utf8');

    const refused = await install(s, [
      '--client',
      'cursor',
      '--agent',
      'billing',
      '--issue-token',
      '--yes',
    ]);
    expect(refused.code).toBe(3);
    expect(await readFile(file, 'utf8')).toBe(before);
    expect(await backups(file)).toEqual([]);
    expect(await readFile(join(s.state, 'agents.json'), 'utf8')).toBe(agentsBefore);

    // A missing agent is refused before anyone is asked.
    const unknown = await install(s, ['--client', 'cursor', '--agent', 'nobody', '--issue-token']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('nobody');

    // `script` is looked up on PATH; the explicit --client keeps `claude` out of it anyway.
    const human = await runCliInPty(
      ['mcp', 'install', '--client', 'cursor', '--agent', 'billing', '--issue-token', '--yes'],
      { home: s.state, cwd: s.cwd, env: { ...env, PATH: process.env.PATH ?? '' } },
    );
    expect(human.code, human.stdout).toBe(0);
    const config = await readConfig(file);
    const entry = config.mcpServers!.agentsecrets as {
      args: string[];
      env: Record<string, string>;
    };
    const token = entry.env.AGENTSECRETS_AGENT_TOKEN!;
    expect(token).toMatch(/^agt_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(entry.args).toEqual([CLI, 'mcp', 'serve', '--agent-id', 'billing']);
    expect(config.mcpServers!.other).toEqual({ command: 'x' });
    expect(human.stdout).not.toContain(token);
    expect(human.stdout).not.toContain(token.slice(4, 40));
    expect(human.stdout).toContain('identity credential');
    expect(human.stdout).toMatch(/token tok_\w+ \(label mcp:cursor\)/);
    // The file now holds a credential: owner-only. The backup is the old file, without it.
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const made = await backups(file);
    expect(made).toHaveLength(1);
    expect(await readFile(made[0]!, 'utf8')).toBe(before);
    // Only metadata is recorded.
    const agents = await readFile(join(s.state, 'agents.json'), 'utf8');
    expect(agents).not.toContain(token.slice(4, 40));
    const list = await cli(['agent', 'token', 'list', 'billing', '--json']);
    expect(JSON.parse(list.stdout)).toEqual([
      expect.objectContaining({ label: 'mcp:cursor', status: 'active' }),
    ]);
    // Uninstalling names the token that is still valid, never the token itself.
    const removed = await install(s, ['--client', 'cursor', '--uninstall']);
    expect(removed.code).toBe(0);
    expect(removed.stderr).toMatch(/token tok_\w+ .* still works/);
    expect(removed.stdout + removed.stderr).not.toContain(token.slice(4, 40));
  });
});

describe('mcp install --issue-token for Claude Code (user scope, via the claude CLI)', () => {
  it('keeps the token out of the argv of `claude`: it goes into a 0600 file', async () => {
    const s = await sandbox();
    const env = { HOME: s.home, PATH: s.bin, AGENTSECRETS_PASSPHRASE: PASSPHRASE };
    const cli = (args: string[]) => runCli(args, { home: s.state, cwd: s.cwd, env });
    expect((await cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'])).code).toBe(0);
    expect((await cli(['agent', 'create', 'coder'])).code).toBe(0);
    const log = join(s.bin, 'calls.log');
    await writeFile(join(s.bin, 'claude'), `#!/bin/sh\nprintf '%s\\n' "$@" >> '${log}'\n`, {
      mode: 0o755,
    });
    const human = await runCliInPty(
      ['mcp', 'install', '--client', 'claude-code', '--agent', 'coder', '--issue-token', '--yes'],
      { home: s.state, cwd: s.cwd, env: { ...env, PATH: `${s.bin}:${process.env.PATH ?? ''}` } },
    );
    expect(human.code, human.stdout).toBe(0);
    const argv = (await readFile(log, 'utf8')).trim().split('\n');
    const fileArg = argv.find((a) => a.startsWith('AGENTSECRETS_AGENT_TOKEN_FILE='));
    expect(fileArg).toBeDefined();
    expect(argv.some((a) => a.includes('agt_'))).toBe(false);
    const tokenFile = fileArg!.slice('AGENTSECRETS_AGENT_TOKEN_FILE='.length);
    expect(tokenFile.startsWith(join(s.state, 'tokens'))).toBe(true);
    expect((await stat(tokenFile)).mode & 0o777).toBe(0o600);
    const token = (await readFile(tokenFile, 'utf8')).trim();
    expect(token).toMatch(/^agt_/);
    expect(human.stdout).not.toContain(token.slice(4, 40));
  });
});

describe('examples/mcp', () => {
  it.each([
    ['claude-desktop.json', 'claude-desktop'],
    ['cursor.json', 'cursor'],
    ['vscode.json', 'vscode'],
    ['claude-code.mcp.json', 'claude-code'],
    ['windsurf.json', 'windsurf'],
    ['zed-settings.json', 'zed'],
  ] as const)('%s has the shape mcp install writes', async (name, client) => {
    const text = await readFile(new URL(`../../examples/mcp/${name}`, import.meta.url), 'utf8');
    const config = JSON.parse(text) as Record<string, Record<string, unknown>>;
    const { rootKey, typed } = CLIENTS[client];
    const entry = buildEntry({
      nodePath: '/usr/local/bin/node',
      cliPath: '/usr/local/lib/node_modules/agentsecrets/dist/src/cli/main.js',
      agent: client,
    });
    expect(config).toEqual({ [rootKey]: { agentsecrets: shapeEntry({ typed }, entry) } });
  });
});

describe('planInstall / planUninstall (pure)', () => {
  const target = { format: 'json' as const, rootKey: 'mcpServers' };
  const ours = { command: '/n', args: ['/c.js', 'mcp', 'serve'], env: { AGENTSECRETS_HOME: '/s' } };

  it('keeps what the user added to our entry (disabled, extra env, an earlier token)', () => {
    const before = {
      command: '/old/node',
      args: ['/old.js', 'mcp', 'serve'],
      env: { AGENTSECRETS_AGENT_TOKEN: 'agt_x.y.z', AGENTSECRETS_ENV: 'staging' },
      disabled: false,
    };
    const planned = planInstall(
      JSON.stringify({ mcpServers: { agentsecrets: before } }),
      target,
      ours,
    );
    expect(planned.ok && planned.value.action).toBe('update');
    expect(planned.ok && planned.value.after).toEqual({
      command: '/n',
      args: ['/c.js', 'mcp', 'serve'],
      env: {
        AGENTSECRETS_AGENT_TOKEN: 'agt_x.y.z',
        AGENTSECRETS_ENV: 'staging',
        AGENTSECRETS_HOME: '/s',
      },
      disabled: false,
    });
    const again = planInstall(planned.ok ? planned.value.text : '', target, ours);
    expect(again.ok && again.value.action).toBe('unchanged');
  });

  it.each([
    ['[1, 2]', /top level is not a JSON object/],
    ['{"mcpServers": []}', /"mcpServers" is not an object/],
    ['{"a": 1,}', /invalid JSON \(\w+\) at line 1, column \d+/],
    ['{"a": 1,} // a trailing comma is not JSON', /invalid JSON/],
  ])('refuses %s', (text, message) => {
    const planned = planInstall(text, target, ours);
    expect(planned.ok).toBe(false);
    expect(planned.ok ? '' : planned.failure.message).toMatch(message);
  });

  it('treats an empty file as an empty object, and uninstall of an absent entry as absent', () => {
    const planned = planInstall('  \n', target, ours);
    expect(planned.ok && JSON.parse(planned.value.text)).toEqual({
      mcpServers: { agentsecrets: ours },
    });
    const removed = planUninstall('{"mcpServers":{"x":{}}}', target);
    expect(removed.ok && removed.value.action).toBe('absent');
  });

  it('a server named __proto__ stays an ordinary key', () => {
    const planned = planInstall('{"mcpServers":{"__proto__":{"command":"x"}}}', target, ours);
    expect(planned.ok).toBe(true);
    const out = JSON.parse(planned.ok ? planned.value.text : '') as { mcpServers: object };
    expect(Object.keys(out.mcpServers)).toEqual(['__proto__', 'agentsecrets']);
  });

  it('tokenInfo reads the id and agent of a token without verifying it, and nothing else', () => {
    const payload = Buffer.from(JSON.stringify({ jti: 'tok_abc', name: 'billing' })).toString(
      'base64url',
    );
    expect(tokenInfo(`agt_e30.${payload}.sig`)).toEqual({ id: 'tok_abc', agent: 'billing' });
    expect(tokenInfo('ghp_notours')).toBeUndefined();
    expect(tokenInfo('agt_garbage')).toBeUndefined();
  });
});
