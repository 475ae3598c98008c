import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parse as parseJsonc } from 'jsonc-parser';
import { describe, expect, it } from 'vitest';
import {
  type ClientId,
  configLocation,
  planMigration,
  type Scope,
  secretReason,
} from '../../src/clients/index.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { CLI, type CliResult, runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const PASSPHRASE = 'mcp-scan-passphrase';
const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** One unique value per credential; none of them may appear in any output. */
function canaries() {
  return {
    gh: `ghp_${hex(18)}`,
    ghWork: `ghp_${hex(18)}`,
    openai: `sk-proj-${hex(20)}`,
    password: canary('PW'),
    slack: `xoxb-${hex(6)}-${hex(10)}`,
    blob: `${randomBytes(24).toString('base64url')}7Q`,
    argToken: `glpat-${hex(10)}`,
    argKey: canary('ARGKEY'),
    bearer: canary('BEARER'),
    aws: `AKIA${hex(8).toUpperCase()}`,
    hf: `hf_${hex(16)}`,
    probe: canary('PROBE'),
    broken: canary('BROKEN'),
  };
}
type Canaries = ReturnType<typeof canaries>;

interface Sandbox {
  home: string;
  state: string;
  cwd: string;
  bin: string;
  c: Canaries;
}

function file(s: Sandbox, client: ClientId, scope: Scope): string {
  const location = configLocation(client, scope, {
    platform: process.platform,
    env: { HOME: s.home },
    homedir: s.home,
    cwd: s.cwd,
  });
  if (location.kind === 'unsupported') throw new Error(`${client} ${scope}`);
  return location.file;
}

async function put(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, text);
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** Client configs with canaries in several places, and configs that must not be flagged. */
async function sandbox(): Promise<Sandbox> {
  const root = await tempDir('agentsecrets-mcp-scan-');
  const s: Sandbox = {
    home: join(root, 'home'),
    state: join(root, 'state'),
    cwd: join(root, 'project'),
    bin: join(root, 'bin'),
    c: canaries(),
  };
  await Promise.all([mkdir(s.home), mkdir(s.cwd), mkdir(s.bin)]);
  const { c } = s;
  await put(
    file(s, 'cursor', 'user'),
    json({
      mcpServers: {
        github: {
          command: 'npx',
          args: ['-y', '@modelcontextprotocol/server-github'],
          env: { GITHUB_TOKEN: c.gh, NODE_ENV: 'production' },
        },
        'github-work': { command: 'npx', args: ['gh-mcp'], env: { GITHUB_TOKEN: c.ghWork } },
        openai: {
          command: 'uvx',
          args: ['openai-mcp', '--verbose'],
          env: { OPENAI_API_KEY: c.openai, MY_SERVICE_PASSWORD: c.password },
        },
      },
    }),
  );
  await put(
    file(s, 'claude-desktop', 'user'),
    json({
      globalShortcut: 'Ctrl+Space',
      mcpServers: {
        slack: {
          command: 'npx',
          args: ['-y', 'slack-mcp'],
          env: { SLACK_BOT_TOKEN: c.slack, CONFIG_BLOB: c.blob },
        },
        'cli-args': {
          command: 'some-server',
          args: [`--token=${c.argToken}`, '--api-key', c.argKey, '--port', '8080'],
        },
        probe: {
          command: process.execPath,
          args: ['-e', "process.stdout.write(String((process.env.PROBE_API_KEY || '').length))"],
          env: { PROBE_API_KEY: c.probe },
        },
      },
    }),
  );
  await put(
    file(s, 'vscode', 'user'),
    `{
  // VS Code reads comments here
  "inputs": [{ "type": "promptString", "id": "tok", "description": "token", "password": true }],
  "servers": {
    "remote": { "type": "http", "url": "https://mcp.example.com/mcp", "headers": { "Authorization": "Bearer ${c.bearer}" } },
    "prompted": { "type": "http", "url": "https://mcp.example.com/mcp", "headers": { "Authorization": "Bearer \${input:tok}" } },
    "innocent": {
      "type": "stdio",
      "command": "node",
      "args": ["server.js", "--token", "\${input:tok}"],
      "env": { "TOKEN": "\${input:tok}", "API_URL": "https://api.example.com", "NODE_ENV": "production" }
    }
  }
}
`,
  );
  await put(
    file(s, 'zed', 'project'),
    `// project settings
{
  "context_servers": {
    "docs": {
      "command": "docs-mcp",
      "args": ["--root", "/home/ada/docs"],
      "env": {
        "NODE_ENV": "production",
        "GITHUB_TOKEN": "\${env:GITHUB_TOKEN}",
        "TOKEN": "$TOKEN",
        "API_TOKEN": "\${API_TOKEN}",
        "DEBUG": "1",
        "MAX_TOKENS": "4096",
        "AUTH_MODE": "required",
        "HOME": "/home/ada",
        "GOOGLE_APPLICATION_CREDENTIALS": "/home/ada/.config/gcloud/key.json",
        "SESSION_ID": "123e4567-e89b-12d3-a456-426614174000",
      },
    },
  },
}
`,
  );
  await put(
    file(s, 'claude-code', 'project'),
    json({
      mcpServers: {
        aws: {
          type: 'stdio',
          command: 'aws-mcp',
          args: [],
          env: {
            AWS_ACCESS_KEY_ID: c.aws,
            AWS_REGION: 'us-east-1',
            AUTH_HEADER: 'Bearer ${API_TOKEN}',
          },
        },
      },
    }),
  );
  // Claude Code's own file: scanned, never rewritten.
  await put(
    join(s.home, '.claude.json'),
    json({ numStartups: 3, mcpServers: { hf: { command: 'hf-mcp', env: { HF_TOKEN: c.hf } } } }),
  );
  // Broken JSON holding a value: reported by file and position only.
  await put(file(s, 'windsurf', 'user'), `{"mcpServers": {"x": {"env": {"API_KEY": "${c.broken}"`);
  return s;
}

function cli(s: Sandbox, args: string[], extra: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, {
    home: s.state,
    cwd: s.cwd,
    env: { HOME: s.home, PATH: s.bin, AGENTSECRETS_PASSPHRASE: PASSPHRASE, ...extra },
  });
}

function expectNoLeak(s: Sandbox, text: string): void {
  for (const [name, value] of Object.entries(s.c)) {
    expect(findLeaks(text, value), `${name} leaked`).toEqual([]);
  }
}

interface Row {
  client: string;
  scope: string;
  server: string;
  kind: string;
  name: string;
  migratable: boolean;
  reason: string;
}

const EXPECTED = [
  ['cursor', 'user', 'github', 'env', 'GITHUB_TOKEN', true],
  ['cursor', 'user', 'github-work', 'env', 'GITHUB_TOKEN', true],
  ['cursor', 'user', 'openai', 'env', 'OPENAI_API_KEY', true],
  ['cursor', 'user', 'openai', 'env', 'MY_SERVICE_PASSWORD', true],
  ['claude-desktop', 'user', 'slack', 'env', 'SLACK_BOT_TOKEN', true],
  ['claude-desktop', 'user', 'slack', 'env', 'CONFIG_BLOB', true],
  ['claude-desktop', 'user', 'cli-args', 'arg', 'args[0]', false],
  ['claude-desktop', 'user', 'cli-args', 'arg', 'args[2]', false],
  ['claude-desktop', 'user', 'probe', 'env', 'PROBE_API_KEY', true],
  ['vscode', 'user', 'remote', 'header', 'Authorization', false],
  ['claude-code', 'user', 'hf', 'env', 'HF_TOKEN', false],
  ['claude-code', 'project', 'aws', 'env', 'AWS_ACCESS_KEY_ID', true],
] as const;

const key = (r: { client: string; server: string; kind: string; name: string }) =>
  `${r.client}/${r.server}/${r.kind}/${r.name}`;

describe('mcp scan', () => {
  it('reports credentials by client, server and variable, with no false positives and no values', async () => {
    const s = await sandbox();
    const result = await cli(s, ['mcp', 'scan', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const rows = JSON.parse(result.stdout) as Row[];
    expect(rows.map(key).sort()).toEqual(
      EXPECTED.map(([client, , server, kind, name]) => key({ client, server, kind, name })).sort(),
    );
    for (const [client, scope, server, kind, name, migratable] of EXPECTED) {
      const row = rows.find((r) => key(r) === key({ client, server, kind, name }))!;
      expect(row).toMatchObject({ scope, migratable });
      expect(Object.keys(row).sort()).toEqual(
        [
          'client',
          'file',
          'kind',
          'migratable',
          'name',
          'reason',
          'scope',
          'server',
          ...(migratable ? [] : ['note']),
        ].sort(),
      );
    }
    const reasons = Object.fromEntries(rows.map((r) => [key(r), r.reason]));
    expect(reasons['cursor/github/env/GITHUB_TOKEN']).toBe('known credential prefix');
    expect(reasons['cursor/openai/env/MY_SERVICE_PASSWORD']).toBe('credential-like name');
    expect(reasons['claude-desktop/slack/env/CONFIG_BLOB']).toBe('high-entropy value');
    // Nothing from the innocent configs (references, words, paths, numbers, UUIDs).
    expect(rows.some((r) => ['innocent', 'prompted', 'docs'].includes(r.server))).toBe(false);
    expect(rows.some((r) => r.name === 'AWS_REGION' || r.name === 'AUTH_HEADER')).toBe(false);
    // The broken file is named with a position; its content is not quoted.
    expect(result.stderr).toContain(file(s, 'windsurf', 'user'));
    expect(result.stderr).toMatch(/line 1, column \d+/);
    expectNoLeak(s, result.stdout + result.stderr);

    const human = await cli(s, ['mcp', 'scan']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('GITHUB_TOKEN');
    expect(human.stdout).toContain('12 plaintext credential(s) found; 8 can be moved');
    expectNoLeak(s, human.stdout + human.stderr);
  });

  it('a plain scan changes no file; --migrate without a terminal exits 3 and changes nothing', async () => {
    const s = await sandbox();
    const files = [
      file(s, 'cursor', 'user'),
      file(s, 'claude-desktop', 'user'),
      file(s, 'claude-code', 'project'),
    ];
    const before = await Promise.all(files.map((f) => readFile(f, 'utf8')));
    expect((await cli(s, ['mcp', 'scan'])).code).toBe(0);
    const refused = await cli(s, ['mcp', 'scan', '--migrate', '--yes']);
    expect(refused.code).toBe(3);
    expectNoLeak(s, refused.stdout + refused.stderr);
    expect(await Promise.all(files.map((f) => readFile(f, 'utf8')))).toEqual(before);
    for (const f of files) {
      expect((await readdir(dirname(f))).filter((n) => n.includes('.bak-'))).toEqual([]);
    }
  });

  it('--migrate at a terminal moves the values into the vault and runs those servers through env', async () => {
    const s = await sandbox();
    const { c } = s;
    expect((await cli(s, ['init', '--backend', 'passphrase', '--weak-kdf-for-tests'])).code).toBe(
      0,
    );
    const migrated = await runCliInPty(['mcp', 'scan', '--migrate', '--yes'], {
      home: s.state,
      cwd: s.cwd,
      env: { HOME: s.home, AGENTSECRETS_PASSPHRASE: PASSPHRASE, PATH: process.env.PATH ?? '' },
    });
    expect(migrated.code, migrated.stdout).toBe(0);
    expectNoLeak(s, migrated.stdout);
    expect(migrated.stdout).toContain('moved 7 value(s) from 5 server(s)');
    expect(migrated.stdout).toMatch(
      /skipped github-work GITHUB_TOKEN: GITHUB_TOKEN already holds a different value/,
    );
    expect(migrated.stdout).toContain('still holds the old plaintext value(s)');

    // The vault has each value under its variable name: checked by length, never by value.
    const names = [
      'GITHUB_TOKEN',
      'OPENAI_API_KEY',
      'MY_SERVICE_PASSWORD',
      'SLACK_BOT_TOKEN',
      'CONFIG_BLOB',
      'PROBE_API_KEY',
      'AWS_ACCESS_KEY_ID',
    ];
    const lengths = await cli(s, [
      'env',
      '--only',
      names.join(','),
      '--',
      process.execPath,
      '-e',
      `process.stdout.write(JSON.stringify(${JSON.stringify(names)}.map((n) => (process.env[n] || '').length)))`,
    ]);
    expect(lengths.code, lengths.stderr).toBe(0);
    expect(JSON.parse(lengths.stdout)).toEqual(
      [c.gh, c.openai, c.password, c.slack, c.blob, c.probe, c.aws].map((v) => v.length),
    );
    const listed = JSON.parse((await cli(s, ['secrets', 'list', '--json'])).stdout) as {
      key: string;
    }[];
    expect(listed.map((r) => r.key).sort()).toEqual([...names].sort());

    // The entries run through `agentsecrets env --only …` and no longer hold the values.
    const cursorFile = file(s, 'cursor', 'user');
    const cursor = JSON.parse(await readFile(cursorFile, 'utf8')) as {
      mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }>;
    };
    expect(cursor.mcpServers.github).toEqual({
      command: process.execPath,
      args: [
        CLI,
        'env',
        '--project',
        expect.any(String),
        '--env',
        'development',
        '--only',
        'GITHUB_TOKEN',
        '--',
        'npx',
        '-y',
        '@modelcontextprotocol/server-github',
      ],
      env: { NODE_ENV: 'production', AGENTSECRETS_HOME: s.state },
    });
    expect(cursor.mcpServers.openai!.args).toContain('OPENAI_API_KEY,MY_SERVICE_PASSWORD');
    expect(cursor.mcpServers.openai!.env).toEqual({ AGENTSECRETS_HOME: s.state });
    // The conflicting one was left alone.
    expect(cursor.mcpServers['github-work']).toEqual({
      command: 'npx',
      args: ['gh-mcp'],
      env: { GITHUB_TOKEN: c.ghWork },
    });

    const moved = [c.gh, c.openai, c.password, c.slack, c.blob, c.probe, c.aws];
    for (const f of [
      cursorFile,
      file(s, 'claude-desktop', 'user'),
      file(s, 'claude-code', 'project'),
    ]) {
      const text = await readFile(f, 'utf8');
      for (const value of moved) expect(findLeaks(text, value)).toEqual([]);
      // Each rewritten file has one backup: owner-only, still holding the old plaintext.
      const made = (await readdir(dirname(f))).filter((n) =>
        n.startsWith(`${f.slice(dirname(f).length + 1)}.bak-`),
      );
      expect(made).toHaveLength(1);
      const backup = join(dirname(f), made[0]!);
      expect((await stat(backup)).mode & 0o777).toBe(0o600);
      expect(migrated.stdout).toContain(backup);
      const kept = await readFile(backup, 'utf8');
      expect(moved.some((value) => findLeaks(kept, value).length > 0)).toBe(true);
    }
    // Claude Desktop's other keys survive; Claude Code's own file is untouched.
    const desktop = JSON.parse(await readFile(file(s, 'claude-desktop', 'user'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(desktop.globalShortcut).toBe('Ctrl+Space');
    expect(await readFile(join(s.home, '.claude.json'), 'utf8')).toContain(c.hf);

    // Run a rewritten entry the way a client would: it gets its value from the vault.
    const probe = (
      desktop.mcpServers as Record<
        string,
        { command: string; args: string[]; env: Record<string, string> }
      >
    ).probe!;
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(probe.command, probe.args, {
        cwd: s.home,
        env: {
          PATH: process.env.PATH,
          HOME: s.home,
          AGENTSECRETS_PASSPHRASE: PASSPHRASE,
          ...probe.env,
        },
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('close', () => resolve(out));
    });
    expect(output).toBe(String(c.probe.length));

    // A second scan sees the migrated servers as ours; only what needs a hand is left.
    const again = JSON.parse((await cli(s, ['mcp', 'scan', '--json'])).stdout) as Row[];
    expect(again.filter((r) => r.migratable).map(key)).toEqual([
      'cursor/github-work/env/GITHUB_TOKEN',
    ]);
  });
});

describe('secretReason (pure)', () => {
  it.each([
    ['GITHUB_TOKEN', `ghp_${'a1'.repeat(10)}`, 'known credential prefix'],
    ['X', `github_pat_${'B2'.repeat(12)}`, 'known credential prefix'],
    ['X', `sk_live_${'c3'.repeat(8)}`, 'known credential prefix'],
    ['X', `sk-ant-api03-${'d4'.repeat(10)}`, 'known credential prefix'],
    ['X', `xoxp-${'5'.repeat(10)}-abc`, 'known credential prefix'],
    ['X', 'AKIAABCDEFGHIJKLMNOP', 'known credential prefix'],
    ['X', `AIza${'e5'.repeat(10)}`, 'known credential prefix'],
    ['X', `SG.${'f6'.repeat(10)}`, 'known credential prefix'],
    ['X', `npm_${'g7'.repeat(10)}`, 'known credential prefix'],
    ['X', `pypi-${'h8'.repeat(10)}`, 'known credential prefix'],
    ['X', `shpat_${'i9'.repeat(10)}`, 'known credential prefix'],
    ['Authorization', `Bearer ${'j0'.repeat(10)}`, 'known credential prefix'],
    ['DB_PASSWORD', 'hunter2hunter2', 'credential-like name'],
    ['apiKey', 'abcdefgh12', 'credential-like name'],
    ['STRIPE_KEY', 'Zx9-abcdefgh', 'credential-like name'],
    ['DATABASE_URL', 'postgres://app:s3cretpw@db.example.com/app', 'password in URL'],
    ['BLOB', 'Qm9vdHN0cmFwMTIzNDU2Nzg5MGFiY2RlZg9', 'high-entropy value'],
  ] as const)('%s=%s → %s', (name, value, reason) => {
    expect(secretReason(name, value)).toBe(reason);
  });

  it.each([
    ['NODE_ENV', 'production'],
    ['TOKEN', '${env:TOKEN}'],
    ['TOKEN', '${input:tok}'],
    ['GITHUB_TOKEN', '${GITHUB_TOKEN}'],
    ['GITHUB_TOKEN', '$GITHUB_TOKEN'],
    ['Authorization', 'Bearer ${env:API_TOKEN}'],
    ['API_URL', 'https://api.example.com/v1'],
    ['API_KEY', 'short'],
    ['MAX_TOKENS', '4096'],
    ['AUTH_MODE', 'required'],
    ['KEY_FILE', '/home/ada/.ssh/id_ed25519'],
    ['GOOGLE_APPLICATION_CREDENTIALS', 'C:\\keys\\sa.json'],
    ['REQUEST_ID', '123e4567-e89b-12d3-a456-426614174000'],
    ['KEYBOARD_LAYOUT', 'dvorak-programmer'],
    ['AGENTSECRETS_AGENT_TOKEN', 'agt_eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ0b2sifQ.c2ln'],
    ['Authorization', 'Bearer agt_eyJhbGciOiJFZERTQSJ9.eyJqdGkiOiJ0b2sifQ.c2ln'],
    ['DATABASE_URL', 'postgres://app:${env:DB_PW}@db.example.com/app'],
  ])('%s=%s is not flagged', (name, value) => {
    expect(secretReason(name, value)).toBeUndefined();
  });
});

describe('planMigration (pure)', () => {
  it('produces examples/mcp/migrated-server.json from a server with a plaintext token', async () => {
    const before = JSON.stringify({
      mcpServers: {
        github: {
          command: 'npx',
          args: ['-y', '@modelcontextprotocol/server-github'],
          env: { GITHUB_PERSONAL_ACCESS_TOKEN: `ghp_${hex(18)}` },
        },
      },
    });
    const planned = planMigration(
      before,
      { format: 'json', rootKey: 'mcpServers' },
      'github',
      ['GITHUB_PERSONAL_ACCESS_TOKEN'],
      {
        nodePath: '/usr/local/bin/node',
        cliPath: '/usr/local/lib/node_modules/agentsecrets/dist/src/cli/main.js',
        project: 'my-app',
        environment: 'development',
      },
    );
    expect(planned.ok).toBe(true);
    const example = await readFile(
      new URL('../../examples/mcp/migrated-server.json', import.meta.url),
      'utf8',
    );
    expect(JSON.parse(planned.ok ? planned.value : '')).toEqual(JSON.parse(example));
  });

  it('keeps comments when it rewrites a JSONC server', () => {
    const before = `{
  // mine
  "servers": { "s": { "command": "x", "env": { "A_TOKEN": "v", "KEEP": "1" } } }
}
`;
    const planned = planMigration(
      before,
      { format: 'jsonc', rootKey: 'servers' },
      's',
      ['A_TOKEN'],
      {
        nodePath: '/n',
        cliPath: '/c.js',
        project: 'p',
        environment: 'staging',
        home: '/state',
      },
    );
    expect(planned.ok).toBe(true);
    const text = planned.ok ? planned.value : '';
    expect(text).toContain('// mine');
    expect(parseJsonc(text)).toEqual({
      servers: {
        s: {
          command: '/n',
          args: [
            '/c.js',
            'env',
            '--project',
            'p',
            '--env',
            'staging',
            '--only',
            'A_TOKEN',
            '--',
            'x',
          ],
          env: { KEEP: '1', AGENTSECRETS_HOME: '/state' },
        },
      },
    });
  });
});
