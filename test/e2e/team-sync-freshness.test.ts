import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, findLeaks } from '../helpers/canary.js';
import { postgresUnavailable } from '../helpers/postgres.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';
import {
  json,
  ok,
  openHome,
  startTeamHarness,
  type TeamHarness,
  type User,
} from './team-sync-harness.js';

/**
 * Team call freshness (issue 12, point 11), on both stores with spawned binaries: a member's
 * one-shot `call` (no key holder running) fetches the signed document when the copy on its
 * machine is older than 30 s, so an admin's allowlist change reaches it without `pull`.
 *
 * The old behaviour is shown first by the age of the member's copy (injected into its
 * workspaces file, as the clock would move it): while the copy is younger than 30 s it is used
 * as it is, and the call to the newly allowed host is refused; once older, the same call
 * fetches the document and passes. No switch turns the fetch off.
 */

const pgMissing = await postgresUnavailable();
const compact = (fp: string) => fp.replace(/ /g, '');

async function deadPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe.each(['file', 'postgres'] as const)('team call freshness (%s store)', (kind) => {
  const skip = kind === 'postgres' && pgMissing !== undefined;
  const VALUE = canary('FRESH');
  let h: TeamHarness;
  let a: User;
  let b: User;
  let allowed: Upstream;
  let later: Upstream;
  let workspaceId: string;

  beforeAll(async () => {
    if (skip) return;
    h = await startTeamHarness(kind);
    allowed = await startUpstream(echo);
    later = await startUpstream(echo);
    a = await h.user('ada@example.com', canary('PWA'));
    b = await h.user('bob@example.com', canary('PWB'));
  });
  afterAll(async () => {
    if (skip) return;
    await allowed.close();
    await later.close();
    await h.close();
  });

  /** Sets when B's copy of the document was last synced: `ageMs` ago (negative: ahead). */
  async function ageCopy(ageMs: number): Promise<void> {
    const { services, vault } = await openHome(b);
    vault.close();
    await services.workspaces.updateWorkspace(workspaceId, (w) => {
      if (w.team !== undefined) w.team.synced_at = new Date(Date.now() - ageMs).toISOString();
    });
  }

  const host = (u: Upstream) => `127.0.0.1:${u.port}`;
  const callAs = (u: User, upstream: Upstream) =>
    u.cli([
      'call',
      '--url',
      `${upstream.url}/v1/charge`,
      '--bearer',
      'API_KEY',
      '--output',
      'json',
    ]);
  const allowlistOf = async (u: User) =>
    json<{ domains?: { pattern: string }[]; allowlist?: { pattern: string }[] }>(
      await u.cli(['workspace', 'allowlist', 'list', '--json']),
    );

  it.skipIf(skip)('setup: A allows one host and pushes a key; B joins and pulls it', async () => {
    ok(await a.cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests']));
    ok(
      await a.cli([
        'signup',
        '--server',
        h.url(),
        '--email',
        a.email,
        '--weak-kdf-for-tests',
        '--json',
      ]),
    );
    workspaceId = json<{ id: string }>(await a.cli(['workspace', 'create', 'acme', '--json'])).id;
    ok(await a.cli(['project', 'create', 'web']));
    ok(await a.cli(['project', 'use', 'web', '--global']));
    ok(await a.cli(['secrets', 'set', 'API_KEY'], VALUE));
    ok(await a.cli(['secrets', 'push']));
    ok(await a.pty(['workspace', 'allowlist', 'add', host(allowed), '--yes']));
    const code = json<{ invite_code: string }>(
      await a.cli(['workspace', 'invite', b.email, '--json']),
    ).invite_code;
    ok(await b.cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests']));
    const signedB = json<{ fingerprint: string }>(
      await b.cli([
        'signup',
        '--server',
        h.url(),
        '--email',
        b.email,
        '--weak-kdf-for-tests',
        '--invite',
        code,
        '--json',
      ]),
    );
    ok(
      await a.pty([
        'workspace',
        'confirm',
        b.email,
        '--fingerprint',
        compact(signedB.fingerprint).slice(0, 8),
      ]),
    );
    ok(await b.cli(['workspace', 'switch', 'acme']));
    ok(await b.cli(['project', 'use', 'web', '--global']));
    ok(await b.cli(['secrets', 'pull']));
    ok(await callAs(b, allowed));
    expect(allowed.seen.at(-1)!.headers.authorization).toBe(`Bearer ${VALUE}`);
  });

  it.skipIf(skip)(
    'an admin allows a host: a copy younger than 30 s is used (refused); an older one is fetched (passes), without pull',
    async () => {
      ok(await a.pty(['workspace', 'allowlist', 'add', host(later), '--yes']));
      // Before: B's copy counts as just synced, so it is used as it is (the old behaviour of
      // every one-shot call) and the new host is refused.
      await ageCopy(-5 * 60_000);
      const before = await callAs(b, later);
      expect(before.code).not.toBe(0);
      expect(JSON.parse(before.stdout)).toMatchObject({ error: 'domain_not_in_allowlist' });
      expect(later.seen).toHaveLength(0);
      // After 30 s: the same call fetches the document first and passes. No pull ran.
      await ageCopy(31_000);
      const after = await callAs(b, later);
      expect(after.code, after.stderr + after.stdout).toBe(0);
      expect(later.seen).toHaveLength(1);
      expect(later.seen[0]!.headers.authorization).toBe(`Bearer ${VALUE}`);
      expect(findLeaks(after.stdout + after.stderr, VALUE)).toEqual([]);
      // The fetched document is now B's copy (synced just now): the list shows the host.
      expect(JSON.stringify(await allowlistOf(b))).toContain(host(later));
    },
  );

  it.skipIf(skip)('an admin removes a host: the next call past 30 s is refused', async () => {
    ok(await a.pty(['workspace', 'allowlist', 'remove', host(later), '--yes']));
    const seen = later.seen.length;
    // Within 30 s the copy still allows it (what the old behaviour kept doing until `pull`).
    await ageCopy(-5 * 60_000);
    ok(await callAs(b, later));
    expect(later.seen).toHaveLength(seen + 1);
    await ageCopy(31_000);
    const refused = await callAs(b, later);
    expect(refused.code).not.toBe(0);
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: 'domain_not_in_allowlist' });
    expect(later.seen).toHaveLength(seen + 1);
    // The host A still allows keeps working.
    await ageCopy(31_000);
    ok(await callAs(b, allowed));
  });

  it.skipIf(skip)(
    'server unreachable: the cached copy is used within max_staleness, so a call it refuses stays refused',
    async () => {
      // A allows the host again; B does not hear of it because its server is unreachable.
      ok(await a.pty(['workspace', 'allowlist', 'add', host(later), '--yes']));
      const { services, vault } = await openHome(b);
      vault.close();
      const dead = `http://127.0.0.1:${await deadPort()}`;
      const real = (await services.workspaces.readConfig())!.account!.server_url;
      await services.workspaces.updateConfig((c) => ({
        ...c,
        account: { ...c.account!, server_url: dead },
      }));
      try {
        await ageCopy(31_000);
        const refused = await callAs(b, later);
        expect(refused.code).not.toBe(0);
        expect(JSON.parse(refused.stdout)).toMatchObject({ error: 'domain_not_in_allowlist' });
        await ageCopy(31_000);
        const cached = await callAs(b, allowed);
        expect(cached.code, cached.stderr + cached.stdout).toBe(0);
      } finally {
        await services.workspaces.updateConfig((c) => ({
          ...c,
          account: { ...c.account!, server_url: real },
        }));
      }
      await ageCopy(31_000);
      ok(await callAs(b, later));
    },
  );

  it.skipIf(skip)('env in a team workspace fetches the document too', async () => {
    // A removes the host again. B's copy still allows it (the last call fetched it); `env`
    // past 30 s fetches the document, and B's copy no longer lists the host.
    expect(JSON.stringify(await allowlistOf(b))).toContain(host(later));
    ok(await a.pty(['workspace', 'allowlist', 'remove', host(later), '--yes']));
    await ageCopy(31_000);
    ok(await b.cli(['env', '--only', 'API_KEY', '--', process.execPath, '-e', '0']));
    expect(JSON.stringify(await allowlistOf(b))).not.toContain(host(later));
    const refused = await callAs(b, later);
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: 'domain_not_in_allowlist' });
  });
});
