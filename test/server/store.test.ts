import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentSecretsError } from '../../src/core/errors.js';
import { createFileStore } from '../../src/server/store-file.js';
import { createPostgresStore } from '../../src/server/store-postgres.js';
import type {
  DocRow,
  GrantRow,
  MemberRow,
  ProjectRow,
  PushChangeRow,
  RecordRow,
  RefreshRow,
  Role,
  RotateInput,
  ServerKeys,
  ServerStore,
  UserRow,
  WorkspaceRow,
} from '../../src/server/store.js';
import { deadPid } from '../store/processes.js';
import { POSTGRES_URL, postgresUnavailable } from '../helpers/postgres.js';
import { tempDir } from '../helpers/tmp.js';
import { MIGRATIONS } from '../../src/server/store-postgres-schema.js';

// --- PostgreSQL: reachable, or skipped with a reason (a failure under CI) --------------------

// The shared probe warns and skips locally, and throws under CI=true.
const pgProblem = await postgresUnavailable();
const pgAdmin =
  pgProblem === undefined ? new pg.Pool({ connectionString: POSTGRES_URL, max: 2 }) : null;
afterAll(async () => {
  await pgAdmin?.end();
});

// --- the two stores under test --------------------------------------------------------------

/** Fresh, empty storage; `open` gives an initialised store on it (call it twice for two). */
interface Space {
  open(): Promise<ServerStore>;
}

interface Backend {
  name: 'file' | 'postgres';
  skip: boolean;
  space(): Promise<Space>;
}

const opened: ServerStore[] = [];
const cleanups: (() => Promise<void>)[] = [];

async function track(store: ServerStore): Promise<ServerStore> {
  opened.push(store);
  await store.init();
  return store;
}

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function fileSpace(): Promise<Space & { dir: string }> {
  const dir = join(await tempDir(), 'server');
  return { dir, open: async () => track(await createFileStore({ dir })) };
}

async function postgresSpace(): Promise<Space & { schema: string }> {
  const schema = `agentsecrets_test_${randomBytes(6).toString('hex')}`;
  cleanups.push(async () => {
    await pgAdmin!.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
  return {
    schema,
    open: async () => track(await createPostgresStore({ url: POSTGRES_URL, schema })),
  };
}

const BACKENDS: Backend[] = [
  { name: 'file', skip: false, space: fileSpace },
  { name: 'postgres', skip: pgProblem !== undefined, space: postgresSpace },
];

// --- rows ---------------------------------------------------------------------------------

const AT = '2030-01-02T03:04:05.678Z';
const LATER = '2030-01-02T04:00:00.000Z';
const ENV = 'development';

function id(prefix: string): string {
  return `${prefix}_${randomBytes(8).toString('hex')}`;
}

function userRow(email: string): UserRow {
  return {
    id: id('usr'),
    email,
    auth_hash: randomBytes(32).toString('hex'),
    kdf: { alg: 'argon2id13', ops: 3, mem: 65536, salt: randomBytes(16).toString('base64') },
    box_public: randomBytes(32).toString('base64'),
    sign_public: randomBytes(32).toString('base64'),
    wrapped_keys: { nonce: 'bm9uY2U=', ciphertext: randomBytes(48).toString('base64') },
    created_at: AT,
  };
}

function memberRow(
  workspaceId: string,
  userId: string,
  role: Role,
  status: 'pending' | 'active',
): MemberRow {
  return {
    workspace_id: workspaceId,
    user_id: userId,
    role,
    status,
    added_at: AT,
    confirmed_by: null,
  };
}

function grantRow(
  workspaceId: string,
  userId: string,
  epoch: number,
  grantedBy = userId,
): GrantRow {
  return {
    workspace_id: workspaceId,
    user_id: userId,
    epoch,
    kind: 'workspace',
    sealed: `sealed-${userId}-${epoch}`,
    granted_by: grantedBy,
    signature: `sig-${userId}-${epoch}`,
  };
}

function docRow(workspaceId: string, seq: number, signer: string): DocRow {
  return {
    workspace_id: workspaceId,
    seq,
    body: `{"seq":${seq}}`,
    signature: `docsig-${seq}`,
    signer,
    updated_at: AT,
  };
}

function refreshRow(userId: string, overrides: Partial<RefreshRow> = {}): RefreshRow {
  return {
    hash: randomBytes(32).toString('hex'),
    user_id: userId,
    family: id('fam'),
    created_at: AT,
    expires_at: '2030-02-01T00:00:00.000Z',
    used_at: null,
    revoked_at: null,
    ...overrides,
  };
}

function change(key: string, base: number | null, version: number, epoch = 1): PushChangeRow {
  return {
    key,
    base_version: base,
    version,
    epoch,
    nonce: `nonce-${key}-${version}`,
    ciphertext: `ct-${key}-${version}-${randomBytes(4).toString('hex')}`,
    digest: `digest-${key}-${version}`,
  };
}

/** An admin, a workspace at epoch 1 with its doc at seq 1, and one project. */
interface Seeded {
  admin: UserRow;
  workspace: WorkspaceRow;
  project: ProjectRow;
}

async function seed(store: ServerStore): Promise<Seeded> {
  const admin = userRow(`admin-${randomBytes(3).toString('hex')}@example.com`);
  expect(await store.createUser(admin, { requireInvite: false })).toBe('created');
  const workspace: WorkspaceRow = {
    id: id('ws'),
    name: 'Acme',
    created_by: admin.id,
    created_at: AT,
    epoch: 1,
  };
  const outcome = await store.createWorkspace(
    workspace,
    memberRow(workspace.id, admin.id, 'admin', 'active'),
    [grantRow(workspace.id, admin.id, 1)],
    docRow(workspace.id, 1, admin.id),
  );
  expect(outcome).toBe('created');
  const project: ProjectRow = {
    workspace_id: workspace.id,
    id: id('prj'),
    name: 'api',
    created_by: admin.id,
    created_at: AT,
  };
  expect(await store.putProject(project)).toBe('created');
  return { admin, workspace, project };
}

function pushTo(
  store: ServerStore,
  s: Seeded,
  changes: PushChangeRow[],
  options: { force?: boolean; environment?: string } = {},
) {
  return store.push(s.workspace.id, s.project.id, options.environment ?? ENV, changes, {
    force: options.force ?? false,
    userId: s.admin.id,
    now: new Date(AT),
  });
}

async function addMember(store: ServerStore, s: Seeded, email: string): Promise<UserRow> {
  const user = userRow(email);
  expect(await store.createUser(user, { requireInvite: false })).toBe('created');
  expect(
    await store.invite({
      workspace_id: s.workspace.id,
      email,
      role: 'member',
      invited_by: s.admin.id,
      created_at: AT,
    }),
  ).toBe('pending');
  expect(
    await store.confirmMember(s.workspace.id, user.id, s.admin.id, [
      grantRow(s.workspace.id, user.id, 1, s.admin.id),
    ]),
  ).toBe('confirmed');
  return user;
}

/** A rotation of `records` to epoch 2, doc seq 1 → 2, re-granting the admin. */
function rotation(
  s: Seeded,
  records: RecordRow[],
  overrides: Partial<RotateInput> = {},
): RotateInput {
  return {
    workspace_id: s.workspace.id,
    remove_user_id: null,
    from_epoch: 1,
    epoch: 2,
    grants: [grantRow(s.workspace.id, s.admin.id, 2)],
    records: records.map((r) => ({
      ...r,
      epoch: 2,
      nonce: `n2-${r.key}`,
      ciphertext: `re-${r.key}`,
      updated_at: LATER,
    })),
    doc: docRow(s.workspace.id, 2, s.admin.id),
    expected_seq: 1,
    ...overrides,
  };
}

async function rejection(promise: Promise<unknown>): Promise<AgentSecretsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AgentSecretsError);
  return err as AgentSecretsError;
}

function serverKeys(): ServerKeys {
  return {
    jwt_private_pem: `-----BEGIN PRIVATE KEY-----\n${randomBytes(32).toString('base64')}\n-----END PRIVATE KEY-----\n`,
    jwt_public_jwk: { kty: 'OKP', crv: 'Ed25519', x: randomBytes(32).toString('base64url') },
    salt_key: randomBytes(32).toString('base64'),
  };
}

// --- the contract, for both stores -----------------------------------------------------------

describe.each(BACKENDS)('$name store', (backend) => {
  describe.skipIf(backend.skip)('contract', () => {
    let space: Space;
    let store: ServerStore;

    beforeEach(async () => {
      space = await backend.space();
      store = await space.open();
    });

    it('reports its kind', () => {
      expect(store.kind).toBe(backend.name);
    });

    describe('server keys', () => {
      it('creates them once, then returns the stored ones', async () => {
        const keys = serverKeys();
        expect(await store.serverKeys(async () => keys)).toEqual(keys);
        const again = await store.serverKeys(async () => {
          throw new Error('must not create twice');
        });
        expect(again).toEqual(keys);
      });

      it('gives concurrent first callers the same keys', async () => {
        const [a, b] = await Promise.all([
          store.serverKeys(async () => serverKeys()),
          store.serverKeys(async () => serverKeys()),
        ]);
        expect(a).toEqual(b);
      });
    });

    describe('sign-up', () => {
      it('lets the first account in without an invite, then requires one', async () => {
        expect(await store.createUser(userRow('first@example.com'), { requireInvite: true })).toBe(
          'created',
        );
        const second = userRow('second@example.com');
        expect(await store.createUser(second, { requireInvite: true })).toBe('invite_required');
        expect(await store.userByEmail('second@example.com')).toBeUndefined();
        expect(await store.createUser(second, { requireInvite: false })).toBe('created');
      });

      it('keeps emails unique regardless of case, and finds them regardless of case', async () => {
        const alice = userRow('Alice@Example.com');
        expect(await store.createUser(alice, { requireInvite: false })).toBe('created');
        expect(await store.createUser(userRow('alice@example.COM'), { requireInvite: false })).toBe(
          'email_taken',
        );
        expect(await store.userByEmail('ALICE@example.com')).toEqual(alice);
      });

      it('turns every invite for the email into a pending membership', async () => {
        const s = await seed(store);
        const other = await seed(store);
        for (const [workspace, role] of [
          [s.workspace, 'member'],
          [other.workspace, 'admin'],
        ] as const) {
          const invite = {
            workspace_id: workspace.id,
            email: 'Bob@example.com',
            role,
            invited_by: s.admin.id,
            created_at: AT,
          };
          expect(await store.invite(invite)).toBe('invited');
        }
        expect(await store.invites(s.workspace.id)).toEqual([
          {
            workspace_id: s.workspace.id,
            email: 'Bob@example.com',
            role: 'member',
            invited_by: s.admin.id,
            created_at: AT,
          },
        ]);

        const bob = userRow('bob@example.com');
        expect(await store.createUser(bob, { requireInvite: true })).toBe('created');
        expect(await store.member(s.workspace.id, bob.id)).toEqual({
          ...memberRow(s.workspace.id, bob.id, 'member', 'pending'),
          added_at: bob.created_at,
        });
        expect((await store.member(other.workspace.id, bob.id))?.role).toBe('admin');
        expect(await store.invites(s.workspace.id)).toEqual([]);
        expect(await store.invites(other.workspace.id)).toEqual([]);
        const mine = await store.workspacesOf(bob.id);
        expect(mine.map((w) => w.workspace.id).sort()).toEqual(
          [s.workspace.id, other.workspace.id].sort(),
        );
        expect(mine.every((w) => w.member.status === 'pending')).toBe(true);
      });

      it('finds users by id, in the order asked, skipping unknown ids', async () => {
        const a = userRow('a@example.com');
        const b = userRow('b@example.com');
        await store.createUser(a, { requireInvite: false });
        await store.createUser(b, { requireInvite: false });
        expect(await store.usersById([b.id, 'usr_nobody', a.id, b.id])).toEqual([b, a]);
        expect(await store.usersById([])).toEqual([]);
      });
    });

    describe('refresh tokens', () => {
      let user: UserRow;
      beforeEach(async () => {
        user = userRow('r@example.com');
        await store.createUser(user, { requireInvite: false });
      });

      it('consumes a token once; a second use is reported as reuse', async () => {
        const row = refreshRow(user.id);
        await store.insertRefresh(row);
        const now = new Date('2030-01-03T00:00:00.000Z');
        const used = { ...row, used_at: now.toISOString() };
        expect(await store.consumeRefresh(row.hash, now)).toEqual({ status: 'ok', row: used });
        expect(await store.consumeRefresh(row.hash, new Date('2030-01-04T00:00:00.000Z'))).toEqual({
          status: 'reused',
          row: used,
        });
      });

      it('refuses every token of a revoked family, and only that family', async () => {
        const a = refreshRow(user.id);
        const b = refreshRow(user.id, { family: a.family });
        const other = refreshRow(user.id);
        for (const row of [a, b, other]) await store.insertRefresh(row);
        await store.revokeFamily(a.family, new Date(LATER));
        const now = new Date('2030-01-03T00:00:00.000Z');
        expect(await store.consumeRefresh(a.hash, now)).toEqual({ status: 'revoked' });
        expect(await store.consumeRefresh(b.hash, now)).toEqual({ status: 'revoked' });
        expect((await store.consumeRefresh(other.hash, now)).status).toBe('ok');
      });

      it('refuses an expired token and an unknown one', async () => {
        const row = refreshRow(user.id, { expires_at: '2030-01-03T00:00:00.000Z' });
        await store.insertRefresh(row);
        expect(await store.consumeRefresh(row.hash, new Date(row.expires_at))).toEqual({
          status: 'expired',
        });
        expect(await store.consumeRefresh('f'.repeat(64), new Date(AT))).toEqual({
          status: 'unknown',
        });
      });

      it('refuses a duplicate token without quoting it', async () => {
        const row = refreshRow(user.id);
        await store.insertRefresh(row);
        const err = await rejection(store.insertRefresh(row));
        expect(err.message).not.toContain(row.hash);
      });
    });

    describe('workspaces and members', () => {
      it('creates a workspace with its admin, grants and doc, once', async () => {
        const s = await seed(store);
        expect(await store.workspace(s.workspace.id)).toEqual(s.workspace);
        expect(await store.members(s.workspace.id)).toEqual([
          memberRow(s.workspace.id, s.admin.id, 'admin', 'active'),
        ]);
        expect(await store.grants(s.workspace.id, s.admin.id)).toEqual([
          grantRow(s.workspace.id, s.admin.id, 1),
        ]);
        expect(await store.doc(s.workspace.id)).toEqual(docRow(s.workspace.id, 1, s.admin.id));
        expect(await store.workspacesOf(s.admin.id)).toEqual([
          {
            workspace: s.workspace,
            member: memberRow(s.workspace.id, s.admin.id, 'admin', 'active'),
          },
        ]);
        const again = await store.createWorkspace(
          { ...s.workspace, name: 'Other' },
          memberRow(s.workspace.id, s.admin.id, 'admin', 'active'),
          [],
          docRow(s.workspace.id, 9, s.admin.id),
        );
        expect(again).toBe('exists');
        expect(await store.workspace(s.workspace.id)).toEqual(s.workspace);
        expect((await store.doc(s.workspace.id))?.seq).toBe(1);
        expect(await store.workspace('ws_nothing')).toBeUndefined();
        expect(await store.member(s.workspace.id, 'usr_nobody')).toBeUndefined();
      });

      it('answers an invite by what the email already is', async () => {
        const s = await seed(store);
        const invite = (email: string, role: Role = 'member') =>
          store.invite({
            workspace_id: s.workspace.id,
            email,
            role,
            invited_by: s.admin.id,
            created_at: LATER,
          });
        expect(await invite('new@example.com')).toBe('invited');
        expect(await invite('NEW@example.com', 'admin')).toBe('invited');
        expect(await store.invites(s.workspace.id)).toEqual([
          {
            workspace_id: s.workspace.id,
            email: 'NEW@example.com',
            role: 'admin',
            invited_by: s.admin.id,
            created_at: LATER,
          },
        ]);

        const carol = userRow('carol@example.com');
        await store.createUser(carol, { requireInvite: false });
        expect(await invite('Carol@example.com', 'admin')).toBe('pending');
        expect(await store.member(s.workspace.id, carol.id)).toEqual({
          ...memberRow(s.workspace.id, carol.id, 'admin', 'pending'),
          added_at: LATER,
        });
        expect(await invite('carol@example.com')).toBe('already_member');
        expect(await invite(s.admin.email)).toBe('already_member');
        expect((await store.member(s.workspace.id, s.admin.id))?.status).toBe('active');
      });

      it('keeps an invite secret as its hash, carries it to the sign-up, burns it once', async () => {
        const s = await seed(store);
        const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');
        const invite = (email: string, secret: string) =>
          store.invite({
            workspace_id: s.workspace.id,
            email,
            role: 'member',
            invited_by: s.admin.id,
            created_at: LATER,
            secret_hash: hashOf(secret),
          });
        // Before the sign-up the invitation holds the hash; the account's membership takes it.
        expect(await invite('erin@example.com', 'a'.repeat(32))).toBe('invited');
        const erin = userRow('erin@example.com');
        await store.createUser(erin, { requireInvite: true });
        expect((await store.member(s.workspace.id, erin.id))?.invite_hash).toBe(
          hashOf('a'.repeat(32)),
        );
        // Invited again before accepting: the new code's hash replaces the old one.
        expect(await invite('erin@example.com', 'b'.repeat(32))).toBe('pending');
        const accept = (secret: string) =>
          store.acceptInvite(s.workspace.id, erin.id, hashOf(secret));
        expect(await accept('a'.repeat(32))).toBe('wrong_secret');
        expect(await accept('c'.repeat(32))).toBe('wrong_secret');
        expect(await accept('b'.repeat(32))).toBe('accepted');
        expect((await store.member(s.workspace.id, erin.id))?.invite_hash).toBeUndefined();
        expect(await accept('b'.repeat(32))).toBe('used');
        expect(await store.acceptInvite(s.workspace.id, 'usr_nobody', hashOf('b'))).toBe(
          'not_invited',
        );
        // Accepted, an invite no longer renews anything.
        expect(await invite('erin@example.com', 'd'.repeat(32))).toBe('already_member');
      });

      it('refuses an invite to a workspace that does not exist', async () => {
        const err = await rejection(
          store.invite({
            workspace_id: 'ws_nothing',
            email: 'x@example.com',
            role: 'member',
            invited_by: 'usr_x',
            created_at: AT,
          }),
        );
        expect(err.code).toBe('workspace_not_found');
      });

      it('confirms a pending member only, with its grants', async () => {
        const s = await seed(store);
        const dave = userRow('dave@example.com');
        await store.createUser(dave, { requireInvite: false });
        const grants = [grantRow(s.workspace.id, dave.id, 1, s.admin.id)];
        expect(await store.confirmMember(s.workspace.id, dave.id, s.admin.id, grants)).toBe(
          'not_pending',
        );
        expect(await store.grants(s.workspace.id, dave.id)).toEqual([]);

        await store.invite({
          workspace_id: s.workspace.id,
          email: dave.email,
          role: 'member',
          invited_by: s.admin.id,
          created_at: AT,
        });
        expect(await store.confirmMember(s.workspace.id, dave.id, s.admin.id, grants)).toBe(
          'confirmed',
        );
        expect(await store.member(s.workspace.id, dave.id)).toEqual({
          ...memberRow(s.workspace.id, dave.id, 'member', 'active'),
          confirmed_by: s.admin.id,
        });
        expect(await store.grants(s.workspace.id, dave.id)).toEqual(grants);
        expect(await store.confirmMember(s.workspace.id, dave.id, s.admin.id, grants)).toBe(
          'not_pending',
        );
        expect(await store.confirmMember(s.workspace.id, 'usr_nobody', s.admin.id, [])).toBe(
          'not_pending',
        );
      });

      it('changes a role with the doc, only at the expected seq', async () => {
        const s = await seed(store);
        const erin = await addMember(store, s, 'erin@example.com');
        const tokenGrant: GrantRow = {
          ...grantRow(s.workspace.id, erin.id, 1, s.admin.id),
          kind: 'token',
        };
        const doc2 = docRow(s.workspace.id, 2, s.admin.id);

        expect(await store.setRole(s.workspace.id, erin.id, 'admin', [tokenGrant], doc2, 7)).toBe(
          'conflict',
        );
        expect((await store.member(s.workspace.id, erin.id))?.role).toBe('member');
        expect(await store.grants(s.workspace.id, erin.id)).toHaveLength(1);
        expect((await store.doc(s.workspace.id))?.seq).toBe(1);

        expect(await store.setRole(s.workspace.id, erin.id, 'admin', [tokenGrant], doc2, 1)).toBe(
          'ok',
        );
        expect((await store.member(s.workspace.id, erin.id))?.role).toBe('admin');
        // By epoch, then kind.
        expect(await store.grants(s.workspace.id, erin.id)).toEqual([
          tokenGrant,
          grantRow(s.workspace.id, erin.id, 1, s.admin.id),
        ]);
        expect(await store.doc(s.workspace.id)).toEqual(doc2);
        expect(
          await store.setRole(
            s.workspace.id,
            'usr_nobody',
            'admin',
            [],
            docRow(s.workspace.id, 3, s.admin.id),
            2,
          ),
        ).toBe('conflict');
        expect((await store.doc(s.workspace.id))?.seq).toBe(2);
      });

      it('replaces the doc by compare and set', async () => {
        const s = await seed(store);
        const doc2 = docRow(s.workspace.id, 2, s.admin.id);
        expect(await store.putDoc(doc2, 0)).toBe(false);
        expect(await store.doc(s.workspace.id)).toEqual(docRow(s.workspace.id, 1, s.admin.id));
        expect(await store.putDoc(doc2, 1)).toBe(true);
        expect(await store.doc(s.workspace.id)).toEqual(doc2);
        expect(await store.putDoc(docRow(s.workspace.id, 3, s.admin.id), 1)).toBe(false);
        expect(await store.putDoc(docRow('ws_nothing', 2, s.admin.id), 1)).toBe(false);
        expect(await store.doc('ws_nothing')).toBeUndefined();
      });

      it('keeps every document as the log, whatever wrote the head (F6)', async () => {
        const s = await seed(store);
        const frank = await addMember(store, s, 'frank@example.com');
        expect(await store.putDoc(docRow(s.workspace.id, 2, s.admin.id), 1)).toBe(true);
        expect(
          await store.setRole(
            s.workspace.id,
            frank.id,
            'admin',
            [],
            docRow(s.workspace.id, 3, s.admin.id),
            2,
          ),
        ).toBe('ok');
        const records = await store.allRecords(s.workspace.id);
        const input = rotation(s, records, { remove_user_id: null });
        expect(
          await store.rotate({
            ...input,
            doc: docRow(s.workspace.id, 4, frank.id),
            expected_seq: 3,
          }),
        ).toBe('ok');
        expect(await store.putDoc(docRow(s.workspace.id, 9, s.admin.id), 3)).toBe(false);
        const log = await store.docChain(s.workspace.id, 0, 100);
        expect(log.map((d) => [d.seq, d.signer])).toEqual([
          [1, s.admin.id],
          [2, s.admin.id],
          [3, s.admin.id],
          [4, frank.id],
        ]);
        expect(log[3]).toEqual(await store.doc(s.workspace.id));
        expect((await store.docChain(s.workspace.id, 2, 100)).map((d) => d.seq)).toEqual([3, 4]);
        expect((await store.docChain(s.workspace.id, 0, 2)).map((d) => d.seq)).toEqual([1, 2]);
        expect(await store.docChain('ws_nothing', 0, 100)).toEqual([]);
      });

      it('keeps the newest heartbeat per signer', async () => {
        const s = await seed(store);
        const beat = (signer: string, body: string) => ({
          workspace_id: s.workspace.id,
          signer,
          body,
          signature: 'c2ln',
        });
        await store.putHeartbeat(beat(s.admin.id, '{"at":1}'));
        await store.putHeartbeat(beat(s.admin.id, '{"at":2}'));
        await store.putHeartbeat(beat('usr_other0001', '{"at":3}'));
        expect((await store.heartbeats(s.workspace.id)).map((h) => [h.signer, h.body])).toEqual(
          [
            [s.admin.id, '{"at":2}'],
            ['usr_other0001', '{"at":3}'],
          ].sort((x, y) => (x[0]! < y[0]! ? -1 : 1)),
        );
        expect(await store.heartbeats('ws_nothing')).toEqual([]);
      });
    });

    describe('projects', () => {
      it('creates a project once, with a name unique in its workspace', async () => {
        const s = await seed(store);
        const other = await seed(store);
        const project = (workspaceId: string, name: string, projectId = id('prj')): ProjectRow => ({
          workspace_id: workspaceId,
          id: projectId,
          name,
          created_by: s.admin.id,
          created_at: AT,
        });
        expect(await store.putProject({ ...s.project, name: 'renamed' })).toBe('exists');
        expect(await store.putProject(project(s.workspace.id, 'api'))).toBe('name_taken');
        const web = project(s.workspace.id, 'web');
        expect(await store.putProject(web)).toBe('created');
        expect(await store.putProject(project(other.workspace.id, 'web'))).toBe('created');
        expect(await store.projects(s.workspace.id)).toEqual([s.project, web]);
        const err = await rejection(store.putProject(project('ws_nothing', 'x')));
        expect(err.code).toBe('workspace_not_found');
      });
    });

    describe('push', () => {
      let s: Seeded;
      beforeEach(async () => {
        s = await seed(store);
      });

      it('keeps the signed manifest in step with the records, and applies deletions (F10)', async () => {
        const manifest = (seq: number) => ({
          workspace_id: s.workspace.id,
          project_id: s.project.id,
          environment: ENV,
          seq,
          body: `{"seq":${seq}}`,
          signature: 'sig',
          signer: s.admin.id,
        });
        const push = (
          changes: PushChangeRow[],
          seq: number,
          deletions = [] as { key: string; base_version: number }[],
        ) =>
          store.push(s.workspace.id, s.project.id, ENV, changes, {
            force: false,
            userId: s.admin.id,
            now: new Date(AT),
            deletions,
            manifest: manifest(seq),
          });
        expect((await push([change('A', null, 1), change('B', null, 1)], 1)).status).toBe('ok');
        expect(await store.manifest(s.workspace.id, s.project.id, ENV)).toEqual(manifest(1));
        // A manifest that does not follow the stored one: nothing is written.
        expect(await push([change('A', 1, 2)], 1)).toEqual({ status: 'manifest_conflict', seq: 1 });
        expect((await store.records(s.workspace.id, s.project.id, ENV))[0]!.version).toBe(1);
        // A deletion from a moved base is a conflict; from the right one it removes the record.
        expect((await push([], 2, [{ key: 'A', base_version: 5 }])).status).toBe('conflict');
        expect((await push([], 2, [{ key: 'A', base_version: 1 }])).status).toBe('ok');
        expect((await store.records(s.workspace.id, s.project.id, ENV)).map((r) => r.key)).toEqual([
          'B',
        ]);
        expect(await store.manifests(s.workspace.id)).toEqual([manifest(2)]);
      });

      it('adds a new key at version 1 and updates it from the right base', async () => {
        const first = change('API_KEY', null, 1);
        const pushed = await pushTo(store, s, [first]);
        const record: RecordRow = {
          workspace_id: s.workspace.id,
          project_id: s.project.id,
          environment: ENV,
          key: 'API_KEY',
          version: 1,
          epoch: 1,
          nonce: first.nonce,
          ciphertext: first.ciphertext,
          digest: first.digest,
          updated_at: AT,
          updated_by: s.admin.id,
        };
        expect(pushed).toEqual({ status: 'ok', records: [record] });
        expect(await store.records(s.workspace.id, s.project.id, ENV)).toEqual([record]);

        const second = change('API_KEY', 1, 2);
        expect((await pushTo(store, s, [second])).status).toBe('ok');
        const [stored] = await store.records(s.workspace.id, s.project.id, ENV);
        expect(stored).toMatchObject({ version: 2, ciphertext: second.ciphertext });
        expect(await store.records(s.workspace.id, s.project.id, 'production')).toEqual([]);
      });

      it('refuses the whole push when one base is wrong, and writes nothing', async () => {
        await pushTo(store, s, [change('A', null, 1), change('B', null, 1)]);
        const before = await store.allRecords(s.workspace.id);
        const outcome = await pushTo(store, s, [
          change('A', 1, 2),
          change('B', null, 2),
          change('C', null, 1),
          change('D', 3, 1),
        ]);
        expect(outcome).toEqual({
          status: 'conflict',
          conflicts: [
            { key: 'B', remote_version: 1 },
            { key: 'D', remote_version: null },
          ],
        });
        expect(await store.allRecords(s.workspace.id)).toEqual(before);
      });

      it('skips the base check under force, never the version check', async () => {
        await pushTo(store, s, [change('A', null, 1)]);
        await pushTo(store, s, [change('A', 1, 2)]);
        expect(await pushTo(store, s, [change('A', 1, 2)], { force: true })).toEqual({
          status: 'conflict',
          conflicts: [{ key: 'A', remote_version: 2 }],
        });
        expect(await pushTo(store, s, [change('N', null, 2)])).toEqual({
          status: 'conflict',
          conflicts: [{ key: 'N', remote_version: null }],
        });
        const forced = await pushTo(store, s, [change('A', 1, 3), change('N', 5, 1)], {
          force: true,
        });
        expect(forced.status).toBe('ok');
        const versions = (await store.records(s.workspace.id, s.project.id, ENV)).map((r) => [
          r.key,
          r.version,
        ]);
        expect(versions).toEqual([
          ['A', 3],
          ['N', 1],
        ]);
      });

      it('refuses a change under another epoch', async () => {
        expect(await pushTo(store, s, [change('A', null, 1), change('B', null, 1, 0)])).toEqual({
          status: 'stale_epoch',
          epoch: 1,
        });
        expect(await store.allRecords(s.workspace.id)).toEqual([]);
      });

      it('refuses a push that names a key twice', async () => {
        await pushTo(store, s, [change('A', null, 1)]);
        expect(await pushTo(store, s, [change('A', 1, 2), change('A', 1, 2)])).toEqual({
          status: 'conflict',
          conflicts: [{ key: 'A', remote_version: 1 }],
        });
        expect(await pushTo(store, s, [change('Z', null, 1), change('Z', 1, 2)])).toEqual({
          status: 'conflict',
          conflicts: [{ key: 'Z', remote_version: null }],
        });
        expect(
          (await store.records(s.workspace.id, s.project.id, ENV)).map((r) => r.version),
        ).toEqual([1]);
      });

      it('accepts an empty push', async () => {
        expect(await pushTo(store, s, [])).toEqual({ status: 'ok', records: [] });
      });

      it('refuses an unknown workspace or project', async () => {
        const noProject = store.push(s.workspace.id, 'prj_nothing', ENV, [change('A', null, 1)], {
          force: false,
          userId: s.admin.id,
          now: new Date(AT),
        });
        expect((await rejection(noProject)).code).toBe('project_not_found');
        const noWorkspace = store.push('ws_nothing', s.project.id, ENV, [change('A', null, 1)], {
          force: false,
          userId: s.admin.id,
          now: new Date(AT),
        });
        expect((await rejection(noWorkspace)).code).toBe('workspace_not_found');
      });

      it('lists every record of the workspace, across projects and environments', async () => {
        const web: ProjectRow = { ...s.project, id: id('prj'), name: 'web' };
        await store.putProject(web);
        await pushTo(store, s, [change('B', null, 1), change('A', null, 1)]);
        await pushTo(store, s, [change('A', null, 1)], { environment: 'production' });
        await store.push(s.workspace.id, web.id, ENV, [change('W', null, 1)], {
          force: false,
          userId: s.admin.id,
          now: new Date(AT),
        });
        const all = await store.allRecords(s.workspace.id);
        const expected = [
          [s.project.id, ENV, 'A'],
          [s.project.id, ENV, 'B'],
          [s.project.id, 'production', 'A'],
          [web.id, ENV, 'W'],
        ].sort((a, b) => (a.join('\n') < b.join('\n') ? -1 : 1));
        expect(all.map((r) => [r.project_id, r.environment, r.key])).toEqual(expected);
        expect(await store.allRecords((await seed(store)).workspace.id)).toEqual([]);
      });
    });

    describe('rotate', () => {
      let s: Seeded;
      let frank: UserRow;
      let records: RecordRow[];
      beforeEach(async () => {
        s = await seed(store);
        frank = await addMember(store, s, 'frank@example.com');
        await pushTo(store, s, [change('A', null, 1), change('B', null, 1)]);
        await pushTo(store, s, [change('A', 1, 2)]);
        await pushTo(store, s, [change('A', null, 1)], { environment: 'production' });
        records = await store.allRecords(s.workspace.id);
      });

      it('moves the workspace to the new epoch in one step', async () => {
        const input = rotation(s, records, { remove_user_id: frank.id });
        expect(await store.rotate(input)).toBe('ok');
        expect((await store.workspace(s.workspace.id))?.epoch).toBe(2);
        expect(await store.allRecords(s.workspace.id)).toEqual(input.records);
        expect(await store.member(s.workspace.id, frank.id)).toBeUndefined();
        expect(await store.grants(s.workspace.id, frank.id)).toEqual([]);
        expect(await store.grants(s.workspace.id, s.admin.id)).toEqual([
          grantRow(s.workspace.id, s.admin.id, 1),
          grantRow(s.workspace.id, s.admin.id, 2),
        ]);
        expect(await store.doc(s.workspace.id)).toEqual(input.doc);
        expect(await store.workspacesOf(frank.id)).toEqual([]);
        expect(await pushTo(store, s, [change('C', null, 1)])).toEqual({
          status: 'stale_epoch',
          epoch: 2,
        });
        expect((await pushTo(store, s, [change('C', null, 1, 2)])).status).toBe('ok');
      });

      it('keeps every member when nobody is removed', async () => {
        expect(await store.rotate(rotation(s, records))).toBe('ok');
        expect((await store.member(s.workspace.id, frank.id))?.status).toBe('active');
      });

      const refusals: [string, (input: RotateInput, current: RecordRow[]) => RotateInput][] = [
        ['the epoch moved', (input) => ({ ...input, from_epoch: 0 })],
        ['the doc moved', (input) => ({ ...input, expected_seq: 0 })],
        ['a record is missing', (input) => ({ ...input, records: input.records.slice(1) })],
        [
          'a record is extra',
          (input) => ({
            ...input,
            records: [...input.records, { ...input.records[0]!, key: 'EXTRA', version: 1 }],
          }),
        ],
        [
          'a record is at another version',
          (input) => ({
            ...input,
            records: input.records.map((r) => ({ ...r, version: r.version + 1 })),
          }),
        ],
        [
          'a record is given twice',
          (input) => ({ ...input, records: [...input.records.slice(1), input.records[1]!] }),
        ],
      ];
      it.each(refusals)('refuses when %s, and changes nothing', async (_case, alter) => {
        const input = alter(rotation(s, records, { remove_user_id: frank.id }), records);
        expect(await store.rotate(input)).toBe('conflict');
        expect((await store.workspace(s.workspace.id))?.epoch).toBe(1);
        expect(await store.allRecords(s.workspace.id)).toEqual(records);
        expect((await store.member(s.workspace.id, frank.id))?.status).toBe('active');
        expect(await store.grants(s.workspace.id, frank.id)).toHaveLength(1);
        expect((await store.doc(s.workspace.id))?.seq).toBe(1);
      });

      it('refuses a rotation that a push overtook', async () => {
        await pushTo(store, s, [change('B', 1, 2)]);
        expect(await store.rotate(rotation(s, records))).toBe('conflict');
      });
    });
  });
});

// --- the file store only -------------------------------------------------------------------

describe('file store', () => {
  async function populate(store: ServerStore): Promise<Seeded> {
    const s = await seed(store);
    await store.serverKeys(async () => serverKeys());
    await addMember(store, s, 'gina@example.com');
    await store.invite({
      workspace_id: s.workspace.id,
      email: 'later@example.com',
      role: 'admin',
      invited_by: s.admin.id,
      created_at: AT,
    });
    await store.insertRefresh(refreshRow(s.admin.id));
    await pushTo(store, s, [change('A', null, 1), change('B', null, 1)]);
    await pushTo(store, s, [change('A', null, 1)], { environment: 'production' });
    return s;
  }

  async function snapshot(store: ServerStore, s: Seeded) {
    const members = await store.members(s.workspace.id);
    return {
      keys: await store.serverKeys(async () => {
        throw new Error('the keys were lost');
      }),
      users: await store.usersById([s.admin.id, ...members.map((m) => m.user_id)]),
      byEmail: await store.userByEmail('GINA@example.com'),
      workspace: await store.workspace(s.workspace.id),
      mine: await store.workspacesOf(s.admin.id),
      members,
      invites: await store.invites(s.workspace.id),
      grants: await Promise.all(members.map((m) => store.grants(s.workspace.id, m.user_id))),
      doc: await store.doc(s.workspace.id),
      projects: await store.projects(s.workspace.id),
      records: await store.allRecords(s.workspace.id),
    };
  }

  it('keeps everything across a close and a reopen', async () => {
    const space = await fileSpace();
    const store = await space.open();
    const s = await populate(store);
    const token = refreshRow(s.admin.id);
    await store.insertRefresh(token);
    const before = await snapshot(store, s);
    await store.close();

    const reopened = await space.open();
    expect(await snapshot(reopened, s)).toEqual(before);
    expect((await reopened.consumeRefresh(token.hash, new Date(AT))).status).toBe('ok');
    await reopened.close();
    const third = await space.open();
    expect((await third.consumeRefresh(token.hash, new Date(AT))).status).toBe('reused');
  });

  it('writes one compact, private document in a private folder', async () => {
    const space = await fileSpace();
    const store = await space.open();
    await populate(store);
    const file = join(space.dir, 'store.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(space.dir)).mode & 0o777).toBe(0o700);
    const text = await readFile(file, 'utf8');
    expect(text).not.toContain('\n');
    expect(JSON.parse(text)).toMatchObject({ format: 1 });
  });

  it('refuses a second store on the same folder while the first is open', async () => {
    const space = await fileSpace();
    const store = await space.open();
    const err = await rejection(space.open());
    expect(err.code).toBe('store_busy');
    expect(err.message).toContain(String(process.pid));
    expect(err.message).toContain('--store postgres');
    await store.close();
    await expect(space.open()).resolves.toBeDefined();
  });

  it.each([
    ['a dead process', () => JSON.stringify({ pid: deadPid(), started: 1 })],
    ['an earlier process with this pid', () => JSON.stringify({ pid: process.pid, started: 1 })],
    ['a writer that died mid-write', () => ''],
  ])('takes over a lock left by %s', async (_case, content) => {
    const space = await fileSpace();
    await mkdir(space.dir, { recursive: true });
    await writeFile(join(space.dir, 'server.lock'), content());
    await space.open();
    const holder = JSON.parse(await readFile(join(space.dir, 'server.lock'), 'utf8')) as {
      pid: number;
    };
    expect(holder.pid).toBe(process.pid);
  });

  it('removes its lock at close', async () => {
    const space = await fileSpace();
    const store = await space.open();
    await store.close();
    await expect(stat(join(space.dir, 'server.lock'))).rejects.toThrow();
  });

  it('keeps the old state in memory and on disk when a write fails', async () => {
    const space = await fileSpace();
    const store = await space.open();
    const s = await populate(store);
    const file = join(space.dir, 'store.json');
    const saved = await readFile(file, 'utf8');
    const before = await snapshot(store, s);
    // A folder where the document should be: the rename over it fails.
    await rm(file);
    await mkdir(join(file, 'blocker'), { recursive: true });

    await expect(pushTo(store, s, [change('NEW', null, 1)])).rejects.toThrow();
    await expect(store.putDoc(docRow(s.workspace.id, 2, s.admin.id), 1)).rejects.toThrow();
    expect(await snapshot(store, s)).toEqual(before);

    await rm(file, { recursive: true });
    await writeFile(file, saved);
    expect((await pushTo(store, s, [change('NEW', null, 1)])).status).toBe('ok');
    await store.close();
    const reopened = await space.open();
    expect((await reopened.allRecords(s.workspace.id)).map((r) => r.key)).toContain('NEW');
  });

  it('serialises concurrent changes: every one lands', async () => {
    const space = await fileSpace();
    const store = await space.open();
    const s = await seed(store);
    const keys = Array.from({ length: 25 }, (_, i) => `K${String(i).padStart(2, '0')}`);
    const outcomes = await Promise.all(keys.map((key) => pushTo(store, s, [change(key, null, 1)])));
    expect(outcomes.every((o) => o.status === 'ok')).toBe(true);
    await store.close();
    const reopened = await space.open();
    expect((await reopened.allRecords(s.workspace.id)).map((r) => r.key)).toEqual(keys);
  });

  it('refuses a damaged document without quoting it, and frees the folder', async () => {
    const space = await fileSpace();
    await mkdir(space.dir, { recursive: true });
    const secretish = `CANARY_${randomBytes(8).toString('hex')}`;
    await writeFile(join(space.dir, 'store.json'), `{"format":1,"users":"${secretish}"`);
    const err = await rejection(space.open());
    expect(err.code).toBe('corrupt_state');
    expect(err.message).not.toContain(secretish);
    await rm(join(space.dir, 'store.json'));
    await expect(space.open()).resolves.toBeDefined();
  });

  it('refuses to be used before init', async () => {
    const store = await createFileStore({ dir: join(await tempDir(), 'server') });
    expect((await rejection(store.workspace('ws_x'))).code).toBe('internal_error');
  });
});

// --- PostgreSQL only: several processes on one database ----------------------------------

describe.skipIf(pgProblem !== undefined)('postgres store across processes', () => {
  it('migrates once when several instances start together', async () => {
    const space = await postgresSpace();
    await Promise.all([space.open(), space.open(), space.open()]);
    const { rows } = await pgAdmin!.query<{ version: number }>(
      `SELECT version FROM "${space.schema}".agentsecrets_migrations ORDER BY version`,
    );
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
  });

  it('lets exactly one of two concurrent pushes from the same base win, every round', async () => {
    const space = await postgresSpace();
    const [a, b] = await Promise.all([space.open(), space.open()]);
    const s = await seed(a!);
    let base: number | null = null;
    for (let round = 0; round < 20; round += 1) {
      const version: number = (base ?? 0) + 1;
      const changes = [change('RACE', base, version), change('RACE', base, version)];
      const outcomes = await Promise.all([
        pushTo(a!, s, [changes[0]!]),
        pushTo(b!, s, [changes[1]!]),
      ]);
      const statuses = outcomes.map((o) => o.status).sort();
      expect(statuses).toEqual(['conflict', 'ok']);
      const winner = changes[outcomes.findIndex((o) => o.status === 'ok')]!;
      const [stored] = await b!.records(s.workspace.id, s.project.id, ENV);
      expect(stored).toMatchObject({ version, ciphertext: winner.ciphertext });
      base = version;
    }
  });

  it('lets exactly one of two instances consume a refresh token', async () => {
    const space = await postgresSpace();
    const [a, b] = await Promise.all([space.open(), space.open()]);
    const user = userRow('race@example.com');
    await a!.createUser(user, { requireInvite: false });
    for (let round = 0; round < 20; round += 1) {
      const row = refreshRow(user.id);
      await a!.insertRefresh(row);
      const now = new Date(AT);
      const outcomes = await Promise.all([
        a!.consumeRefresh(row.hash, now),
        b!.consumeRefresh(row.hash, now),
      ]);
      expect(outcomes.map((o) => o.status).sort()).toEqual(['ok', 'reused']);
    }
  });

  it('lets exactly one first account in when two sign up at once under invite-only', async () => {
    const space = await postgresSpace();
    const [a, b] = await Promise.all([space.open(), space.open()]);
    const outcomes = await Promise.all([
      a!.createUser(userRow('one@example.com'), { requireInvite: true }),
      b!.createUser(userRow('two@example.com'), { requireInvite: true }),
    ]);
    expect(outcomes.sort()).toEqual(['created', 'invite_required']);
  });

  it('gives every instance the keys of the first writer', async () => {
    const space = await postgresSpace();
    const [a, b] = await Promise.all([space.open(), space.open()]);
    const [ka, kb] = await Promise.all([
      a!.serverKeys(async () => serverKeys()),
      b!.serverKeys(async () => serverKeys()),
    ]);
    expect(ka).toEqual(kb);
  });

  it('refuses a schema name it cannot quote safely', async () => {
    const err = await rejection(
      createPostgresStore({ url: POSTGRES_URL, schema: 'x"; DROP TABLE users; --' }),
    );
    expect(err.code).toBe('usage_error');
  });
});
