import { readFile, stat, writeFile } from 'node:fs/promises';
import { exportPKCS8, generateKeyPair, importPKCS8, SignJWT } from 'jose';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../src/crypto/aead.js';
import { boxKeyPair, openSealed } from '../../src/crypto/seal.js';
import { signKeyPair } from '../../src/crypto/sign.js';
import { loadSodium } from '../../src/crypto/sodium.js';
import { ACCOUNT_SCOPE } from '../../src/sync/account.js';
import { docHash } from '../../src/sync/chain.js';
import {
  decodeAccountSecrets,
  decryptTeamRecord,
  encryptTeamRecord,
  signDoc,
} from '../../src/sync/crypto.js';
import { verifyDoc, type WorkspaceDoc } from '../../src/sync/doc.js';
import { pushResponse, remoteRecord, workspacesResponse } from '../../src/sync/wire.js';
import * as z from 'zod';
import { canary, findLeaks } from '../helpers/canary.js';
import { postgresUnavailable } from '../helpers/postgres.js';
import {
  json,
  ok,
  openHome,
  startTeamHarness,
  type TeamHarness,
  type User,
} from './team-sync-harness.js';

const recordList = z.object({ records: z.array(remoteRecord) });

/**
 * An active server operator against team sync (issue 12), on both stores, with spawned
 * binaries and the store edited between steps. Each attack is first shown to work where the
 * defence is not in its way, then shown to fail.
 */

const pgMissing = await postgresUnavailable();
const compact = (fp: string) => fp.replace(/ /g, '');

describe.each(['file', 'postgres'] as const)('an active server operator (%s store)', (kind) => {
  const skip = kind === 'postgres' && pgMissing !== undefined;
  const SECRET = canary('ACTIVE');
  const SECRET_2 = canary('ACTIVE2');
  const EVIL = canary('EVIL');
  let h: TeamHarness;
  let a: User;
  let b: User;
  let d: User;
  let g: User;
  let workspaceId: string;
  let projectId: string;
  const fp: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const secretKeys: Record<string, string> = {};

  beforeAll(async () => {
    if (skip) return;
    h = await startTeamHarness(kind);
    a = await h.user('ada@example.com', canary('PWA'));
    b = await h.user('bob@example.com', canary('PWB'));
    d = await h.user('dan@example.com', canary('PWD'));
  });
  afterAll(async () => {
    if (!skip) await h.close();
  });

  async function signup(u: User, invite?: string) {
    ok(await u.cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests']));
    const args = ['signup', '--server', h.url(), '--email', u.email, '--weak-kdf-for-tests'];
    if (invite !== undefined) args.push('--invite', invite);
    const signed = json<{ fingerprint: string; user_id: string; secret_key: string }>(
      await u.cli([...args, '--json']),
    );
    fp[u.email] = signed.fingerprint;
    ids[u.email] = signed.user_id;
    secretKeys[u.email] = signed.secret_key;
  }

  async function inviteCode(email: string): Promise<string> {
    return json<{ invite_code: string }>(await a.cli(['workspace', 'invite', email, '--json']))
      .invite_code;
  }

  it.skipIf(skip)(
    'setup: A creates the workspace; B joins with a code and a typed fingerprint',
    async () => {
      await signup(a);
      workspaceId = json<{ id: string }>(await a.cli(['workspace', 'create', 'acme', '--json'])).id;
      ok(await a.cli(['project', 'create', 'web']));
      ok(await a.cli(['project', 'use', 'web', '--global']));
      ok(await a.cli(['secrets', 'set', 'STRIPE_KEY'], SECRET));
      ok(await a.cli(['secrets', 'set', 'OTHER_KEY'], SECRET_2));
      ok(await a.cli(['secrets', 'push']));
      const code = await inviteCode(b.email);
      expect(code).toContain(compact(fp[a.email]!));
      await signup(b, code);
      // The admin types the first 8 characters at the prompt, as B reads them out.
      const confirmed = await a.pty(
        ['workspace', 'confirm', b.email],
        `${compact(fp[b.email]!).slice(0, 8)}\r`,
      );
      expect(confirmed.code, confirmed.stdout).toBe(0);
      const status = await b.cli(['status']);
      expect(status.stdout).toContain(fp[b.email]);
      ok(await b.cli(['workspace', 'switch', 'acme']));
      ok(await b.cli(['project', 'use', 'web', '--global']));
      const pulled = json<{ pulled: string[] }>(await b.cli(['secrets', 'pull', '--json']));
      expect(pulled.pulled.sort()).toEqual(['OTHER_KEY', 'STRIPE_KEY']);
      const { services } = await openHome(a);
      projectId = (await services.workspaces.readWorkspaces()).workspaces.find(
        (w) => w.id === workspaceId,
      )!.projects[0]!.id;
    },
  );

  it.skipIf(skip)(
    'F5: a new device needs the secret key; a short AGENTSECRETS_PASSWORD is refused',
    async () => {
      const short = await h.user('eve@example.com', 'abc');
      ok(await short.cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests']));
      const weak = await short.cli(['signup', '--server', h.url(), '--email', short.email]);
      expect(weak.code).toBe(2);
      expect(weak.stderr).toMatch(/AGENTSECRETS_PASSWORD is too short/);
      // Sign-up with the default Argon2id cost: a login refuses a weaker one.
      const fay = await h.user('fay@example.com', canary('PWF'));
      await inviteCode(fay.email);
      ok(await fay.cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests']));
      const signed = json<{ secret_key: string }>(
        await fay.cli(['signup', '--server', h.url(), '--email', fay.email, '--json']),
      );
      ok(await fay.cli(['workspace', 'create', 'fays']));
      const login = async (extra: Record<string, string>) => {
        const device = await h.user(fay.email, fay.env.AGENTSECRETS_PASSWORD!, extra);
        ok(await device.cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests']));
        const result = await device.cli(['login', '--server', h.url(), '--email', fay.email]);
        return { device, result };
      };
      const none = await login({});
      expect(none.result.code).toBe(3);
      expect(none.result.stderr).toMatch(/no account secret key/);
      const wrong = await login({ AGENTSECRETS_SECRET_KEY: 'AS1-AAAAAA-AAAAA-AAAAA-AAAAA-AAAAA' });
      expect(wrong.result.code).toBe(1);
      expect(wrong.result.stderr).toMatch(/password or the account secret key is wrong/);
      const right = await login({ AGENTSECRETS_SECRET_KEY: signed.secret_key });
      ok(right.result);
      // Fay's second device trusts the documents Fay signed without a code.
      ok(await right.device.cli(['workspace', 'switch', 'fays']));
    },
  );

  it.skipIf(skip)(
    'F3: a forged first document with the operator as admin is refused without the human check',
    async () => {
      const code = await inviteCode(d.email);
      await signup(d);
      const sodium = await loadSodium();
      const op = { box: boxKeyPair(sodium), sign: signKeyPair(sodium) };
      const opId = 'usr_operator0001';
      const saved = await h.operate(async (store) => {
        const [doc] = await store.rows('docs', { workspace_id: workspaceId });
        const [dRow] = await store.rows('users', { id: ids[d.email]! });
        const forged = JSON.parse(doc!.body as string) as WorkspaceDoc;
        const opMember = {
          user_id: opId,
          email: a.email,
          box_public: toBase64(op.box.publicKey),
          sign_public: toBase64(op.sign.publicKey),
        };
        forged.admins = [{ user_id: opId, email: a.email, sign_public: opMember.sign_public }];
        forged.members.push(opMember, {
          user_id: ids[d.email]!,
          email: d.email,
          box_public: dRow!.box_public as string,
          sign_public: dRow!.sign_public as string,
        });
        forged.allowlist.push({
          pattern: 'evil.example.com',
          added_by: 'operator',
          added_at: new Date().toISOString(),
        } as WorkspaceDoc['allowlist'][number]);
        forged.seq += 1;
        const body = JSON.stringify(forged);
        const signature = signDoc(sodium, op.sign, body);
        await store.update(
          'docs',
          { workspace_id: workspaceId },
          { body, seq: forged.seq, signer: opId, signature },
        );
        const [member] = await store.rows('members', {
          workspace_id: workspaceId,
          user_id: ids[d.email]!,
        });
        // The operator also clears the invite secret's hash D never presented.
        await store.update(
          'members',
          { workspace_id: workspaceId, user_id: ids[d.email]! },
          { status: 'active', invite_hash: null },
        );
        return {
          doc: doc!,
          forged: { body, signature, signer: opId },
          inviteHash: member!.invite_hash,
        };
      });
      // Without the defence (the old trust on first use), the forgery verifies.
      expect(
        verifyDoc(sodium, workspaceId, saved.forged, null).allowlist.map((e) => e.pattern),
      ).toContain('evil.example.com');
      const noTerminal = await d.cli(['workspace', 'switch', 'acme']);
      expect(noTerminal.code).toBe(3);
      expect(noTerminal.stderr).toMatch(/invite code/);
      // A human who compared A's fingerprint with A types it; the forger's does not match.
      const typed = await d.pty(
        ['workspace', 'switch', 'acme'],
        `${compact(fp[a.email]!).slice(0, 8)}\r`,
      );
      expect(typed.code).not.toBe(0);
      expect(typed.stdout).toMatch(/does not match/);
      const withCode = await d.cli(['workspace', 'join', code]);
      expect(withCode.code).toBe(1);
      expect(withCode.stderr).toMatch(
        /not signed by the admin you were told to trust|does not follow/,
      );
      const { services } = await openHome(d);
      expect(
        (await services.workspaces.readWorkspaces()).workspaces.map((w) => w.id),
      ).not.toContain(workspaceId);
      // The operator puts everything back; A confirms D, who joins with the code.
      await h.operate(async (store) => {
        await store.update('docs', { workspace_id: workspaceId }, saved.doc);
        await store.update(
          'members',
          { workspace_id: workspaceId, user_id: ids[d.email]! },
          { status: 'pending', invite_hash: saved.inviteHash },
        );
      });
      ok(
        await a.pty([
          'workspace',
          'confirm',
          d.email,
          '--fingerprint',
          compact(fp[d.email]!).slice(0, 8),
        ]),
      );
      const joined = json<{ role: string }>(await d.cli(['workspace', 'join', code, '--json']));
      expect(joined.role).toBe('member');
      ok(await d.cli(['project', 'use', 'web', '--global']));
      ok(await d.cli(['secrets', 'pull']));
    },
  );

  it.skipIf(skip)(
    'F4: keys swapped by the operator are caught at confirm, and by the invitee',
    async () => {
      const c = await h.user('cat@example.com', canary('PWC'));
      await signup(c, await inviteCode(c.email));
      const sodium = await loadSodium();
      const op = { box: boxKeyPair(sodium), sign: signKeyPair(sodium) };
      await h.operate((store) =>
        store.update(
          'users',
          { id: ids[c.email]! },
          {
            box_public: toBase64(op.box.publicKey),
            sign_public: toBase64(op.sign.publicKey),
          },
        ),
      );
      const members = json<{ members: { email: string; fingerprint: string }[] }>(
        await a.cli(['workspace', 'members', '--json']),
      );
      const shown = members.members.find((m) => m.email === c.email)!.fingerprint;
      expect(shown).not.toBe(fp[c.email]);
      // --yes does not skip the fingerprint; C's real one does not match the swapped keys.
      const yes = await a.pty(['workspace', 'confirm', c.email, '--yes'], '\r');
      expect(yes.code).toBe(2);
      const real = await a.pty([
        'workspace',
        'confirm',
        c.email,
        '--fingerprint',
        compact(fp[c.email]!).slice(0, 8),
      ]);
      expect(real.code).toBe(1);
      expect(real.stdout).toMatch(/does not match the keys the server shows/);
      // An admin who copies the server's fingerprint instead: the attack goes through there,
      // and the operator opens the workspace key and reads a record…
      ok(
        await a.pty(['workspace', 'confirm', c.email, '--fingerprint', compact(shown).slice(0, 8)]),
      );
      const stolen = await h.operate(async (store) => {
        const [grant] = await store.rows('grants', {
          workspace_id: workspaceId,
          user_id: ids[c.email]!,
          kind: 'workspace',
        });
        return openSealed(sodium, op.box, fromBase64(grant!.sealed as string));
      });
      const { vault: aVault, account } = await openHome(a);
      const session = await account();
      const { records } = await session.api.call(
        'GET',
        `/v1/workspaces/${workspaceId}/projects/${projectId}/envs/development/records`,
        recordList,
      );
      aVault.close();
      const r = records.find((x) => x.key === 'STRIPE_KEY')!;
      const where = {
        workspace_id: workspaceId,
        project_id: projectId,
        environment: 'development',
        key: r.key,
        version: r.version,
        epoch: r.epoch,
      };
      expect(decryptTeamRecord(sodium, stolen, where, r)).toBe(SECRET);
      // …but the invitee's own client refuses the document that names keys not its own.
      const join = await c.cli(['workspace', 'switch', 'acme']);
      expect(join.code).toBe(1);
      expect(join.stderr).toMatch(/names cat@example.com with keys that are not yours/);
      // The admin removes the entry (a rotation): the operator's key is now of an old epoch.
      ok(await a.pty(['workspace', 'remove', c.email, '--yes']));
    },
  );

  let dStale: string;
  it.skipIf(skip)(
    'F1/F2: a record or push under an epoch a removed member holds is refused',
    async () => {
      dStale = await readFile(join(d.home, 'workspaces.json'), 'utf8');
      const removed = await a.pty(['workspace', 'remove', b.email, '--yes']);
      expect(removed.code, removed.stdout).toBe(0);
      const sodium = await loadSodium();
      const { services: aServices } = await openHome(a);
      const current = (await aServices.workspaces.readWorkspaces()).workspaces.find(
        (w) => w.id === workspaceId,
      )!.team!.epoch;
      // B, removed, still holds the key of epoch 1 (every member opened it when joining).
      const old = 1;
      expect(current).toBe(3);
      const { vault: bVault } = await openHome(b);
      const oldKey = fromBase64((await bVault.getReserved(workspaceId, `workspace-key-${old}`))!);
      bVault.close();
      // The operator sets the server's epoch back; a push under the old epoch is then accepted
      // (D's session plays the removed member's accomplice): the attack, without the defence.
      const clean = await h.operate((store) => store.backup(workspaceId, projectId, 'development'));
      await h.operate((store) => store.update('workspaces', { id: workspaceId }, { epoch: old }));
      const { vault: dVault, account } = await openHome(d);
      const session = await account();
      const base = `/v1/workspaces/${workspaceId}/projects/${projectId}/envs/development`;
      const listed = async () =>
        (await session.api.call('GET', `${base}/records`, recordList)).records;
      const version = (await listed()).find((x) => x.key === 'STRIPE_KEY')!.version + 1;
      const where = {
        workspace_id: workspaceId,
        project_id: projectId,
        environment: 'development',
        key: 'STRIPE_KEY',
        version,
        epoch: old,
      };
      const sealed = encryptTeamRecord(sodium, oldKey, where, EVIL);
      await session.api.call('POST', `${base}/push`, pushResponse, {
        changes: [{ key: 'STRIPE_KEY', base_version: version - 1, version, epoch: old, ...sealed }],
        force: false,
      });
      const injected = (await listed()).find((x) => x.key === 'STRIPE_KEY')!;
      dVault.close();
      expect(injected.epoch).toBe(old);
      expect(decryptTeamRecord(sodium, oldKey, where, injected)).toBe(EVIL);
      // F1: the admin's pull refuses it, names it, and keeps the value it had.
      const pull = await a.cli(['secrets', 'pull']);
      expect(pull.code).toBe(1);
      expect(pull.stderr).toMatch(
        new RegExp(`STRIPE_KEY was not pulled: .*epoch ${old}.*epoch ${current}`),
      );
      const { vault: aVault } = await openHome(a);
      const values = await aVault.getMany(
        { workspace_id: workspaceId, project_id: projectId, environment: 'development' },
        ['STRIPE_KEY'],
      );
      aVault.close();
      expect(values.get('STRIPE_KEY')).toBe(SECRET);
      // The operator takes the injected record back out: the push manifest (F10) would
      // otherwise refuse every push before the epoch check this part is about.
      await h.operate((store) => store.restore(workspaceId, projectId, 'development', clean));
      // F2: D, offline during the removal, has the old document; its push syncs the document
      // first and encrypts under the current epoch, which the set-back server refuses.
      await writeFile(join(d.home, 'workspaces.json'), dStale);
      ok(await d.cli(['secrets', 'set', 'D_NEW'], `${SECRET}-d`));
      const push = await d.cli(['secrets', 'push']);
      expect(push.code).toBe(1);
      expect(push.stderr).toMatch(new RegExp(`refused key epoch ${current}`));
      await h.operate(async (store) => {
        const rows = await store.rows('workspaces', { id: workspaceId });
        expect(rows[0]!.epoch).toBe(old);
        await store.update('workspaces', { id: workspaceId }, { epoch: current });
      });
      const pushed = json<{ pushed: string[] }>(await d.cli(['secrets', 'push', '--json']));
      expect(pushed.pushed).toEqual(['D_NEW']);
    },
  );

  it.skipIf(skip)(
    'F8: a malformed record mid-pull is skipped and named; the rest is pulled',
    async () => {
      ok(await a.cli(['secrets', 'set', 'STRIPE_KEY'], `${SECRET}-v3`));
      ok(await a.cli(['secrets', 'set', 'OTHER_KEY'], `${SECRET_2}-v3`));
      ok(await a.cli(['secrets', 'push', '--force']));
      await h.operate((store) =>
        store.updateRecord(workspaceId, 'OTHER_KEY', { ciphertext: 'not base64!' }),
      );
      const pull = await d.cli(['secrets', 'pull', '--json']);
      expect(pull.code).toBe(1);
      const result = JSON.parse(pull.stdout) as {
        pulled: string[];
        refused: { key: string; reason: string }[];
      };
      expect(result.pulled).toContain('STRIPE_KEY');
      expect(result.refused).toEqual([{ key: 'OTHER_KEY', reason: 'it is malformed' }]);
    },
  );

  it.skipIf(skip)(
    'F7: a second command reuses the access token instead of refreshing',
    async () => {
      const refreshes = () => h.serverOutput().split('/v1/auth/refresh').length - 1;
      ok(await d.cli(['secrets', 'diff']));
      const before = refreshes();
      ok(await d.cli(['secrets', 'diff']));
      ok(await d.cli(['workspace', 'members']));
      expect(refreshes()).toBe(before);
    },
  );

  it.skipIf(skip)(
    'F8: the token-signing key is in a 0600 file, not in the store; a store leak mints nothing',
    async () => {
      const keyPath = join(h.serverHome, 'server', 'jwt-signing-key.pem');
      expect((await stat(keyPath)).mode & 0o777).toBe(0o600);
      const mint = async (pem: string) =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
          .setIssuer('agentsecrets-server')
          .setAudience('agentsecrets')
          .setSubject(ids[a.email]!)
          .setIssuedAt()
          .setExpirationTime('5m')
          .sign(await importPKCS8(pem, 'EdDSA'));
      const me = async (token: string) =>
        (await fetch(`${h.url()}/v1/me`, { headers: { authorization: `Bearer ${token}` } })).status;
      // Whoever holds the key mints sessions: the attack, with the key file.
      expect(await me(await mint(await readFile(keyPath, 'utf8')))).toBe(200);
      // The store holds no signing key; a key of the attacker's own is refused.
      const keys = await h.operate((store) => store.serverKeys());
      expect(keys.jwt_private_pem).toBe('');
      const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
      expect(await me(await mint(await exportPKCS8(privateKey)))).toBe(401);
    },
  );

  it.skipIf(skip)('F9: names from the server reach the terminal without escapes', async () => {
    g = await h.user('gus@example.com', canary('PWG'));
    await signup(g, await inviteCode(g.email));
    const evil = 'acme\u001b[2J\u001b]0;pwned\u0007\u202e';
    await h.operate((store) => store.update('workspaces', { id: workspaceId }, { name: evil }));
    // The server hands the name out as stored: the attack reaches the client.
    const { vault, account } = await openHome(g);
    const session = await account();
    const raw = await session.api.call('GET', '/v1/workspaces', workspacesResponse);
    vault.close();
    expect(raw.workspaces[0]!.name).toBe(evil);
    const list = await g.cli(['workspace', 'list']);
    ok(list);
    // eslint-disable-next-line no-control-regex
    expect(list.stdout + list.stderr).not.toMatch(/[\u001b\u0007\u202e]/);
    expect(list.stdout).toContain('acme?[2J?]0;pwned??');
    await h.operate((store) => store.update('workspaces', { id: workspaceId }, { name: 'acme' }));
  });

  it.skipIf(skip)(
    "F6: a member offline through an admin handover follows it; an ex-admin's document is refused",
    async () => {
      const sodium = await loadSodium();
      const trustedBefore = async () => {
        const { services } = await openHome(d);
        const team = (await services.workspaces.readWorkspaces()).workspaces.find(
          (w) => w.id === workspaceId,
        )!.team!;
        return {
          seq: team.doc_seq,
          body: team.doc.body,
          admins: (JSON.parse(team.doc.body) as WorkspaceDoc).admins,
        };
      };
      // The record the F8 step broke is pushed again first.
      ok(await a.cli(['secrets', 'set', 'OTHER_KEY'], `${SECRET_2}-v4`));
      ok(await a.cli(['secrets', 'push', '--force']));
      ok(await d.cli(['secrets', 'pull']));
      const dTrusts = await trustedBefore();
      // D goes offline. A confirms G and makes G an admin; G removes A (a rotation).
      ok(
        await a.pty([
          'workspace',
          'confirm',
          g.email,
          '--fingerprint',
          compact(fp[g.email]!).slice(0, 8),
        ]),
      );
      ok(await g.cli(['workspace', 'switch', 'acme']));
      ok(await a.pty(['workspace', 'promote', g.email, '--yes']));
      ok(await g.cli(['project', 'use', 'web', '--global']));
      ok(await g.cli(['secrets', 'pull']));
      ok(await g.pty(['workspace', 'remove', a.email, '--yes']));
      const head = await h.operate(
        async (store) => (await store.rows('docs', { workspace_id: workspaceId }))[0]!,
      );
      // Without the log: the newest document, against the admins D trusts, is refused.
      expect(() =>
        verifyDoc(
          sodium,
          workspaceId,
          {
            body: head.body as string,
            signature: head.signature as string,
            signer: head.signer as string,
          },
          dTrusts,
        ),
      ).toThrow(/not an admin/);
      // With it, D walks across the handover.
      const pulled = await d.cli(['secrets', 'pull']);
      expect(pulled.code, pulled.stderr).toBe(0);
      const listed = json<{ workspaces: { id: string; role: string }[] }>(
        await d.cli(['workspace', 'list', '--json']),
      );
      expect(listed.workspaces.find((w) => w.id === workspaceId)?.role).toBe('member');
      // A, no longer an admin, signs a next document; the operator serves it.
      const { vault } = await openHome(a);
      const keys = decodeAccountSecrets((await vault.getReserved(ACCOUNT_SCOPE, 'account-keys'))!);
      vault.close();
      const doc = JSON.parse(head.body as string) as WorkspaceDoc;
      const forged = {
        ...doc,
        seq: doc.seq + 1,
        prev_hash: docHash(head.body as string),
        signer: ids[a.email]!,
        allowlist: [
          { pattern: 'evil.example.com', added_by: 'ada', added_at: new Date().toISOString() },
        ],
      };
      const body = JSON.stringify(forged);
      // Without the log, a member who trusts a document where A was an admin accepts it.
      expect(
        verifyDoc(
          sodium,
          workspaceId,
          { body, signature: signDoc(sodium, keys.sign, body), signer: ids[a.email]! },
          dTrusts,
        ).seq,
      ).toBe(forged.seq);
      await h.operate((store) =>
        store.update(
          'docs',
          { workspace_id: workspaceId },
          {
            body,
            seq: forged.seq,
            signer: ids[a.email]!,
            signature: signDoc(sodium, keys.sign, body),
          },
        ),
      );
      const refused = await d.cli(['secrets', 'pull']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/who was not an admin at link/);
      const allow = json<{ pattern: string }[]>(
        await d.cli(['workspace', 'allowlist', 'list', '--json']),
      );
      expect(allow.map((e) => e.pattern)).not.toContain('evil.example.com');
    },
  );

  it.skipIf(skip)('no value reached any output', async () => {
    for (const value of [SECRET, SECRET_2, EVIL])
      expect(findLeaks(h.outputs.join('\n'), value)).toEqual([]);
  });
});
