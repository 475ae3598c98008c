import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_KDF_COST } from '../../src/crypto/kdf.js';
import { loadSodium } from '../../src/crypto/sodium.js';
import { type RunningServer, startServer } from '../../src/server/runtime.js';
import { createFileStore } from '../../src/server/store-file.js';
import { createPostgresStore } from '../../src/server/store-postgres.js';
import type { DocRow, ServerStore } from '../../src/server/store.js';
import { signup } from '../../src/sync/account.js';
import { checkSignedFreshness, docHash, signHeartbeat } from '../../src/sync/chain.js';
import { anchorFor, newInviteSecret } from '../../src/sync/trust.js';
import { createDocFreshener } from '../../src/sync/call-freshness.js';
import { createServer } from 'node:net';
import { signDoc } from '../../src/sync/crypto.js';
import { verifyDoc, type WorkspaceDoc } from '../../src/sync/doc.js';
import {
  acceptInvite,
  confirm,
  createTeamWorkspace,
  invite,
  joinTeamWorkspace,
  ownFingerprint,
  ownKeys,
  pendingMember,
  removeMember,
  setRole,
  syncDoc,
  type TeamContext,
  teamContext,
  updateDoc,
} from '../../src/sync/team.js';
import type { Workspace } from '../../src/workspace/model.js';
import { statusResponse } from '../../src/sync/wire.js';
import { freshDatabase, postgresUnavailable } from '../helpers/postgres.js';
import { makeWorkspace } from '../helpers/proxy-fixture.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The document log against a live server on both stores (issue 12, F6), with the client's
 * own code and the store edited directly as its operator would: an admin handover that a
 * member sleeps through, an ex-admin's document, and a withheld revocation, judged with an
 * injected clock.
 */

const pgMissing = await postgresUnavailable();
const sodium = await loadSodium();
const HOUR = 3600_000;

const stores: [string, () => Promise<{ store: ServerStore; cleanup(): Promise<void> }>][] = [
  [
    'file',
    async () => ({
      store: await createFileStore({ dir: await tempDir() }),
      cleanup: async () => undefined,
    }),
  ],
  [
    'postgres',
    async () => {
      const db = await freshDatabase();
      return { store: await createPostgresStore({ url: db.url }), cleanup: () => db.drop() };
    },
  ],
];

describe.each(stores)('the document log on a live %s store', (kind, open) => {
  const skip = kind === 'postgres' && pgMissing !== undefined;
  let store: ServerStore;
  let cleanup: () => Promise<void>;
  let server: RunningServer;
  const users: Record<'ada' | 'bob' | 'cy' | 'dee', TeamContext> = {} as never;
  let workspaceId: string;

  async function user(name: 'ada' | 'bob' | 'cy' | 'dee') {
    const ws = await makeWorkspace();
    const vault = await ws.services.vault.unlock();
    const session = await signup(ws.services, vault, {
      server: server.url,
      email: `${name}@example.com`,
      password: `${name}-password-1234`,
      kdfCost: TEST_KDF_COST,
    });
    users[name] = await teamContext(ws.services, vault, session);
  }
  const current = async (ctx: TeamContext): Promise<Workspace> =>
    (await ctx.services.workspaces.readWorkspaces()).workspaces.find((w) => w.id === workspaceId)!;
  const sync = async (ctx: TeamContext) =>
    syncDoc(ctx.services, ctx.session.api, ctx.sodium, await current(ctx), ownKeys(ctx));

  beforeAll(async () => {
    if (skip) return;
    ({ store, cleanup } = await open());
    await store.init();
    server = await startServer({
      store,
      port: 0,
      host: '127.0.0.1',
      signup: 'open',
      logger: pino({ level: 'silent' }),
    });
    for (const name of ['ada', 'bob', 'cy'] as const) await user(name);
    const { ada } = users;
    const created = await createTeamWorkspace(ada, 'acme');
    workspaceId = created.id;
    for (const name of ['bob', 'cy'] as const) {
      const ctx = users[name];
      const code = newInviteSecret();
      await invite(ada, await current(ada), ctx.session.account.email, code.hash);
      await acceptInvite(ctx, workspaceId, code.secret);
      const pending = await pendingMember(ada, await current(ada), ctx.session.account.email);
      await confirm(ada, await current(ada), pending, ownFingerprint(ctx));
      await joinTeamWorkspace(ctx, workspaceId, { pin: ownFingerprint(ada) });
    }
  });
  afterAll(async () => {
    if (skip) return;
    for (const ctx of Object.values(users)) ctx.vault.close();
    await server.close();
    await store.close();
    await cleanup();
  });

  let bobTrusted: Workspace;
  it.skipIf(skip)('a member offline through an admin handover walks across it', async () => {
    const { ada, bob, cy } = users;
    bobTrusted = await current(bob);
    // Ada makes Cy an admin; Cy removes Ada (a rotation). Bob is offline throughout.
    await setRole(ada, await current(ada), cy.session.account.email, 'admin');
    await sync(cy);
    await removeMember(cy, await current(cy), ada.session.account.email);
    const head = (await store.doc(workspaceId))!;
    // Before the log: the head alone, checked against the admins Bob trusts, is refused.
    const trusted = {
      seq: bobTrusted.team!.doc_seq,
      body: bobTrusted.team!.doc.body,
      admins: (JSON.parse(bobTrusted.team!.doc.body) as WorkspaceDoc).admins,
    };
    expect(() => verifyDoc(sodium, workspaceId, head, trusted)).toThrow(/not an admin/);
    const { changed, workspace } = await sync(bob);
    expect(changed).toBe(true);
    expect(workspace.team!.doc_seq).toBe(head.seq);
    expect(workspace.team!.epoch).toBe(2);
    expect(
      (JSON.parse(workspace.team!.doc.body) as WorkspaceDoc).admins.map((a) => a.user_id),
    ).toEqual([cy.session.account.userId]);
  });

  it.skipIf(skip)("an ex-admin's document, placed by the operator, is refused", async () => {
    const { ada, bob } = users;
    const head = (await store.doc(workspaceId))!;
    const doc = JSON.parse(head.body) as WorkspaceDoc;
    const forged = {
      ...doc,
      seq: head.seq + 1,
      prev_hash: docHash(head.body),
      signer: ada.session.account.userId,
      admins: [
        {
          user_id: ada.session.account.userId,
          email: ada.session.account.email,
          sign_public: Buffer.from(ada.session.keys.sign.publicKey).toString('base64'),
        },
      ],
      allowlist: [
        { pattern: 'evil.example.com', added_by: 'ada', added_at: new Date().toISOString() },
      ],
    };
    const body = JSON.stringify(forged);
    const row: DocRow = {
      workspace_id: workspaceId,
      seq: forged.seq,
      body,
      signature: signDoc(sodium, ada.session.keys.sign, body),
      signer: ada.session.account.userId,
      updated_at: new Date().toISOString(),
    };
    // Without the log, a member who last trusted a document where Ada was admin accepts it.
    const old = {
      seq: bobTrusted.team!.doc_seq,
      body: bobTrusted.team!.doc.body,
      admins: (JSON.parse(bobTrusted.team!.doc.body) as WorkspaceDoc).admins,
    };
    expect(verifyDoc(sodium, workspaceId, row, old).allowlist[0]!.pattern).toBe('evil.example.com');
    expect(await store.putDoc(row, head.seq)).toBe(true);
    await expect(sync(bob)).rejects.toThrow(/who was not an admin at link/);
    expect((await current(bob)).allowlist.map((e) => e.pattern)).not.toContain('evil.example.com');
    // The operator puts the head back.
    expect(await store.putDoc(head, row.seq)).toBe(true);
    expect((await sync(bob)).changed).toBe(false);
  });

  it.skipIf(skip)(
    'a withheld revocation: exposed by a heartbeat, and fails closed after max_staleness',
    async () => {
      const { bob, cy } = users;
      await sync(bob);
      const before = (await store.doc(workspaceId))!;
      // Cy revokes something (a new document); the operator keeps serving the old one.
      await updateDoc(cy, await current(cy), (d) => {
        d.allowlist = [];
      });
      const revoked = (await store.doc(workspaceId))!;
      expect(await store.putDoc(before, revoked.seq)).toBe(true);
      const answered = await sync(bob);
      expect(answered.changed).toBe(false);
      const team = (await current(bob)).team!;
      const now = Date.now();
      // The check before signed freshness (the last successful sync) passes: the attack.
      expect(now - Date.parse(team.synced_at!)).toBeLessThan(HOUR);
      const issued = Date.parse((JSON.parse(team.doc.body) as WorkspaceDoc).issued_at);
      expect(() => checkSignedFreshness('acme', team, issued + 23 * HOUR)).not.toThrow();
      expect(() => checkSignedFreshness('acme', team, issued + 25 * HOUR)).toThrow(
        /acme: nothing an admin signed is newer than 25 h 0 min \(the limit is 24 h 0 min\)/,
      );
      // An admin's heartbeat for the withheld document gives the server away at once.
      const beat = signHeartbeat(
        sodium,
        { userId: cy.session.account.userId, sign: cy.session.keys.sign },
        { workspace_id: workspaceId, seq: revoked.seq, body: revoked.body },
        new Date(),
      );
      await cy.session.api.call('POST', `/v1/workspaces/${workspaceId}/heartbeat`, statusResponse, {
        body: beat.body,
        signature: beat.signature,
      });
      await expect(sync(bob)).rejects.toThrow(/withholding a newer document/);
      // Served again, the document and the heartbeat keep Bob fresh past the document's age.
      expect(await store.putDoc(revoked, before.seq)).toBe(true);
      const back = await sync(bob);
      expect(back.changed).toBe(true);
      expect(back.workspace.team!.heartbeat_at).toBe(JSON.parse(beat.body).at);
    },
  );

  it.skipIf(skip)(
    "a first join with an invite code walks from the inviting admin's last link to the head",
    async () => {
      const { ada, cy } = users;
      await user('dee');
      const { dee } = users;
      // Ada invited Dee (her code pins Ada's key); since then Cy took over and signed on.
      const code = newInviteSecret();
      await invite(cy, await current(cy), dee.session.account.email, code.hash);
      await acceptInvite(dee, workspaceId, code.secret);
      const pending = await pendingMember(cy, await current(cy), dee.session.account.email);
      await confirm(cy, await current(cy), pending, ownFingerprint(dee));
      const head = (await store.doc(workspaceId))!;
      expect(head.signer).toBe(cy.session.account.userId);
      // Trusting only a head the pinned admin signed, the join would be refused.
      expect(() =>
        anchorFor(sodium, JSON.parse(head.body) as WorkspaceDoc, head.signer, ownFingerprint(ada)),
      ).toThrow(/not signed by the admin you were told to trust/);
      const joined = await joinTeamWorkspace(dee, workspaceId, { pin: ownFingerprint(ada) });
      expect(joined.workspace.team!.doc_seq).toBe(head.seq);
      // A pin nobody in the log matches still refuses.
      await expect(
        joinTeamWorkspace({ ...dee, services: (await makeWorkspace()).services }, workspaceId, {
          pin: '0123 4567 89AB CDEF 0123 4567 89AB CDEF',
        }),
      ).rejects.toThrow(/not signed by the admin you were told to trust/);
    },
  );

  it.skipIf(skip)(
    'a call without a key holder: the server unreachable, the copy here serves within max_staleness, then sync_stale',
    async () => {
      const { dee } = users;
      const freshener = (now: number) =>
        createDocFreshener({
          services: dee.services,
          unlock: async () => dee.vault,
          now: () => now,
        });
      const synced = async () => (await current(dee)).team!.synced_at;
      // Past 30 s with the server up: fetched, and the copy counts as synced now.
      const t0 = Date.now();
      await dee.services.workspaces.updateWorkspace(workspaceId, (w) => {
        w.team!.synced_at = new Date(t0 - 60_000).toISOString();
      });
      await freshener(t0)(workspaceId);
      expect(await synced()).toBe(new Date(t0).toISOString());
      // The server unreachable (the account pointed at a closed port).
      const real = (await dee.services.workspaces.readConfig())!.account!.server_url;
      const dead = await new Promise<string>((resolve) => {
        const s = createServer().listen(0, '127.0.0.1', () => {
          const { port } = s.address() as { port: number };
          s.close(() => resolve(`http://127.0.0.1:${port}`));
        });
      });
      await dee.services.workspaces.updateConfig((c) => ({
        ...c,
        account: { ...c.account!, server_url: dead },
      }));
      try {
        // Within max_staleness of what an admin signed: the copy here stays in force.
        await freshener(t0 + 60_000)(workspaceId);
        expect(await synced()).toBe(new Date(t0).toISOString());
        // Past it: sync_stale, naming the failed fetch.
        const err = await freshener(t0 + 400 * 24 * HOUR)(workspaceId).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toMatchObject({ code: 'sync_stale' });
        expect(String((err as Error).message)).toMatch(/fetching the current document failed/);
      } finally {
        await dee.services.workspaces.updateConfig((c) => ({
          ...c,
          account: { ...c.account!, server_url: real },
        }));
      }
    },
  );
});
