import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomId } from '../../src/core/ids.js';
import { toBase64 } from '../../src/crypto/aead.js';
import { boxKeyPair } from '../../src/crypto/seal.js';
import { signKeyPair } from '../../src/crypto/sign.js';
import { loadSodium, type Sodium } from '../../src/crypto/sodium.js';
import { REFRESH_GRACE_SECONDS } from '../../src/server/auth.js';
import { type RunningServer, startServer } from '../../src/server/runtime.js';
import { createFileStore } from '../../src/server/store-file.js';
import { createPostgresStore } from '../../src/server/store-postgres.js';
import type { ServerStore } from '../../src/server/store.js';
import {
  type AccountSecrets,
  encryptTeamRecord,
  makeGrant,
  signDoc,
} from '../../src/sync/crypto.js';
import { signHeartbeat } from '../../src/sync/chain.js';
import { docBody, type WorkspaceDoc } from '../../src/sync/doc.js';
import { defaultPolicy } from '../../src/workspace/model.js';
import { freshDatabase, postgresUnavailable } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The sync server's HTTP API with a real store underneath, driven with raw requests: what a
 * hostile or broken client can send, and what the server must refuse.
 */

const pgMissing = await postgresUnavailable();

interface User {
  email: string;
  id: string;
  keys: AccountSecrets;
  authKey: string;
  access: string;
  refresh: string;
}

let sodium: Sodium;
beforeAll(async () => {
  sodium = await loadSodium();
});

const stores: [string, () => Promise<{ store: ServerStore; cleanup(): Promise<void> }>][] = [
  [
    'file',
    async () => ({
      store: await createFileStore({ dir: await tempDir() }),
      cleanup: async () => {},
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

describe.each(stores)('sync server API on the %s store', (kind, open) => {
  const skip = kind === 'postgres' && pgMissing !== undefined;
  let server: RunningServer;
  let store: ServerStore;
  let cleanup: () => Promise<void>;
  let clock = Date.now();

  beforeAll(async () => {
    if (skip) return;
    ({ store, cleanup } = await open());
    await store.init();
    server = await startServer({
      store,
      port: 0,
      host: '127.0.0.1',
      signup: 'invite',
      logger: pino({ level: 'silent' }),
      now: () => new Date(clock),
    });
  });
  afterAll(async () => {
    if (skip) return;
    await server.close();
    await store.close();
    await cleanup();
  });

  async function send(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
    raw?: string,
  ): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      ...(raw !== undefined
        ? { body: raw }
        : body === undefined
          ? {}
          : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  async function signupUser(email: string): Promise<User> {
    const keys = { box: boxKeyPair(sodium), sign: signKeyPair(sodium) };
    const authKey = toBase64(randomBytes(32));
    const r = await send('POST', '/v1/auth/signup', {
      email,
      auth_key: authKey,
      kdf: { alg: 'argon2id13', ops: 1, mem: 8192, salt: toBase64(randomBytes(16)) },
      box_public: toBase64(keys.box.publicKey),
      sign_public: toBase64(keys.sign.publicKey),
      wrapped_keys: { nonce: toBase64(randomBytes(24)), ciphertext: toBase64(randomBytes(200)) },
    });
    expect(r.status, JSON.stringify(r.json)).toBe(201);
    const user = r.json.user as { id: string };
    return {
      email,
      id: user.id,
      keys,
      authKey,
      access: r.json.access_token as string,
      refresh: r.json.refresh_token as string,
    };
  }

  function docOf(workspaceId: string, seq: number, admins: User[], epoch = 1): WorkspaceDoc {
    return {
      format: 1,
      workspace_id: workspaceId,
      name: 'acme',
      seq,
      issued_at: new Date().toISOString(),
      prev_hash: null,
      signer: null,
      max_staleness_s: 86400,
      epoch,
      admins: admins.map((a) => ({
        user_id: a.id,
        email: a.email,
        sign_public: toBase64(a.keys.sign.publicKey),
      })),
      members: [],
      token_public_jwk: null,
      allowlist: [],
      allowlist_log: [],
      policy: defaultPolicy(),
      agents: [],
    };
  }

  function signedBy(user: User, doc: WorkspaceDoc) {
    const body = docBody(doc);
    return { body, signature: signDoc(sodium, user.keys.sign, body), signer: user.id };
  }

  const key = new Uint8Array(randomBytes(32));
  let admin: User;
  let member: User;
  let workspaceId: string;
  const projectId = randomId('prj');

  it.skipIf(skip)('the first account is free; later ones need an invite', async () => {
    admin = await signupUser('admin@example.com');
    const refused = await send('POST', '/v1/auth/signup', {
      email: 'stranger@example.com',
      auth_key: toBase64(randomBytes(32)),
      kdf: { alg: 'argon2id13', ops: 1, mem: 8192, salt: toBase64(randomBytes(16)) },
      box_public: toBase64(randomBytes(32)),
      sign_public: toBase64(randomBytes(32)),
      wrapped_keys: { nonce: toBase64(randomBytes(24)), ciphertext: toBase64(randomBytes(64)) },
    });
    expect(refused.status).toBe(403);
    expect(refused.json.error).toBe('forbidden');
  });

  it.skipIf(skip)(
    'creates a workspace only with a first document signed by its creator',
    async () => {
      workspaceId = randomId('ws');
      const grant = makeGrant(
        sodium,
        { userId: admin.id, sign: admin.keys.sign },
        { userId: admin.id, boxPublic: admin.keys.box.publicKey },
        { workspaceId, epoch: 1, kind: 'workspace' },
        key,
      );
      const forged = signedBy(admin, docOf(workspaceId, 1, [admin]));
      forged.signature = signDoc(sodium, signKeyPair(sodium), forged.body);
      const bad = await send(
        'POST',
        '/v1/workspaces',
        { id: workspaceId, name: 'acme', grants: [grant], doc: forged },
        admin.access,
      );
      expect(bad.status).toBe(400);
      expect(bad.json.error).toBe('signature_invalid');
      const ok = await send(
        'POST',
        '/v1/workspaces',
        {
          id: workspaceId,
          name: 'acme',
          grants: [grant],
          doc: signedBy(admin, docOf(workspaceId, 1, [admin])),
        },
        admin.access,
      );
      expect(ok.status, JSON.stringify(ok.json)).toBe(201);
    },
  );

  it.skipIf(skip)(
    'an invited email signs up as a pending member (never an admin) that cannot read until confirmed',
    async () => {
      const invited = await send(
        'POST',
        `/v1/workspaces/${workspaceId}/invites`,
        { email: 'member@example.com', role: 'admin' },
        admin.access,
      );
      expect(invited.json.status).toBe('invited');
      member = await signupUser('member@example.com');
      const before = await send('GET', `/v1/workspaces/${workspaceId}`, undefined, member.access);
      expect(before.status).toBe(404);
      const grant = makeGrant(
        sodium,
        { userId: admin.id, sign: admin.keys.sign },
        { userId: member.id, boxPublic: member.keys.box.publicKey },
        { workspaceId, epoch: 1, kind: 'workspace' },
        key,
      );
      const confirmed = await send(
        'POST',
        `/v1/workspaces/${workspaceId}/members/${member.id}/confirm`,
        { grants: [grant] },
        admin.access,
      );
      expect(confirmed.status, JSON.stringify(confirmed.json)).toBe(200);
      const after = await send('GET', `/v1/workspaces/${workspaceId}`, undefined, member.access);
      expect(after.status).toBe(200);
      expect(after.json.role).toBe('member');
    },
  );

  it.skipIf(skip)('a member cannot change the allowlist, roles, members or agents', async () => {
    const doc = docOf(workspaceId, 2, [admin]);
    doc.allowlist = [
      { pattern: 'evil.example.com', added_by: member.email, added_at: new Date().toISOString() },
    ];
    const attempts = [
      send(
        'PUT',
        `/v1/workspaces/${workspaceId}/doc`,
        { doc: signedBy(member, doc) },
        member.access,
      ),
      send(
        'POST',
        `/v1/workspaces/${workspaceId}/invites`,
        { email: 'x@example.com' },
        member.access,
      ),
      send(
        'POST',
        `/v1/workspaces/${workspaceId}/members/${member.id}/role`,
        { role: 'admin', doc: signedBy(member, docOf(workspaceId, 2, [admin, member])) },
        member.access,
      ),
      send(
        'POST',
        `/v1/workspaces/${workspaceId}/members/${admin.id}/confirm`,
        { grants: [] },
        member.access,
      ),
      send(
        'POST',
        `/v1/workspaces/${workspaceId}/rotate`,
        {
          from_epoch: 1,
          epoch: 2,
          grants: [],
          records: [],
          doc: signedBy(member, docOf(workspaceId, 2, [admin], 2)),
          remove_user_id: admin.id,
        },
        member.access,
      ),
      send('GET', `/v1/workspaces/${workspaceId}/records`, undefined, member.access),
    ];
    for (const r of await Promise.all(attempts)) {
      expect(r.status).toBe(403);
      expect(r.json.error).toBe('forbidden');
    }
  });

  it.skipIf(skip)(
    'the admin changes the document only as the next seq, signed by themself',
    async () => {
      const stale = await send(
        'PUT',
        `/v1/workspaces/${workspaceId}/doc`,
        { doc: signedBy(admin, docOf(workspaceId, 1, [admin])) },
        admin.access,
      );
      expect(stale.status).toBe(409);
      const next = await send(
        'PUT',
        `/v1/workspaces/${workspaceId}/doc`,
        { doc: signedBy(admin, docOf(workspaceId, 2, [admin])) },
        admin.access,
      );
      expect(next.status, JSON.stringify(next.json)).toBe(200);
      const unchanged = await send(
        'GET',
        `/v1/workspaces/${workspaceId}/doc?since=2`,
        undefined,
        member.access,
      );
      expect(unchanged.json).toEqual({ unchanged: true, seq: 2, heartbeats: [] });
      // The log keeps both documents; a member reads the chain from a seq.
      const chain = await send(
        'GET',
        `/v1/workspaces/${workspaceId}/docs?after=0`,
        undefined,
        member.access,
      );
      expect(
        (chain.json.docs as { body: string }[]).map(
          (d) => (JSON.parse(d.body) as WorkspaceDoc).seq,
        ),
      ).toEqual([1, 2]);
      const after1 = await send(
        'GET',
        `/v1/workspaces/${workspaceId}/docs?after=1`,
        undefined,
        member.access,
      );
      expect((after1.json.docs as unknown[]).length).toBe(1);
    },
  );

  it.skipIf(skip)(
    'heartbeats: admins only, signed by themselves, newest kept and relayed',
    async () => {
      const head = { workspace_id: workspaceId, seq: 2, body: '{}' };
      const beat = (u: User, at: number) =>
        signHeartbeat(sodium, { userId: u.id, sign: u.keys.sign }, head, new Date(at));
      const byMember = beat(member, 1);
      const refused = await send(
        'POST',
        `/v1/workspaces/${workspaceId}/heartbeat`,
        { body: byMember.body, signature: byMember.signature },
        member.access,
      );
      expect(refused.status).toBe(403);
      const forged = beat(member, 2);
      const notTheirs = await send(
        'POST',
        `/v1/workspaces/${workspaceId}/heartbeat`,
        { body: forged.body, signature: forged.signature },
        admin.access,
      );
      expect(notTheirs.json.error).toBe('signature_invalid');
      for (const at of [1000, 2000]) {
        const hb = beat(admin, at);
        const ok = await send(
          'POST',
          `/v1/workspaces/${workspaceId}/heartbeat`,
          { body: hb.body, signature: hb.signature },
          admin.access,
        );
        expect(ok.status).toBe(200);
      }
      const polled = await send(
        'GET',
        `/v1/workspaces/${workspaceId}/doc?since=2`,
        undefined,
        member.access,
      );
      const relayed = polled.json.heartbeats as { signer: string; body: string }[];
      expect(relayed).toHaveLength(1);
      expect(relayed[0]!.signer).toBe(admin.id);
      expect(JSON.parse(relayed[0]!.body).at).toBe(new Date(2000).toISOString());
    },
  );

  function change(name: string, base: number | null, version: number, value: string) {
    const where = {
      workspace_id: workspaceId,
      project_id: projectId,
      environment: 'development',
      key: name,
      version,
      epoch: 1,
    };
    return {
      key: name,
      base_version: base,
      version,
      epoch: 1,
      ...encryptTeamRecord(sodium, key, where, value),
    };
  }
  const pushPath = () =>
    `/v1/workspaces/${workspaceId}/projects/${projectId}/envs/development/push`;

  it.skipIf(skip)(
    'two pushers with the same base: one wins, the other gets the conflicting keys',
    async () => {
      expect(
        (
          await send(
            'POST',
            `/v1/workspaces/${workspaceId}/projects`,
            { id: projectId, name: 'web' },
            admin.access,
          )
        ).status,
      ).toBe(201);
      expect(
        (
          await send(
            'POST',
            pushPath(),
            { changes: [change('A', null, 1, 'a1'), change('B', null, 1, 'b1')] },
            admin.access,
          )
        ).status,
      ).toBe(200);
      const [first, second] = await Promise.all([
        send('POST', pushPath(), { changes: [change('A', 1, 2, 'from-admin')] }, admin.access),
        send(
          'POST',
          pushPath(),
          { changes: [change('A', 1, 2, 'from-member'), change('B', 1, 2, 'b2')] },
          member.access,
        ),
      ]);
      const statuses = [first.status, second.status].sort();
      expect(statuses).toEqual([200, 409]);
      const loser = first.status === 409 ? first : second;
      expect(loser.json.conflicts).toEqual([{ key: 'A', remote_version: 2 }]);
      // All or nothing: B was not written by the refused push, or was written with A by the winner.
      const records = await send(
        'GET',
        `/v1/workspaces/${workspaceId}/projects/${projectId}/envs/development/records?meta=1`,
        undefined,
        admin.access,
      );
      const versions = Object.fromEntries(
        (records.json.records as { key: string; version: number }[]).map((r) => [r.key, r.version]),
      );
      expect(versions.A).toBe(2);
      expect(versions.B).toBe(second.status === 200 ? 2 : 1);
    },
  );

  it.skipIf(skip)('malformed and oversized bodies are refused without echoing them', async () => {
    const malformed = await send('POST', pushPath(), undefined, admin.access, '{"changes": [');
    expect(malformed.status).toBe(400);
    expect(malformed.json.error).toBe('bad_request');
    const wrongShape = await send(
      'POST',
      pushPath(),
      { changes: [{ key: 'not a key!', secret: 'sk_live_x' }] },
      admin.access,
    );
    expect(wrongShape.status).toBe(400);
    expect(JSON.stringify(wrongShape.json)).not.toContain('sk_live_x');
    const huge = await send(
      'POST',
      '/v1/auth/login',
      undefined,
      undefined,
      JSON.stringify({ email: 'a@b.c', pad: 'x'.repeat(200_000) }),
    );
    expect(huge.status).toBe(413);
    expect(huge.json.error).toBe('request_too_large');
  });

  it.skipIf(skip)('a wrong auth key is refused and does not say which part was wrong', async () => {
    const wrong = await send('POST', '/v1/auth/login', {
      email: admin.email,
      auth_key: toBase64(randomBytes(32)),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.json.message).toBe('wrong email or password');
    const unknown = await send('POST', '/v1/auth/login', {
      email: 'nobody@example.com',
      auth_key: toBase64(randomBytes(32)),
    });
    expect(unknown.json).toEqual(wrong.json);
    // Unknown emails get stable, plausible KDF parameters too (no account enumeration).
    const p1 = await send('POST', '/v1/auth/params', { email: 'nobody@example.com' });
    const p2 = await send('POST', '/v1/auth/params', { email: 'nobody@example.com' });
    expect(p1.json).toEqual(p2.json);
  });

  it.skipIf(skip)('refresh tokens rotate; a reused one revokes the whole family', async () => {
    const login = await send('POST', '/v1/auth/login', {
      email: member.email,
      auth_key: member.authKey,
    });
    const first = login.json.refresh_token as string;
    const rotated = await send('POST', '/v1/auth/refresh', { refresh_token: first });
    expect(rotated.status).toBe(200);
    const second = rotated.json.refresh_token as string;
    // Past the grace for a lost response (F7), a second use is reuse.
    clock += (REFRESH_GRACE_SECONDS + 1) * 1000;
    const reuse = await send('POST', '/v1/auth/refresh', { refresh_token: first });
    expect(reuse.status).toBe(401);
    expect(String(reuse.json.message)).toMatch(/already used/);
    // The thief's reuse also ended the legitimate holder's session.
    const legit = await send('POST', '/v1/auth/refresh', { refresh_token: second });
    expect(legit.status).toBe(401);
  });

  it.skipIf(skip)(
    'a lost refresh response (F7): the same token within 60 s gets the same successor',
    async () => {
      const login = await send('POST', '/v1/auth/login', {
        email: member.email,
        auth_key: member.authKey,
      });
      const first = login.json.refresh_token as string;
      const rotated = await send('POST', '/v1/auth/refresh', { refresh_token: first });
      // The answer is lost; the client presents the same token again, 30 s later.
      clock += 30_000;
      const again = await send('POST', '/v1/auth/refresh', { refresh_token: first });
      expect(again.status).toBe(200);
      expect(again.json.refresh_token).toBe(rotated.json.refresh_token);
      expect(
        (await send('GET', '/v1/me', undefined, again.json.access_token as string)).status,
      ).toBe(200);
      // The family lives on: the successor rotates as usual.
      const next = await send('POST', '/v1/auth/refresh', {
        refresh_token: again.json.refresh_token,
      });
      expect(next.status).toBe(200);
      expect(next.json.refresh_token).not.toBe(again.json.refresh_token);
      // Without the grace (past 60 s), the same lost response revokes the whole family.
      clock += 61_000;
      const late = await send('POST', '/v1/auth/refresh', { refresh_token: first });
      expect(late.status).toBe(401);
      const after = await send('POST', '/v1/auth/refresh', {
        refresh_token: next.json.refresh_token,
      });
      expect(after.status).toBe(401);
    },
  );

  it.skipIf(skip)("an expired access token is refused; the clock is the server's", async () => {
    const login = await send('POST', '/v1/auth/login', {
      email: admin.email,
      auth_key: admin.authKey,
    });
    const access = login.json.access_token as string;
    expect((await send('GET', '/v1/me', undefined, access)).status).toBe(200);
    clock += 11 * 60 * 1000;
    const expired = await send('GET', '/v1/me', undefined, access);
    expect(expired.status).toBe(401);
    expect(expired.json.error).toBe('unauthorized');
    const renewed = await send('POST', '/v1/auth/refresh', {
      refresh_token: login.json.refresh_token,
    });
    expect(
      (await send('GET', '/v1/me', undefined, renewed.json.access_token as string)).status,
    ).toBe(200);
  });

  it.skipIf(skip)('sign-in attempts are rate limited', async () => {
    let limited = 0;
    for (let i = 0; i < 30; i++) {
      const r = await send('POST', '/v1/auth/params', { email: `p${i}@example.com` });
      if (r.status === 429) limited++;
    }
    expect(limited).toBeGreaterThan(0);
    clock += 61_000;
  });
});
