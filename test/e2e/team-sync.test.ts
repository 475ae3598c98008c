import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config.js';
import { parseSecretKey } from '../../src/crypto/secret-key.js';
import { loadSodium } from '../../src/crypto/sodium.js';
import { createServices } from '../../src/services/index.js';
import { ACCOUNT_SCOPE, openAccount } from '../../src/sync/account.js';
import { decodeAccountSecrets, decryptTeamRecord } from '../../src/sync/crypto.js';
import { remoteRecord } from '../../src/sync/wire.js';
import * as z from 'zod';
import { canary, findLeaks, scanTree } from '../helpers/canary.js';
import { baseEnv, CLI, type CliResult, runCli, runCliInPty } from '../helpers/cli.js';
import { dumpDatabase, freshDatabase, postgresUnavailable } from '../helpers/postgres.js';
import { type Daemon, startDaemon } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';

/**
 * Two users with separate state folders and one sync server (the built binary, spawned),
 * on the file store and on PostgreSQL: the team scenario of the sync issue end to end, then
 * what a server operator can try, and a scan of everything the server holds.
 */

const pgMissing = await postgresUnavailable();

interface User {
  email: string;
  home: string;
  cwd: string;
  env: Record<string, string>;
  cli(args: string[], input?: string): Promise<CliResult>;
  pty(args: string[]): Promise<CliResult>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function ok(r: CliResult): CliResult {
  expect(r.code, r.stderr + r.stdout).toBe(0);
  return r;
}

function json<T>(r: CliResult): T {
  expect(r.code, r.stderr + r.stdout).toBe(0);
  return JSON.parse(r.stdout) as T;
}

/** Opens a user's vault in this process (as the CLI does), for what only the user holds. */
async function openHome(user: User) {
  const config = loadConfig({ ...user.env, AGENTSECRETS_HOME: user.home }, user.cwd);
  const services = createServices(config, {
    passphrase: {
      forUnlock: async () => user.env.AGENTSECRETS_PASSPHRASE!,
      forCreate: async () => user.env.AGENTSECRETS_PASSPHRASE!,
    },
  });
  return { services, vault: await services.vault.unlock() };
}

describe.each(['file', 'postgres'] as const)(
  'team sync, two users, one server (%s store)',
  (kind) => {
    const skip = kind === 'postgres' && pgMissing !== undefined;
    const SECRET = canary('TEAM');
    const SECRET_2 = canary('OTHER');
    const SECRET_3 = canary('NEWER');
    const passwords = [canary('PWA'), canary('PWB')];
    let upstream: Upstream;
    let serverHome: string;
    let port: number;
    let server: Daemon<string>;
    let db: { url: string; drop(): Promise<void> } | undefined;
    let a: User;
    let b: User;
    let proxy: Daemon<{ port: number; session_token: string }> | undefined;
    const outputs: string[] = [];
    let workspaceId: string;
    let inviteCode: string;

    async function startServer(): Promise<void> {
      const args = [
        'server',
        'start',
        '--port',
        String(port),
        '--store',
        kind,
        '--signup',
        'invite',
      ];
      if (db !== undefined) args.push('--database-url', db.url);
      server = await startDaemon(
        args,
        { home: serverHome },
        (out) => /sync server on (http:\/\/\S+)/.exec(out)?.[1],
      );
    }
    async function stopServer(): Promise<void> {
      outputs.push(server.output());
      await server.stop();
    }

    async function user(email: string, password: string): Promise<User> {
      const home = join(await tempDir(), 'state');
      const cwd = await tempDir();
      const env = {
        AGENTSECRETS_PASSPHRASE: `vault-${password}`,
        AGENTSECRETS_PASSWORD: password,
        AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
        AGENTSECRETS_SYNC_INTERVAL_MS: '300',
        AGENTSECRETS_SYNC_MAX_STALENESS: '3',
      };
      const record = (r: CliResult) => {
        outputs.push(r.stdout, r.stderr);
        return r;
      };
      return {
        email,
        home,
        cwd,
        env,
        cli: async (args, input) => record(await runCli(args, { home, cwd, env, input })),
        pty: async (args) => record(await runCliInPty(args, { home, cwd, env })),
      };
    }

    beforeAll(async () => {
      if (skip) return;
      upstream = await startUpstream(echo);
      serverHome = await tempDir();
      port = await freePort();
      if (kind === 'postgres') db = await freshDatabase();
      await startServer();
      a = await user('ada@example.com', passwords[0]!);
      b = await user('bob@example.com', passwords[1]!);
    });
    afterAll(async () => {
      if (skip) return;
      await proxy?.stop();
      await server?.stop();
      await upstream.close();
      await db?.drop();
    });

    const serverUrl = () => `http://127.0.0.1:${port}`;

    it.skipIf(skip)(
      'A creates a workspace and a project, pushes secrets and invites B',
      async () => {
        expect(
          (await a.cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'])).code,
        ).toBe(0);
        const signed = json<{ email: string }>(
          await a.cli([
            'signup',
            '--server',
            serverUrl(),
            '--email',
            a.email,
            '--weak-kdf-for-tests',
            '--json',
          ]),
        );
        expect(signed.email).toBe(a.email);
        workspaceId = json<{ id: string }>(
          await a.cli(['workspace', 'create', 'acme', '--json']),
        ).id;
        ok(await a.cli(['project', 'create', 'web']));
        ok(await a.cli(['project', 'use', 'web', '--global']));
        ok(await a.cli(['secrets', 'set', 'STRIPE_KEY'], SECRET));
        ok(await a.cli(['secrets', 'set', 'OTHER_KEY'], SECRET_2));
        const pushed = json<{ pushed: string[] }>(await a.cli(['secrets', 'push', '--json']));
        expect(pushed.pushed.sort()).toEqual(['OTHER_KEY', 'STRIPE_KEY']);
        const allow = await a.pty([
          'workspace',
          'allowlist',
          'add',
          `127.0.0.1:${upstream.port}`,
          '--yes',
        ]);
        expect(allow.code, allow.stdout).toBe(0);
        const invited = json<{ status: string; invite_code: string }>(
          await a.cli(['workspace', 'invite', b.email, '--json']),
        );
        expect(invited.status).toBe('invited');
        inviteCode = invited.invite_code;
      },
    );

    it.skipIf(skip)(
      'B signs up, A confirms B by fingerprint, B pulls and makes an injected call',
      async () => {
        expect(
          (await b.cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'])).code,
        ).toBe(0);
        const signed = json<{ fingerprint: string }>(
          await b.cli([
            'signup',
            '--server',
            serverUrl(),
            '--email',
            b.email,
            '--invite',
            inviteCode,
            '--weak-kdf-for-tests',
            '--json',
          ]),
        );
        const early = await b.cli(['workspace', 'switch', 'acme']);
        expect(early.code).toBe(1);
        expect(early.stderr).toMatch(/not confirmed you yet/);
        const members = json<{ members: { email: string; status: string; fingerprint: string }[] }>(
          await a.cli(['workspace', 'members', '--json']),
        );
        expect(members.members.find((m) => m.email === b.email)).toMatchObject({
          status: 'pending',
          fingerprint: signed.fingerprint,
        });
        const confirmed = await a.pty([
          'workspace',
          'confirm',
          b.email,
          '--fingerprint',
          signed.fingerprint.replace(/ /g, '').slice(0, 8),
        ]);
        expect(confirmed.code, confirmed.stdout).toBe(0);
        expect(confirmed.stdout).toContain(signed.fingerprint);
        const joined = json<{ role: string }>(
          await b.cli(['workspace', 'switch', 'acme', '--json']),
        );
        expect(joined.role).toBe('member');
        ok(await b.cli(['project', 'use', 'web', '--global']));
        const pulled = json<{ pulled: string[] }>(await b.cli(['secrets', 'pull', '--json']));
        expect(pulled.pulled.sort()).toEqual(['OTHER_KEY', 'STRIPE_KEY']);
        const diff = json<{ keys: { state: string }[] }>(
          await b.cli(['secrets', 'diff', '--json']),
        );
        expect(diff.keys.map((k) => k.state)).toEqual(['in_sync', 'in_sync']);
        const call = await b.cli([
          'call',
          '--url',
          `${upstream.url}/charge`,
          '--bearer',
          'STRIPE_KEY',
        ]);
        expect(call.code, call.stderr).toBe(0);
        expect(upstream.seen.at(-1)!.headers.authorization).toBe(`Bearer ${SECRET}`);
        expect(findLeaks(call.stdout + call.stderr, SECRET)).toEqual([]);
      },
    );

    it.skipIf(skip)('B, a member, is refused allowlist, role and member changes', async () => {
      const allow = await b.pty(['workspace', 'allowlist', 'add', 'evil.example.com', '--yes']);
      expect(allow.code).not.toBe(0);
      expect(allow.stdout).toMatch(/only an admin/);
      const promote = await b.pty(['workspace', 'promote', b.email, '--yes']);
      expect(promote.code).not.toBe(0);
      const agent = await b.cli(['agent', 'create', 'rogue']);
      expect(agent.code).not.toBe(0);
      const list = json<{ pattern: string }[]>(
        await b.cli(['workspace', 'allowlist', 'list', '--json']),
      );
      expect(list.map((e) => e.pattern)).toEqual([`127.0.0.1:${upstream.port}`]);
    });

    async function callThroughProxy(token: string) {
      const response = await fetch(`http://127.0.0.1:${proxy!.ready.port}/proxy`, {
        method: 'GET',
        headers: {
          'x-as-session-token': proxy!.ready.session_token,
          'x-as-target-url': `${upstream.url}/agent`,
          'x-as-inject-bearer': 'STRIPE_KEY',
          'x-as-agent-token': token,
        },
      });
      const text = await response.text();
      outputs.push(text);
      return { status: response.status, text };
    }

    async function issue(name: string): Promise<string> {
      const issued = await a.pty(['agent', 'token', 'issue', name, '--yes']);
      expect(issued.code, issued.stdout).toBe(0);
      return issued.stdout.split(/\r?\n/)[0]!.trim();
    }

    let liveToken: string;
    it.skipIf(skip)(
      "A's token works through B's proxy; after A revokes it B refuses within 5 s",
      async () => {
        ok(await a.cli(['agent', 'create', 'billing-bot']));
        const token = await issue('billing-bot');
        liveToken = await issue('billing-bot');
        proxy = await startDaemon(
          ['proxy', 'start', '--port', '0'],
          { home: b.home, cwd: b.cwd, env: b.env },
          async () => {
            const text = await readFile(join(b.home, 'proxy.json'), 'utf8').catch(() => undefined);
            return text === undefined
              ? undefined
              : (JSON.parse(text) as { port: number; session_token: string });
          },
        );
        let first = await callThroughProxy(token);
        for (let i = 0; i < 50 && first.status !== 200; i++) first = await callThroughProxy(token);
        expect(first.status, first.text).toBe(200);
        expect(first.text).not.toContain(SECRET);
        const tokens = json<{ id: string; status: string }[]>(
          await a.cli(['agent', 'token', 'list', 'billing-bot', '--json']),
        );
        const revoke = await a.pty([
          'agent',
          'token',
          'revoke',
          tokens[0]!.id,
          '--agent',
          'billing-bot',
          '--yes',
        ]);
        expect(revoke.code, revoke.stdout).toBe(0);
        const revokedAt = performance.now();
        let refused: { status: number; text: string } | undefined;
        while (performance.now() - revokedAt < 10_000) {
          const r = await callThroughProxy(token);
          if (r.status !== 200) {
            refused = r;
            break;
          }
          await sleep(100);
        }
        const elapsed = performance.now() - revokedAt;
        expect(refused?.status).toBe(403);
        expect(refused?.text).toContain('token_revoked');
        // The issue's bound; the poll interval here is 300 ms. Not a timing benchmark: a bound.
        expect(elapsed).toBeLessThan(5000);
        expect((await callThroughProxy(liveToken)).status).toBe(200);
      },
    );

    it.skipIf(skip)(
      'a push over a newer remote version is refused, names the key, and --force overwrites',
      async () => {
        ok(await a.cli(['secrets', 'set', 'STRIPE_KEY'], SECRET_3));
        ok(await a.cli(['secrets', 'push']));
        ok(await b.cli(['secrets', 'set', 'STRIPE_KEY'], `${SECRET_3}-b`));
        const refused = await b.cli(['secrets', 'push']);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(/newer versions of STRIPE_KEY/);
        const diff = json<{ keys: { key: string; state: string; newer: string }[] }>(
          await b.cli(['secrets', 'diff', '--json']),
        );
        expect(diff.keys.find((k) => k.key === 'STRIPE_KEY')).toMatchObject({
          state: 'out_of_sync',
          newer: 'both',
        });
        const pulled = await b.cli(['secrets', 'pull', '--json']);
        expect(pulled.code).toBe(1);
        expect(JSON.parse(pulled.stdout).conflicts).toEqual(['STRIPE_KEY']);
        ok(await b.cli(['secrets', 'push', '--force']));
        const after = json<{ keys: { key: string; state: string; newer: string | null }[] }>(
          await a.cli(['secrets', 'diff', '--json']),
        );
        expect(after.keys.find((k) => k.key === 'STRIPE_KEY')).toMatchObject({
          state: 'out_of_sync',
          newer: 'remote',
        });
        ok(await a.cli(['secrets', 'pull']));
      },
    );

    it.skipIf(skip)(
      'the MCP diff and pull tools use the same sync service, without values',
      async () => {
        ok(await a.cli(['secrets', 'set', 'MCP_KEY'], SECRET_2));
        ok(await a.cli(['secrets', 'push']));
        const transport = new StdioClientTransport({
          command: process.execPath,
          args: [CLI, 'mcp', 'serve', '--agent-id', 'bob-desktop'],
          cwd: b.cwd,
          env: { ...baseEnv(b.home, b.env) } as Record<string, string>,
          stderr: 'pipe',
        });
        const client = new Client({ name: 'team-sync-test', version: '1.0.0' });
        await client.connect(transport);
        try {
          const tool = async (name: string) => {
            const r = (await client.callTool({ name, arguments: {} })) as {
              isError?: boolean;
              structuredContent?: Record<string, unknown>;
            };
            outputs.push(JSON.stringify(r));
            expect(r.isError, JSON.stringify(r)).toBeFalsy();
            return r.structuredContent!;
          };
          const before = (await tool('diff')) as { keys: { key: string; state: string }[] };
          expect(before.keys.find((k) => k.key === 'MCP_KEY')?.state).toBe('remote_only');
          const pulled = await tool('pull');
          expect(pulled.pulled).toContain('MCP_KEY');
          const after = (await tool('diff')) as { keys: { key: string; state: string }[] };
          expect(after.keys.find((k) => k.key === 'MCP_KEY')?.state).toBe('in_sync');
        } finally {
          await client.close();
        }
        for (const value of [SECRET, SECRET_2, SECRET_3])
          expect(findLeaks(outputs.slice(-3).join('\n'), value)).toEqual([]);
      },
    );

    it.skipIf(skip)(
      'with the server down past the staleness limit, issued tokens fail closed',
      async () => {
        await stopServer();
        await sleep(3500);
        const stale = await callThroughProxy(liveToken);
        expect(stale.status).toBe(503);
        expect(stale.text).toContain('sync_stale');
        await startServer();
        let back = await callThroughProxy(liveToken);
        for (let i = 0; i < 50 && back.status !== 200; i++) {
          await sleep(100);
          back = await callThroughProxy(liveToken);
        }
        expect(back.status).toBe(200);
      },
    );

    /** Edits the store as an operator would: the file store offline, PostgreSQL live. */
    async function tamper(edit: {
      doc?: (body: string) => string;
      seqDelta?: number;
      swap?: [string, string];
    }): Promise<void> {
      const seqDelta = edit.seqDelta ?? 1;
      if (kind === 'postgres') {
        const client = new pg.Client({ connectionString: db!.url });
        await client.connect();
        if (edit.doc) {
          const { rows } = await client.query<{ body: string }>(
            'SELECT body FROM docs WHERE workspace_id = $1',
            [workspaceId],
          );
          await client.query('UPDATE docs SET body = $1, seq = seq + $3 WHERE workspace_id = $2', [
            edit.doc(rows[0]!.body),
            workspaceId,
            seqDelta,
          ]);
        }
        if (edit.swap) {
          const [x, y] = edit.swap;
          await client.query(
            `UPDATE records r SET nonce = o.nonce, ciphertext = o.ciphertext
             FROM records o
            WHERE r.workspace_id = $1 AND o.workspace_id = $1
              AND r.project_id = o.project_id AND r.environment = o.environment
              AND ((r.key = $2 AND o.key = $3) OR (r.key = $3 AND o.key = $2))`,
            [workspaceId, x, y],
          );
        }
        await client.end();
        return;
      }
      await stopServer();
      const path = join(serverHome, 'server', 'store.json');
      const store = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      walk(store, (node) => {
        if (
          edit.doc &&
          typeof node.body === 'string' &&
          node.workspace_id === workspaceId &&
          typeof node.seq === 'number' &&
          node.project_id === undefined // documents, not push manifests
        ) {
          node.body = edit.doc(node.body);
          node.seq = node.seq + seqDelta;
        }
      });
      if (edit.swap) {
        // The file store keeps records per scope as tuples: [key, version, epoch, nonce, ciphertext, …].
        const scopes = (store.records as { workspace_id: string; records: unknown[][] }[]).filter(
          (scope) => scope.workspace_id === workspaceId,
        );
        const found = scopes
          .flatMap((scope) => scope.records)
          .filter((r) => edit.swap!.includes(r[0] as string));
        expect(found).toHaveLength(2);
        const [x, y] = found as [unknown[], unknown[]];
        [x[3], y[3], x[4], y[4]] = [y[3], x[3], y[4], x[4]];
      }
      await writeFile(path, JSON.stringify(store));
      await startServer();
    }

    it.skipIf(skip)(
      'an operator who edits the signed document in the store is caught',
      async () => {
        let original = '';
        await tamper({
          doc: (body) => {
            original = body;
            const doc = JSON.parse(body) as { seq: number; allowlist: unknown[] };
            doc.seq += 1;
            doc.allowlist.push({
              pattern: 'evil.example.com',
              added_by: 'operator',
              added_at: new Date().toISOString(),
            });
            return JSON.stringify(doc);
          },
        });
        const sync = await b.cli(['proxy', 'sync', '--json']);
        const report = JSON.parse(sync.stdout) as { workspaces: { ok: boolean; error?: string }[] };
        expect(report.workspaces[0]).toMatchObject({ ok: false });
        expect(report.workspaces[0]!.error).toMatch(/signature .*does not verify|does not follow/);
        const list = json<{ pattern: string }[]>(
          await b.cli(['workspace', 'allowlist', 'list', '--json']),
        );
        expect(list.map((e) => e.pattern)).not.toContain('evil.example.com');
        // The operator puts it back; the signed original verifies again.
        await tamper({ doc: () => original, seqDelta: -1 });
        const again = json<{ workspaces: { ok: boolean }[] }>(
          await b.cli(['proxy', 'sync', '--json']),
        );
        expect(again.workspaces[0]).toMatchObject({ ok: true });
      },
    );

    it.skipIf(skip)(
      'swapping two ciphertexts in the store makes decryption fail for both',
      async () => {
        await tamper({ swap: ['STRIPE_KEY', 'OTHER_KEY'] });
        const { services, vault } = await openHome(b);
        try {
          const session = await openAccount(services, vault);
          const workspace = (await services.workspaces.readWorkspaces()).workspaces.find(
            (w) => w.id === workspaceId,
          )!;
          const project = workspace.projects.find((p) => p.name === 'web')!;
          const { records } = await session.api.call(
            'GET',
            `/v1/workspaces/${workspaceId}/projects/${project.id}/envs/development/records`,
            z.object({ records: z.array(remoteRecord) }),
          );
          const sodium = await loadSodium();
          const key = Buffer.from(
            (await vault.getReserved(workspaceId, `workspace-key-${workspace.team!.epoch}`))!,
            'base64',
          );
          for (const r of records.filter((x) => ['STRIPE_KEY', 'OTHER_KEY'].includes(x.key))) {
            const where = {
              workspace_id: workspaceId,
              project_id: project.id,
              environment: 'development',
              key: r.key,
              version: r.version,
              epoch: r.epoch,
            };
            expect(() => decryptTeamRecord(sodium, key, where, r)).toThrow(/decryption failed/);
          }
        } finally {
          vault.close();
        }
        // Put them back for what follows.
        await tamper({ swap: ['STRIPE_KEY', 'OTHER_KEY'] });
      },
    );

    it.skipIf(skip)(
      'a server killed in the middle of a push shows nothing partial; the retry succeeds',
      async () => {
        const lines = Array.from({ length: 3000 }, (_, i) => `BULK_${i}=${SECRET_2}_${i}`).join(
          '\n',
        );
        await writeFile(join(a.cwd, '.env.bulk'), lines);
        ok(await a.cli(['secrets', 'import', '.env.bulk']));
        const pushing = a.cli(['secrets', 'push']);
        await sleep(400);
        await server.kill();
        outputs.push(server.output());
        await pushing;
        await startServer();
        const diff = json<{ keys: { key: string; state: string }[] }>(
          await a.cli(['secrets', 'diff', '--json']),
        );
        const bulk = diff.keys.filter((k) => k.key.startsWith('BULK_'));
        const synced = bulk.filter((k) => k.state === 'in_sync').length;
        // All or nothing: either the push committed before the kill, or none of it is there.
        expect([0, 3000]).toContain(synced);
        const retry = await a.cli(['secrets', 'push']);
        expect(retry.code, retry.stderr).toBe(0);
        const after = json<{ keys: { state: string }[] }>(
          await a.cli(['secrets', 'diff', '--json']),
        );
        expect(after.keys.every((k) => k.state === 'in_sync')).toBe(true);
      },
    );

    it.skipIf(skip)(
      'removing B rotates the key: B loses access, A keeps it, records move to epoch 2',
      async () => {
        const removed = await a.pty(['workspace', 'remove', b.email, '--yes']);
        expect(removed.code, removed.stdout).toBe(0);
        expect(removed.stdout).toMatch(/key epoch 2/);
        const bPull = await b.cli(['secrets', 'pull']);
        expect(bPull.code).toBe(1);
        const aDiff = json<{ keys: { state: string }[] }>(
          await a.cli(['secrets', 'diff', '--json']),
        );
        expect(aDiff.keys.every((k) => k.state === 'in_sync')).toBe(true);
        expect((await a.cli(['secrets', 'set', 'AFTER_ROTATION'], 'rotated-value-1')).code).toBe(0);
        ok(await a.cli(['secrets', 'push']));
      },
    );

    it.skipIf(skip)(
      'nothing the server holds or logs has a value, a password or a private key',
      async () => {
        await stopServer();
        const forbidden = [SECRET, SECRET_2, SECRET_3, ...passwords];
        for (const u of [a, b]) {
          const { vault } = await openHome(u);
          const keys = decodeAccountSecrets(
            (await vault.getReserved(ACCOUNT_SCOPE, 'account-keys'))!,
          );
          forbidden.push(
            Buffer.from(keys.box.privateKey).toString('base64'),
            Buffer.from(keys.sign.privateKey.subarray(0, 32)).toString('base64'),
          );
          for (const epoch of [1, 2]) {
            const wk = await vault.getReserved(workspaceId, `workspace-key-${epoch}`);
            if (wk !== undefined) forbidden.push(wk);
          }
          vault.close();
        }
        const logs = outputs.join('\n') + server.output();
        const stored = kind === 'postgres' ? await dumpDatabase(db!.url) : '';
        // The account secret keys: printed once to their owners (the emergency kit), so
        // absent from the server's store and logs only.
        for (const u of [a, b]) {
          const { vault } = await openHome(u);
          const { key } = JSON.parse((await vault.getReserved(ACCOUNT_SCOPE, 'secret-key'))!) as {
            key: string;
          };
          vault.close();
          const raw = parseSecretKey(key);
          for (const value of [key, Buffer.from(raw).toString('base64')]) {
            expect(findLeaks(server.output(), value), 'server logs').toEqual([]);
            if (kind === 'postgres') expect(findLeaks(stored, value), 'database dump').toEqual([]);
            else expect(await scanTree(serverHome, value), 'file store').toEqual([]);
          }
        }
        for (const value of forbidden) {
          expect(findLeaks(logs, value), 'server logs and client output').toEqual([]);
          if (kind === 'postgres') expect(findLeaks(stored, value), 'database dump').toEqual([]);
          else expect(await scanTree(serverHome, value), 'file store').toEqual([]);
        }
        // Clients keep values only in their vaults.
        for (const u of [a, b])
          expect(
            await scanTree(u.home, SECRET, { except: (p) => p.endsWith('vault.json') }),
          ).toEqual([]);
        await startServer();
      },
    );
  },
);

function walk(node: unknown, visit: (n: Record<string, unknown>) => void): void {
  if (Array.isArray(node)) for (const item of node) walk(item, visit);
  else if (node !== null && typeof node === 'object') {
    visit(node as Record<string, unknown>);
    for (const value of Object.values(node)) walk(value, visit);
  }
}
