import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { canary, findLeaks, scanTree } from '../helpers/canary.js';
import { baseEnv, CLI, runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { echo, startUpstream } from '../helpers/upstream.js';

const PASSPHRASE = 'log-cli-passphrase';
const SECRET = canary('LOGCLI');

describe('the log commands (spawned CLI)', () => {
  let home: string;
  let exportDir: string;
  const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE, AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' };
  const cli = (args: string[], extra: Record<string, string | undefined> = {}) =>
    runCli(args, { home, env: { ...env, ...extra } });

  beforeAll(async () => {
    const upstream = await startUpstream(echo);
    home = join(await tempDir(), 'state');
    exportDir = await tempDir();
    expect((await cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'])).code).toBe(0);
    expect((await runCli(['secrets', 'set', 'API_KEY'], { home, env, input: SECRET })).code).toBe(
      0,
    );
    expect(
      (
        await runCliInPty(
          ['workspace', 'allowlist', 'add', `127.0.0.1:${upstream.port}`, '--yes'],
          { home, env },
        )
      ).code,
    ).toBe(0);
    // A proxy holds the vault, so it signs checkpoints; calls go through it.
    const proxy = spawn(process.execPath, [CLI, 'proxy', 'start', '--port', '0'], {
      env: baseEnv(home, env),
      stdio: 'ignore',
    });
    for (let i = 0; i < 200; i++) {
      if ((await readdir(home)).includes('proxy.json')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    for (let i = 0; i < 3; i++)
      expect(
        (
          await cli([
            'call',
            '--url',
            `${upstream.url}/ok/${i}`,
            '--bearer',
            'API_KEY',
            '--agent-id',
            'log-bot',
          ])
        ).code,
      ).toBe(0);
    expect(
      (await cli(['call', '--url', 'https://blocked.example.com/', '--bearer', 'API_KEY'])).code,
    ).toBe(1);
    proxy.kill('SIGTERM');
    await new Promise((r) => proxy.once('exit', r));
    await upstream.close();
  });

  it('log lists newest first and labels identities', async () => {
    const table = await cli(['log']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^\S+ \S+\s+\S+\s+log-bot\s+declared\s/m);
    expect(table.stdout).toContain('anonymous');
    const blocked = await cli(['log', '--status', 'BLOCKED', '--json']);
    expect((JSON.parse(blocked.stdout) as { domain: string }[]).map((e) => e.domain)).toEqual([
      'blocked.example.com',
    ]);
    const bad = await cli(['log', '--identity', 'verified']);
    expect(bad.code).toBe(2);
  });

  it('log show gives one entry, its place in the chain, and checks its hash', async () => {
    const [entry] = JSON.parse((await cli(['log', '--limit', '1', '--json'])).stdout) as {
      id: string;
    }[];
    const shown = await cli(['log', 'show', entry!.id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/position\s+seg-\d{6}-\d{8}\.jsonl, line \d+/);
    expect(shown.stdout).toContain('matches the entry');
    const missing = await cli(['log', 'show', 'evt_nope']);
    expect(missing.code).toBe(1);
  });

  it('log summary counts calls and blocks', async () => {
    const summary = JSON.parse((await cli(['log', 'summary', '--json'])).stdout) as {
      entries: number;
      byStatus: Record<string, number>;
      topBlockReasons: unknown[];
    };
    expect(summary.entries).toBe(4);
    expect(summary.byStatus).toEqual({ OK: 3, BLOCKED: 1 });
    expect(summary.topBlockReasons).toEqual([{ reason: 'domain_not_in_allowlist', count: 1 }]);
  });

  it('log export writes JSONL or CSV to a file, with no value in it', async () => {
    for (const format of ['jsonl', 'csv']) {
      const output = join(exportDir, `audit.${format}`);
      const result = await cli(['log', 'export', '--format', format, '--output', output]);
      expect(result.code).toBe(0);
      const text = await readFile(output, 'utf8');
      expect(text.trim().split('\n')).toHaveLength(format === 'csv' ? 5 : 4);
      expect(findLeaks(text, SECRET)).toEqual([]);
    }
    expect(await scanTree(home, SECRET)).toEqual([]);
  });

  it('log verify: intact, with the checkpoint signatures and head checked', async () => {
    const result = await cli(['log', 'verify', '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      ok: boolean;
      intact: boolean;
      entries: number;
      checkpoints: { matched: number; total: number; recordedHead: number | null };
      signatures_checked: boolean;
      head_checked: boolean;
      signing_key: string | null;
    };
    expect(report).toMatchObject({
      ok: true,
      intact: true,
      entries: 4,
      signatures_checked: true,
      head_checked: true,
    });
    expect(report.checkpoints.matched).toBeGreaterThan(0);
    // The key holder recorded its newest checkpoint in the vault.
    expect(report.checkpoints.recordedHead).toBe(report.checkpoints.total);
    expect(report.signing_key).toMatch(/^[0-9a-f]{16}$/);
  });

  it('log verify exits 4, not 0, when the vault cannot be opened to check the signatures', async () => {
    const locked = await cli(['log', 'verify'], { AGENTSECRETS_PASSPHRASE: undefined });
    expect(locked.code).toBe(4);
    expect(locked.stdout).toContain('NOT VERIFIED');
    expect(locked.stdout).toContain('signatures NOT checked');
    expect(locked.stderr).toContain('signatures were not checked');
    expect(locked.stderr).toContain('agentsecrets proxy start');
    const json = await cli(['log', 'verify', '--json'], { AGENTSECRETS_PASSPHRASE: undefined });
    expect(json.code).toBe(4);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: true,
      intact: false,
      signatures_checked: false,
      head_checked: false,
      unchecked: ['signatures', 'checkpoint_head'],
    });
  });

  it('log verify through a running key holder: no passphrase here, signatures and head checked', async () => {
    const proxy = spawn(process.execPath, [CLI, 'proxy', 'start', '--port', '0'], {
      env: baseEnv(home, env),
      stdio: 'ignore',
    });
    try {
      for (let i = 0; i < 200; i++) {
        if ((await readdir(home)).includes('proxy.json')) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const result = await cli(['log', 'verify', '--json'], { AGENTSECRETS_PASSPHRASE: undefined });
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({
        intact: true,
        signatures_checked: true,
        head_checked: true,
      });
    } finally {
      proxy.kill('SIGTERM');
      await new Promise((r) => proxy.once('exit', r));
    }
  });

  it('log verify exits 1 when checkpoints were deleted (the vault records the newest)', async () => {
    const path = join(home, 'audit', 'checkpoints.jsonl');
    const original = await readFile(path, 'utf8');
    try {
      for (const remaining of [original.split('\n').slice(0, -2).join('\n'), '']) {
        await writeFile(path, remaining === '' ? '' : `${remaining}\n`);
        const result = await cli(['log', 'verify']);
        expect(result.code).toBe(1);
        expect(result.stdout).toContain('BROKEN: checkpoints missing at checkpoints.jsonl');
      }
    } finally {
      await writeFile(path, original);
    }
    expect((await cli(['log', 'verify'])).code).toBe(0);
  });

  it('log verify exits 1 and names the place when an entry was edited', async () => {
    const [segment] = (await readdir(join(home, 'audit'))).filter((n) => n.startsWith('seg-'));
    const path = join(home, 'audit', segment!);
    const original = await readFile(path, 'utf8');
    const lines = original.split('\n');
    lines[1] = lines[1]!.replace('"agent_id":"log-bot"', '"agent_id":"someone"');
    await writeFile(path, lines.join('\n'));
    try {
      const result = await cli(['log', 'verify']);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(
        new RegExp(`BROKEN: hash mismatch at ${segment}, line 2, entry evt_`),
      );
    } finally {
      await writeFile(path, original);
    }
  });

  it('log prune is human-gated; --dry-run is not', async () => {
    const gated = await cli(['log', 'prune', '--before', '2099-01-01', '--yes']);
    expect(gated.code).toBe(3);
    const dry = await cli(['log', 'prune', '--before', '2099-01-01', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/nothing to prune|would remove/);
  });

  it('log watch follows entries written by another process', async () => {
    const watcher = spawn(process.execPath, [CLI, 'log', 'watch', '--json'], {
      env: baseEnv(home, env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    watcher.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    await new Promise((r) => setTimeout(r, 600));
    expect(
      (await cli(['call', '--url', 'https://watched.example.com/', '--bearer', 'API_KEY'])).code,
    ).toBe(1);
    for (let i = 0; i < 100 && !out.includes('watched.example.com'); i++)
      await new Promise((r) => setTimeout(r, 50));
    watcher.kill('SIGINT');
    await new Promise((r) => watcher.once('exit', r));
    expect(JSON.parse(out.trim().split('\n').at(-1)!)).toMatchObject({
      domain: 'watched.example.com',
      status: 'BLOCKED',
    });
  });
});
