import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentSecretsError } from '../../src/core/errors.js';
import { statusResponse } from '../../src/sync/wire.js';
import { canary } from '../helpers/canary.js';
import { postgresUnavailable } from '../helpers/postgres.js';
import {
  json,
  ok,
  openHome,
  startTeamHarness,
  type TeamHarness,
  type User,
} from './team-sync-harness.js';

/**
 * The invite code's one-time secret (issue 12, point 4), on both stores with spawned binaries.
 * `workspace invite` puts a random secret in the code and sends the server only its SHA-256;
 * joining presents the secret, and the server burns the hash on first use. An invitee who
 * never presented it cannot join, whatever the admin confirmed.
 */

const pgMissing = await postgresUnavailable();
const compact = (fp: string) => fp.replace(/ /g, '');

describe.each(['file', 'postgres'] as const)('invite code secret (%s store)', (kind) => {
  const skip = kind === 'postgres' && pgMissing !== undefined;
  let h: TeamHarness;
  let a: User;
  let m: User;
  let b: User;
  let workspaceId: string;
  const ids: Record<string, string> = {};
  const fps: Record<string, string> = {};

  beforeAll(async () => {
    if (skip) return;
    h = await startTeamHarness(kind);
    a = await h.user('ada@example.com', canary('PWA'));
    m = await h.user('mallory@example.com', canary('PWM'));
    b = await h.user('bob@example.com', canary('PWB'));
  });
  afterAll(async () => {
    if (!skip) await h.close();
  });

  async function signup(u: User): Promise<void> {
    ok(await u.cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests']));
    const signed = json<{ fingerprint: string; user_id: string }>(
      await u.cli([
        'signup',
        '--server',
        h.url(),
        '--email',
        u.email,
        '--weak-kdf-for-tests',
        '--json',
      ]),
    );
    ids[u.email] = signed.user_id;
    fps[u.email] = signed.fingerprint;
  }
  const inviteCode = async (email: string) =>
    json<{ invite_code: string }>(await a.cli(['workspace', 'invite', email, '--json']))
      .invite_code;
  const confirm = (u: User) =>
    a.pty(['workspace', 'confirm', u.email, '--fingerprint', compact(fps[u.email]!).slice(0, 8)]);
  /** The code with its secret replaced. */
  const withSecret = (code: string, secret: string) =>
    code.replace(/\.[0-9a-f]{32}$/, `.${secret}`);
  const memberRow = async (email: string) =>
    (
      await h.operate((s) => s.rows('members', { workspace_id: workspaceId, user_id: ids[email]! }))
    )[0]!;

  it.skipIf(skip)('setup: A creates the workspace', async () => {
    await signup(a);
    workspaceId = json<{ id: string }>(await a.cli(['workspace', 'create', 'acme', '--json'])).id;
  });

  it.skipIf(skip)(
    'without the secret check a guessed secret joins; with it, an altered code and the stored hash are refused',
    async () => {
      const code = await inviteCode(m.email);
      expect(code).toMatch(/^asinv2\.ws_[0-9a-z]+\.[0-9A-F]{32}\.[0-9a-f]{32}$/);
      await signup(m);
      // The store holds a hash, not the code's secret.
      const row = await memberRow(m.email);
      const secret = code.split('.').at(-1)!;
      expect(typeof row.invite_hash).toBe('string');
      expect(row.invite_hash).not.toBe(secret);
      expect(JSON.stringify(await h.operate((s) => s.rows('members', {})))).not.toContain(secret);
      ok(await confirm(m));
      const guessed = withSecret(code, '0'.repeat(32));
      // The defence off (a server without the check: the hash cleared), a guessed secret joins.
      await h.operate((s) =>
        s.update(
          'members',
          { workspace_id: workspaceId, user_id: ids[m.email]! },
          { invite_hash: null },
        ),
      );
      ok(await m.cli(['workspace', 'join', guessed]));
      // The defence on: the hash back, the same guess is refused and nothing is joined.
      await h.operate((s) =>
        s.update(
          'members',
          { workspace_id: workspaceId, user_id: ids[m.email]! },
          { invite_hash: row.invite_hash },
        ),
      );
      const refused = await m.cli(['workspace', 'join', guessed]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/does not match your invitation/);
      // An operator who read the store presents the hash as the secret: refused as well.
      const fromHash = await m.cli([
        'workspace',
        'join',
        withSecret(code, String(row.invite_hash).slice(0, 32)),
      ]);
      expect(fromHash.code).not.toBe(0);
      expect(fromHash.stderr).toMatch(/does not match your invitation/);
      // Until the secret is presented, the workspace stays closed to M (no join, no grants).
      const switched = await m.cli(['workspace', 'switch', 'acme']);
      expect(switched.code).not.toBe(0);
      expect(switched.stderr).toMatch(/not presented the invite code/);
      // The code A sent, with its secret, still joins.
      ok(await m.cli(['workspace', 'join', code]));
    },
  );

  it.skipIf(skip)(
    'the right code joins once; the same secret presented again is refused',
    async () => {
      const code = await inviteCode(b.email);
      await signup(b);
      ok(await confirm(b));
      const joined = json<{ role: string }>(await b.cli(['workspace', 'join', code, '--json']));
      expect(joined.role).toBe('member');
      expect((await memberRow(b.email)).invite_hash ?? null).toBeNull();
      // The secret is burnt: presented again (a replay of the accept), the server refuses it.
      const { account, vault } = await openHome(b);
      try {
        const session = await account();
        const replay = session.api.call(
          'POST',
          `/v1/workspaces/${workspaceId}/accept`,
          statusResponse,
          { secret: code.split('.').at(-1)! },
        );
        await expect(replay).rejects.toThrow(AgentSecretsError);
        await expect(replay).rejects.toMatchObject({ code: 'conflict' });
      } finally {
        vault.close();
      }
    },
  );
});
