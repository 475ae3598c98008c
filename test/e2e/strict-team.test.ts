import { type ChildProcess, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, findLeaks } from '../helpers/canary.js';
import { baseEnv, CLI, runCli, runCliInPty, shellQuote } from '../helpers/cli.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { json, ok, startTeamHarness, type TeamHarness, type User } from './team-sync-harness.js';

/**
 * Strict mode with a team workspace (issue 14): team sync keeps working, and the copy of the
 * admin-signed document that the engine reads (workspaces.json) is sealed like a local
 * workspace's rights. An agent of the same user that adds its own host to the team allowlist
 * in that file is first shown to succeed with strict mode off, then refused with it on.
 */

const PASSWORD = canary('PWTEAM');
const PASSPHRASE = `vault-${PASSWORD}`;
const SECRET = `sk_live_${canary('TEAMSTRICT')}`;

describe('strict mode in a team workspace', () => {
  let h: TeamHarness;
  let ada: User;
  let ups: Upstream[];
  let holder: ChildProcess | undefined;
  let holderOut = '';
  const outputs: string[] = [];
  const host = (u: Upstream) => `127.0.0.1:${u.port}`;
  /** Ada without the passphrase in her environment (strict mode refuses it there). */
  const noEnv = () => ({ ...ada.env, AGENTSECRETS_PASSPHRASE: undefined });
  const agent = async (args: string[]) => {
    const r = await runCli(args, { home: ada.home, cwd: ada.cwd, env: noEnv() });
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  const human = async (args: string[]) => {
    const r = await runCliInPty(args, {
      home: ada.home,
      cwd: ada.cwd,
      env: noEnv(),
      input: `${PASSPHRASE}\r`,
      timeoutMs: 60_000,
    });
    outputs.push(r.stdout);
    return r;
  };
  const callTo = (u: Upstream, path: string) =>
    agent(['call', '--url', `http://${host(u)}${path}`, '--bearer', 'STRIPE_KEY']);
  const valueSeenBy = (u: Upstream, from: number) =>
    findLeaks(JSON.stringify(u.seen.slice(from)), SECRET).length > 0;

  /** Edits the team workspace's allowlist in workspaces.json as an agent would. */
  async function addToTeamAllowlist(pattern: string): Promise<string> {
    const path = join(ada.home, 'workspaces.json');
    const before = await readFile(path, 'utf8');
    const doc = JSON.parse(before) as {
      workspaces: { kind: string; allowlist: { pattern: string }[] }[];
    };
    doc.workspaces
      .find((w) => w.kind === 'team')!
      .allowlist.push({ pattern, added_by: 'agent', added_at: '2026-01-01T00:00:00Z' } as never);
    await writeFile(path, JSON.stringify(doc));
    return before;
  }

  beforeAll(async () => {
    h = await startTeamHarness('file');
    ada = await h.user('ada@example.com', PASSWORD);
    ups = await Promise.all([startUpstream(), startUpstream(), startUpstream()]);
    ok(await ada.cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests']));
    ok(
      await ada.cli([
        'signup',
        '--server',
        h.url(),
        '--email',
        ada.email,
        '--weak-kdf-for-tests',
        '--json',
      ]),
    );
    json<{ id: string }>(await ada.cli(['workspace', 'create', 'acme', '--json']));
    ok(await ada.cli(['project', 'create', 'web']));
    ok(await ada.cli(['project', 'use', 'web', '--global']));
    ok(await ada.cli(['secrets', 'set', 'STRIPE_KEY'], SECRET));
    ok(await ada.cli(['secrets', 'push']));
    ok(await ada.pty(['workspace', 'allowlist', 'add', host(ups[0]!), '--yes']));
  }, 180_000);

  afterAll(async () => {
    holder?.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    holder?.kill('SIGKILL');
    await Promise.all(ups.map((u) => u.close()));
    await h.close();
  });

  it('strict mode off: an edited team allowlist in workspaces.json sends the value to the new host', async () => {
    const from = ups[1]!.seen.length;
    const before = await addToTeamAllowlist(host(ups[1]!));
    try {
      const r = await ada.cli([
        'call',
        '--url',
        `http://${host(ups[1]!)}/off`,
        '--bearer',
        'STRIPE_KEY',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expect(valueSeenBy(ups[1]!, from)).toBe(true);
    } finally {
      await writeFile(join(ada.home, 'workspaces.json'), before);
    }
  });

  it('strict mode on: team sync and calls keep working, through the key holder', async () => {
    const enabled = await human(['strict', 'enable']);
    expect(enabled.stdout).toContain('strict mode is on');
    // The key holder, started by the human at a terminal.
    const command = [process.execPath, CLI, 'proxy', 'start', '--port', '0']
      .map(shellQuote)
      .join(' ');
    holder = spawn('script', ['-qfec', command, '/dev/null'], {
      cwd: ada.cwd,
      env: baseEnv(ada.home, noEnv()),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    holder.stdin!.on('error', () => undefined);
    let typed = false;
    holder.stdout!.on('data', (c: Buffer) => {
      holderOut += c.toString('utf8');
      if (!typed && /: $/.test(holderOut)) {
        typed = true;
        holder!.stdin!.write(`${PASSPHRASE}\r`);
      }
    });
    for (let i = 0; i < 200 && !holderOut.includes('Press Ctrl-C'); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(holderOut).toContain('Press Ctrl-C');

    const from = ups[0]!.seen.length;
    const call = await callTo(ups[0]!, '/on');
    expect(call.code, call.stderr).toBe(0);
    expect(valueSeenBy(ups[0]!, from)).toBe(true);

    // The admin allowlists another host: signed, pushed, applied here and sealed.
    const added = await human(['workspace', 'allowlist', 'add', host(ups[2]!), '--yes']);
    expect(added.code, added.stdout).toBe(0);
    const status = json<{ key_holder: { tampered: string[] } }>(
      await agent(['strict', 'status', '--json']),
    );
    expect(status.key_holder.tampered).toEqual([]);
    const from2 = ups[2]!.seen.length;
    const second = await callTo(ups[2]!, '/added');
    expect(second.code, second.stderr).toBe(0);
    expect(valueSeenBy(ups[2]!, from2)).toBe(true);
    const pulled = await human(['secrets', 'pull']);
    expect(pulled.code, pulled.stdout).toBe(0);
  });

  it('strict mode on: the agent edit of the team allowlist is refused (state_tampered), nothing reaches its host', async () => {
    const from = ups[1]!.seen.length;
    const before = await addToTeamAllowlist(host(ups[1]!));
    try {
      const r = await callTo(ups[1]!, '/on');
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/domain_not_in_allowlist|state_tampered/);
      expect(valueSeenBy(ups[1]!, from)).toBe(false);
      const status = json<{ key_holder: { tampered: string[] } }>(
        await agent(['strict', 'status', '--json']),
      );
      expect(status.key_holder.tampered).toContain('workspaces.json');
    } finally {
      await writeFile(join(ada.home, 'workspaces.json'), before);
    }
  });

  it('no value in any output', () => {
    expect(findLeaks([...outputs, ...h.outputs, holderOut].join('\n'), SECRET)).toEqual([]);
  });
});
