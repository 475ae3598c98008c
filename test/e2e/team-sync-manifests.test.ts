import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, findLeaks } from '../helpers/canary.js';
import { postgresUnavailable } from '../helpers/postgres.js';
import {
  json,
  ok,
  openHome,
  type ScopeBackup,
  startTeamHarness,
  type TeamHarness,
  type User,
} from './team-sync-harness.js';
import { docResponse } from '../../src/sync/wire.js';

/**
 * Signed push manifests (issue 12, F10) and deletions that sync (point 12), on both stores,
 * with spawned binaries and the operator restoring backups of the store between steps. Each
 * attack is first shown to work where the defence is off (the client's memory of the newest
 * manifest it has seen, wiped), then shown to fail.
 */

const pgMissing = await postgresUnavailable();
const compact = (fp: string) => fp.replace(/ /g, '');

describe.each(['file', 'postgres'] as const)('push manifests and tombstones (%s store)', (kind) => {
  const skip = kind === 'postgres' && pgMissing !== undefined;
  const V1 = canary('MANV1');
  const V2 = canary('MANV2');
  const V3 = canary('MANV3');
  const GONE = canary('GONE');
  let h: TeamHarness;
  let a: User;
  let b: User;
  let workspaceId: string;
  let projectId: string;
  let atV3: ScopeBackup;

  beforeAll(async () => {
    if (skip) return;
    h = await startTeamHarness(kind);
    a = await h.user('ada@example.com', canary('PWA'));
    b = await h.user('bob@example.com', canary('PWB'));
  });
  afterAll(async () => {
    if (!skip) await h.close();
  });

  /** B's value of `key` here, read in-process (never printed). */
  async function valueAt(u: User, key: string): Promise<string | undefined> {
    const { services, vault } = await openHome(u);
    try {
      const current = await services.workspaces.resolve();
      return (await vault.getMany(current.selection, [key])).get(key);
    } finally {
      vault.close();
    }
  }

  /** The defence off: B forgets which manifests it has seen (as a fresh machine would). */
  async function forgetSeen(u: User): Promise<void> {
    const { vault } = await openHome(u);
    await vault.setReserved(workspaceId, 'manifest-seen', '{}');
    vault.close();
  }

  const backup = () => h.operate((s) => s.backup(workspaceId, projectId, 'development'));
  const restore = (snap: ScopeBackup, parts?: { records?: boolean; manifest?: boolean }) =>
    h.operate((s) => s.restore(workspaceId, projectId, 'development', snap, parts));

  it.skipIf(skip)('setup: A pushes two keys, B joins and pulls them', async () => {
    ok(await a.cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests']));
    const signedA = json<{ fingerprint: string }>(
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
    expect(signedA.fingerprint).toBeTruthy();
    workspaceId = json<{ id: string }>(await a.cli(['workspace', 'create', 'acme', '--json'])).id;
    ok(await a.cli(['project', 'create', 'web']));
    ok(await a.cli(['project', 'use', 'web', '--global']));
    ok(await a.cli(['secrets', 'set', 'API_KEY'], V1));
    ok(await a.cli(['secrets', 'set', 'OLD_KEY'], GONE));
    ok(await a.cli(['secrets', 'push']));
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
    const confirmed = await a.pty([
      'workspace',
      'confirm',
      b.email,
      '--fingerprint',
      compact(signedB.fingerprint).slice(0, 8),
    ]);
    expect(confirmed.code, confirmed.stdout).toBe(0);
    ok(await b.cli(['workspace', 'switch', 'acme']));
    ok(await b.cli(['project', 'use', 'web', '--global']));
    const pulled = json<{ pulled: string[] }>(await b.cli(['secrets', 'pull', '--json']));
    expect(pulled.pulled.sort()).toEqual(['API_KEY', 'OLD_KEY']);
    const { services } = await openHome(a);
    projectId = (await services.workspaces.readWorkspaces()).workspaces.find(
      (w) => w.id === workspaceId,
    )!.projects[0]!.id;
  });

  it.skipIf(skip)(
    'F10: a client that saw manifest 3 refuses a rollback to 2; without that memory it takes v2 silently',
    async () => {
      ok(await a.cli(['secrets', 'set', 'API_KEY'], V2));
      ok(await a.cli(['secrets', 'push']));
      const atV2 = await backup();
      ok(await a.cli(['secrets', 'set', 'API_KEY'], V3));
      ok(await a.cli(['secrets', 'push']));
      atV3 = await backup();
      // B has not pulled v3, only looked: diff sees manifest 3 (API_KEY newer remotely).
      const diff = json<{ keys: { key: string; newer: string | null; remote_version: number }[] }>(
        await b.cli(['secrets', 'diff', '--json']),
      );
      expect(diff.keys.find((k) => k.key === 'API_KEY')).toMatchObject({
        newer: 'remote',
        remote_version: 3,
      });
      // The operator restores the backup taken at v2: records and their (genuine) manifest 2.
      await restore(atV2);
      const refused = await b.cli(['secrets', 'pull']);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/older than manifest 3.*rolled the records back/s);
      expect(await valueAt(b, 'API_KEY')).toBe(V1);
      // The defence off: without the memory of manifest 3, the rollback is accepted silently.
      await forgetSeen(b);
      const taken = json<{ pulled: string[]; refused?: unknown[] }>(
        await b.cli(['secrets', 'pull', '--json']),
      );
      expect(taken.pulled).toEqual(['API_KEY']);
      expect(taken.refused ?? []).toEqual([]);
      expect(await valueAt(b, 'API_KEY')).toBe(V2);
    },
  );

  it.skipIf(skip)(
    'F10: records that differ from the signed manifest, or a manifest not signed by a member, are refused',
    async () => {
      // Back to the honest state (manifest 3): B catches up.
      await restore(atV3);
      ok(await b.cli(['secrets', 'pull']));
      const stale = await backup();
      ok(await a.cli(['secrets', 'set', 'API_KEY'], V1));
      ok(await a.cli(['secrets', 'push']));
      ok(await b.cli(['secrets', 'pull']));
      const honest = await backup();
      // The records go back to an older genuine record; the newest manifest stays.
      await restore(stale, { records: true, manifest: false });
      const mixed = await b.cli(['secrets', 'pull', '--json']);
      expect(mixed.code).toBe(1);
      const refused = (JSON.parse(mixed.stdout) as { refused: { key: string; reason: string }[] })
        .refused;
      expect(refused.find((r) => r.key === 'API_KEY')?.reason).toMatch(
        /signed push manifest names version 4, the server sent version 3/,
      );
      // A's push refuses to build on it too.
      ok(await a.cli(['secrets', 'set', 'API_KEY'], V2));
      const push = await a.cli(['secrets', 'push']);
      expect(push.code).not.toBe(0);
      expect(push.stderr).toMatch(/do not match their signed push manifest/);
      // A manifest whose body the operator edited no longer verifies.
      const edited = structuredClone(honest.manifest!);
      edited.body = String(edited.body).replace('"seq":4', '"seq":40');
      expect(edited.body).not.toBe(honest.manifest!.body);
      await restore({ records: honest.records, manifest: edited });
      const forged = await b.cli(['secrets', 'pull']);
      expect(forged.code).not.toBe(0);
      expect(forged.stderr).toMatch(/not signed by a member/);
      await restore(honest);
      ok(await a.cli(['secrets', 'push']));
      ok(await b.cli(['secrets', 'pull']));
      expect(await valueAt(b, 'API_KEY')).toBe(V2);
    },
  );

  it.skipIf(skip)(
    'tombstones: a deletion syncs, diff shows it, and the operator cannot resurrect the key',
    async () => {
      ok(await b.cli(['secrets', 'pull']));
      const beforeDelete = await backup();
      const deleted = json<{ deleted: boolean; synced: boolean }>(
        await a.cli(['secrets', 'delete', 'OLD_KEY', '--json']),
      );
      expect(deleted).toEqual({ key: 'OLD_KEY', deleted: true, synced: true });
      const diff = json<{ keys: { key: string; remote_deleted?: boolean }[] }>(
        await b.cli(['secrets', 'diff', '--json']),
      );
      expect(diff.keys.find((k) => k.key === 'OLD_KEY')?.remote_deleted).toBe(true);
      const table = ok(await b.cli(['secrets', 'diff']));
      expect(table.stdout).toMatch(/OLD_KEY\s+deleted_remote/);
      const pulled = json<{ deleted: string[] }>(await b.cli(['secrets', 'pull', '--json']));
      expect(pulled.deleted).toEqual(['OLD_KEY']);
      expect(await valueAt(b, 'OLD_KEY')).toBeUndefined();
      // A's own next pull does not bring it back.
      ok(await a.cli(['secrets', 'pull']));
      expect(await valueAt(a, 'OLD_KEY')).toBeUndefined();
      // The operator restores the backup from before the deletion: B refuses it...
      await restore(beforeDelete);
      const refused = await b.cli(['secrets', 'pull']);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/rolled the records back/);
      expect(await valueAt(b, 'OLD_KEY')).toBeUndefined();
      // ...and without the memory of the newer manifest, the deleted key comes back.
      await forgetSeen(b);
      const back = json<{ pulled: string[] }>(await b.cli(['secrets', 'pull', '--json']));
      expect(back.pulled).toContain('OLD_KEY');
      expect(await valueAt(b, 'OLD_KEY')).toBe(GONE);
    },
  );

  it.skipIf(skip)(
    'max staleness: an admin signs a new value in; an operator who edits it in the store is refused',
    async () => {
      const shown = json<{ max_staleness_s: number }>(
        await b.cli(['workspace', 'staleness', '--json']),
      );
      expect(shown.max_staleness_s).toBe(24 * 3600);
      expect((await b.pty(['workspace', 'staleness', '12h', '--yes'])).code).not.toBe(0);
      const set = await a.pty(['workspace', 'staleness', '12h'], 'acme\r');
      expect(set.code, set.stdout).toBe(0);
      ok(await b.cli(['secrets', 'pull']));
      expect(
        json<{ max_staleness_s: number }>(await b.cli(['workspace', 'staleness', '--json']))
          .max_staleness_s,
      ).toBe(12 * 3600);
      // The operator stretches the window in the stored document (as a newer seq): the server
      // hands the edited document out as stored, so the attack reaches the client...
      const [head] = await h.operate((store) => store.rows('docs', { workspace_id: workspaceId }));
      const doc = JSON.parse(String(head!.body)) as { seq: number; max_staleness_s: number };
      const edited = JSON.stringify({ ...doc, seq: doc.seq + 1, max_staleness_s: 366 * 86_400 });
      await h.operate((store) =>
        store.update('docs', { workspace_id: workspaceId }, { body: edited, seq: doc.seq + 1 }),
      );
      const { vault, account } = await openHome(b);
      const session = await account();
      const served = await session.api.call(
        'GET',
        `/v1/workspaces/${workspaceId}/doc?since=${doc.seq}`,
        docResponse,
      );
      vault.close();
      expect(served.doc?.body).toBe(edited);
      // ...and is refused there: the value is signed, and the signature no longer verifies.
      const pull = await b.cli(['secrets', 'pull']);
      expect(pull.code).not.toBe(0);
      expect(pull.stderr).toMatch(/signature|document/);
      expect(
        json<{ max_staleness_s: number }>(await b.cli(['workspace', 'staleness', '--json']))
          .max_staleness_s,
      ).toBe(12 * 3600);
      await h.operate((store) =>
        store.update('docs', { workspace_id: workspaceId }, { body: head!.body, seq: head!.seq }),
      );
    },
  );

  it.skipIf(skip)('no value reached an output or the server log', () => {
    const outputs = [...h.outputs, h.serverOutput()].join('\n');
    for (const value of [V1, V2, V3, GONE]) expect(findLeaks(outputs, value)).toEqual([]);
  });
});
