import { timingSafeEqual } from 'node:crypto';
import type { HttpBindings } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import type * as z from 'zod';
import { AgentSecretsError, type ErrorCode, toAgentSecretsError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import { fromBase64 } from '../crypto/aead.js';
import { loadSodium, type Sodium } from '../crypto/sodium.js';
import { authKeyHash, memberFingerprint, verifyDocSignature } from '../sync/crypto.js';
import { docHash, verifyHeartbeatSignature } from '../sync/chain.js';
import { parseDocBody, type WorkspaceDoc } from '../sync/doc.js';
import * as wire from '../sync/wire.js';
import type { CidrSet } from '../proxy/ssrf.js';
import type { Sessions } from './auth.js';
import { clientAddress } from './client-address.js';
import { createBackoff, createRateLimiter } from './rate-limit.js';
import type { DocRow, GrantRow, MemberRow, ServerStore, UserRow } from './store.js';

/**
 * The sync server's HTTP API (DESIGN §10). It stores and serves what clients encrypt, seal
 * and sign; it enforces sessions, membership and roles on every endpoint, and checks what it
 * can (an admin's signature on a document) without being trusted for it: clients verify
 * again.
 */

export interface AppOptions {
  store: ServerStore;
  sessions: Sessions;
  logger: Logger;
  signup: 'open' | 'invite';
  now?: () => Date;
  /** Reverse proxies whose X-Forwarded-For is believed (`server start --trust-proxy`). */
  trustProxy?: CidrSet;
}

type Env = { Bindings: HttpBindings; Variables: { userId: string } };
type Ctx = Context<Env>;

const STATUS: Partial<Record<ErrorCode, number>> = {
  bad_request: 400,
  usage_error: 400,
  unauthorized: 401,
  forbidden: 403,
  signature_invalid: 400,
  not_found: 404,
  conflict: 409,
  stale_epoch: 409,
  request_too_large: 413,
  rate_limited: 429,
  store_busy: 503,
};

const SMALL = 64 * 1024;
/** Links of the document log per answer; a client pages through longer ones. */
const CHAIN_PAGE = 2000;
const PUSH = 32 * 1024 * 1024;
const ROTATE = 128 * 1024 * 1024;

function fail(code: ErrorCode, message: string): AgentSecretsError {
  return new AgentSecretsError(code, message);
}

/** Parses the JSON body against `schema`; the error names the field, never its value. */
async function body<T extends z.ZodType>(c: Ctx, schema: T): Promise<z.infer<T>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw fail('bad_request', 'the request body is not valid JSON');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw fail('bad_request', `invalid ${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  return parsed.data;
}

export async function createApp(options: AppOptions): Promise<Hono<Env>> {
  const { store, sessions, logger } = options;
  const now = options.now ?? (() => new Date());
  const sodium: Sodium = await loadSodium();
  const authLimit = createRateLimiter({ limit: 20, windowMs: 60_000, now: () => now().getTime() });
  // Per email: failures back off (1 s doubling to 30 s after 5), never a lock-out (F11).
  const emailBackoff = createBackoff({
    free: 5,
    baseMs: 1000,
    maxMs: 30_000,
    now: () => now().getTime(),
  });
  // Refresh tokens are 256 random bits: nothing to guess, so only hammering is limited.
  const refreshLimit = createRateLimiter({
    limit: 600,
    windowMs: 60_000,
    now: () => now().getTime(),
  });
  const app = new Hono<Env>();

  app.onError((err, c) => {
    const error = toAgentSecretsError(err);
    const status = STATUS[error.code] ?? 500;
    if (status === 500) logger.error({ code: error.code, err: errorName(err) }, 'request failed');
    return c.json({ error: error.code, message: error.message }, status as 500);
  });
  app.notFound((c) => c.json({ error: 'not_found', message: 'no such endpoint' }, 404));

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    // Key holders poll every few seconds: successful reads are debug, the rest info.
    const quiet = c.req.method === 'GET' && c.res.status < 400;
    logger[quiet ? 'debug' : 'info'](
      {
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round((performance.now() - started) * 10) / 10,
        user: c.get('userId') ?? null,
      },
      'request',
    );
  });

  const limit = (maxSize: number) =>
    bodyLimit({
      maxSize,
      // The rest of the body is not read: the connection cannot carry another request.
      onError: (c) =>
        c.json(
          { error: 'request_too_large', message: `the request body is over ${maxSize} bytes` },
          413,
          { connection: 'close' },
        ),
    });

  const clientKey = (c: Ctx) =>
    clientAddress(
      c.env?.incoming?.socket?.remoteAddress,
      c.req.header('x-forwarded-for'),
      options.trustProxy,
    );
  const throttle = (c: Ctx, email?: string, limiter = authLimit) => {
    const retry =
      limiter.take(clientKey(c)) ?? (email ? emailBackoff.wait(email.toLowerCase()) : undefined);
    if (retry !== undefined) {
      c.header('Retry-After', String(Math.ceil(retry / 1000)));
      throw fail('rate_limited', `too many attempts; try again in ${Math.ceil(retry / 1000)} s`);
    }
  };

  const publicUser = (u: UserRow) => ({
    id: u.id,
    email: u.email,
    box_public: u.box_public,
    sign_public: u.sign_public,
    fingerprint: memberFingerprint(sodium, fromBase64(u.box_public), fromBase64(u.sign_public)),
  });

  app.get('/health', (c) => c.json({ ok: true, store: store.kind }));

  // --- accounts and sessions -------------------------------------------------------------

  app.post('/v1/auth/params', limit(SMALL), async (c) => {
    const { email } = await body(c, wire.authParamsRequest);
    throttle(c);
    const user = await store.userByEmail(email);
    return c.json({ kdf: user?.kdf ?? sessions.fakeKdf(email) });
  });

  app.post('/v1/auth/signup', limit(SMALL), async (c) => {
    const req = await body(c, wire.signupRequest);
    throttle(c, req.email);
    const user: UserRow = {
      id: randomId('usr'),
      email: req.email,
      auth_hash: authKeyHash(fromBase64(req.auth_key)),
      kdf: req.kdf,
      box_public: req.box_public,
      sign_public: req.sign_public,
      wrapped_keys: req.wrapped_keys,
      created_at: now().toISOString(),
    };
    const outcome = await store.createUser(user, { requireInvite: options.signup === 'invite' });
    if (outcome === 'email_taken')
      throw fail(
        'conflict',
        'an account with this email exists; sign in with `agentsecrets login`',
      );
    if (outcome === 'invite_required')
      throw fail(
        'forbidden',
        'this server accepts sign-ups by invitation only: ask a workspace admin to run `agentsecrets workspace invite <your email>` first',
      );
    const tokens = await sessions.issue(user.id);
    return c.json({ ...tokens, user: publicUser(user) }, 201);
  });

  app.post('/v1/auth/login', limit(SMALL), async (c) => {
    const req = await body(c, wire.loginRequest);
    throttle(c, req.email);
    const user = await store.userByEmail(req.email);
    const presented = authKeyHash(fromBase64(req.auth_key));
    if (user === undefined || !sameDigest(user.auth_hash, presented)) {
      emailBackoff.fail(req.email.toLowerCase());
      throw fail('unauthorized', 'wrong email or password');
    }
    emailBackoff.succeed(req.email.toLowerCase());
    const tokens = await sessions.issue(user.id);
    return c.json({
      ...tokens,
      user: publicUser(user),
      kdf: user.kdf,
      wrapped_keys: user.wrapped_keys,
    });
  });

  app.post('/v1/auth/refresh', limit(SMALL), async (c) => {
    const { refresh_token } = await body(c, wire.refreshRequest);
    throttle(c, undefined, refreshLimit);
    const { userId, tokens } = await sessions.refresh(refresh_token);
    const [user] = await store.usersById([userId]);
    if (user === undefined) throw fail('unauthorized', 'this account no longer exists');
    return c.json({ ...tokens, user: publicUser(user) });
  });

  app.post('/v1/auth/logout', limit(SMALL), async (c) => {
    const { refresh_token } = await body(c, wire.refreshRequest);
    await sessions.revoke(refresh_token);
    return c.json({ ok: true });
  });

  // --- everything below needs a session ------------------------------------------------

  app.use('/v1/*', async (c, next) => {
    if (c.req.path.startsWith('/v1/auth/')) return next();
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer (\S+)$/.exec(header);
    if (match === null)
      throw fail('unauthorized', 'sign in first (`agentsecrets login`): no session was presented');
    c.set('userId', await sessions.verifyAccess(match[1]!));
    await next();
  });

  app.get('/v1/me', async (c) => {
    const [user] = await store.usersById([c.get('userId')]);
    if (user === undefined) throw fail('unauthorized', 'this account no longer exists');
    return c.json({ user: publicUser(user) });
  });

  /** The caller's membership; admins only when `admin`. Pending members cannot act. */
  async function membership(c: Ctx, admin = false): Promise<MemberRow> {
    const workspaceId = c.req.param('ws')!;
    const member = await store.member(workspaceId, c.get('userId'));
    if (member === undefined || member.status !== 'active')
      throw fail('not_found', 'no such workspace, or you are not a confirmed member of it');
    if (admin && member.role !== 'admin')
      throw fail('forbidden', 'only a workspace admin can do this; ask one of the admins');
    return member;
  }

  /** Checks a signed doc an admin sends: signer is the caller, signature valid, next seq. */
  async function acceptDoc(
    c: Ctx,
    signed: wire.SignedDoc,
    expect: { epoch: number; admins?: readonly string[] },
  ): Promise<{ row: DocRow; doc: WorkspaceDoc; expectedSeq: number }> {
    const workspaceId = c.req.param('ws')!;
    const userId = c.get('userId');
    if (signed.signer !== userId) throw fail('signature_invalid', 'sign the document yourself');
    const [signer] = await store.usersById([userId]);
    if (!verifyDocSignature(sodium, fromBase64(signer!.sign_public), signed.body, signed.signature))
      throw fail('signature_invalid', 'the document signature does not verify with your key');
    const doc = parseDocBody(signed.body);
    const current = await store.doc(workspaceId);
    const expectedSeq = current?.seq ?? 0;
    if (doc.workspace_id !== workspaceId)
      throw fail('signature_invalid', 'the document is for another workspace');
    // The log stays one chain: a link must name the head it follows (clients check it too).
    if (
      doc.seq !== expectedSeq + 1 ||
      (current !== undefined && doc.prev_hash !== null && doc.prev_hash !== docHash(current.body))
    )
      throw fail(
        'conflict',
        `the workspace document moved on (now seq ${expectedSeq}); sync and retry`,
      );
    if (doc.epoch !== expect.epoch)
      throw fail(
        'stale_epoch',
        `the document names key epoch ${doc.epoch}, the workspace is at ${expect.epoch}`,
      );
    if (expect.admins !== undefined) {
      const named = doc.admins.map((a) => a.user_id).sort();
      if (named.join() !== [...expect.admins].sort().join())
        throw fail('bad_request', "the document's admins do not match the workspace's admins");
    }
    const row: DocRow = {
      workspace_id: workspaceId,
      seq: doc.seq,
      body: signed.body,
      signature: signed.signature,
      signer: userId,
      updated_at: now().toISOString(),
    };
    return { row, doc, expectedSeq };
  }

  async function adminIds(
    workspaceId: string,
    change?: { userId: string; role: 'admin' | 'member' | null },
  ) {
    const members = await store.members(workspaceId);
    const ids = new Set(
      members.filter((m) => m.status === 'active' && m.role === 'admin').map((m) => m.user_id),
    );
    if (change !== undefined) {
      if (change.role === 'admin') ids.add(change.userId);
      else ids.delete(change.userId);
    }
    return [...ids];
  }

  /** Grants must be signed by the caller, for this workspace, and (for `to`) that user. */
  function checkGrants(
    c: Ctx,
    grants: readonly wire.KeyGrantWire[],
    to?: readonly string[],
  ): GrantRow[] {
    const workspaceId = c.req.param('ws')!;
    for (const g of grants) {
      if (g.workspace_id !== workspaceId || g.granted_by !== c.get('userId'))
        throw fail('bad_request', 'a key grant is for another workspace or granter');
      if (to !== undefined && !to.includes(g.user_id))
        throw fail('bad_request', 'a key grant is for a user this request is not about');
    }
    return grants.map((g) => ({ ...g }));
  }

  // --- workspaces ------------------------------------------------------------------------

  app.post('/v1/workspaces', limit(SMALL), async (c) => {
    const req = await body(c, wire.createWorkspaceRequest);
    const userId = c.get('userId');
    const [user] = await store.usersById([userId]);
    const doc = parseDocBody(req.doc.body);
    if (
      req.doc.signer !== userId ||
      !verifyDocSignature(sodium, fromBase64(user!.sign_public), req.doc.body, req.doc.signature) ||
      doc.workspace_id !== req.id ||
      doc.seq !== 1 ||
      doc.epoch !== 1 ||
      doc.admins.length !== 1 ||
      doc.admins[0]!.user_id !== userId
    )
      throw fail(
        'signature_invalid',
        'the first workspace document must be seq 1, epoch 1, signed by you as its only admin',
      );
    const at = now().toISOString();
    const grants = req.grants.map((g) => ({ ...g }));
    if (
      grants.some(
        (g) =>
          g.workspace_id !== req.id ||
          g.user_id !== userId ||
          g.granted_by !== userId ||
          g.epoch !== 1,
      )
    )
      throw fail('bad_request', 'the key grants must be yours, for this workspace, epoch 1');
    const outcome = await store.createWorkspace(
      { id: req.id, name: req.name, created_by: userId, created_at: at, epoch: 1 },
      {
        workspace_id: req.id,
        user_id: userId,
        role: 'admin',
        status: 'active',
        added_at: at,
        confirmed_by: userId,
      },
      grants,
      {
        workspace_id: req.id,
        seq: 1,
        body: req.doc.body,
        signature: req.doc.signature,
        signer: userId,
        updated_at: at,
      },
    );
    if (outcome === 'exists') throw fail('conflict', 'a workspace with this id exists');
    return c.json({ id: req.id, name: req.name, epoch: 1 }, 201);
  });

  app.get('/v1/workspaces', async (c) => {
    const rows = await store.workspacesOf(c.get('userId'));
    return c.json({
      workspaces: rows.map(({ workspace, member }) => ({
        id: workspace.id,
        name: workspace.name,
        epoch: workspace.epoch,
        role: member.role,
        status: member.status,
      })),
    });
  });

  app.get('/v1/workspaces/:ws', async (c) => {
    const me = await membership(c);
    const workspaceId = c.req.param('ws');
    const [workspace, members, invites, grants, doc] = await Promise.all([
      store.workspace(workspaceId),
      store.members(workspaceId),
      store.invites(workspaceId),
      store.grants(workspaceId, me.user_id),
      store.doc(workspaceId),
    ]);
    const users = new Map(
      (await store.usersById(members.map((m) => m.user_id))).map((u) => [u.id, u]),
    );
    return c.json({
      workspace: { id: workspace!.id, name: workspace!.name, epoch: workspace!.epoch },
      role: me.role,
      members: members.map((m) => ({
        ...publicUser(users.get(m.user_id)!),
        role: m.role,
        status: m.status,
      })),
      invites:
        me.role === 'admin'
          ? invites.map((i) => ({ email: i.email, role: i.role, created_at: i.created_at }))
          : [],
      grants,
      doc:
        doc === undefined ? null : { body: doc.body, signature: doc.signature, signer: doc.signer },
    });
  });

  app.post('/v1/workspaces/:ws/invites', limit(SMALL), async (c) => {
    await membership(c, true);
    const req = await body(c, wire.inviteRequest);
    const outcome = await store.invite({
      workspace_id: c.req.param('ws'),
      email: req.email,
      role: 'member',
      invited_by: c.get('userId'),
      created_at: now().toISOString(),
    });
    const user = outcome === 'invited' ? undefined : await store.userByEmail(req.email);
    return c.json({ status: outcome, user: user === undefined ? null : publicUser(user) }, 201);
  });

  app.post('/v1/workspaces/:ws/members/:user/confirm', limit(SMALL), async (c) => {
    await membership(c, true);
    const req = await body(c, wire.confirmRequest);
    const target = c.req.param('user');
    const grants = checkGrants(c, req.grants, [target]);
    const workspace = await store.workspace(c.req.param('ws'));
    if (!grants.some((g) => g.kind === 'workspace' && g.epoch === workspace!.epoch))
      throw fail(
        'stale_epoch',
        `confirm with a grant of the current key (epoch ${workspace!.epoch})`,
      );
    const outcome = await store.confirmMember(c.req.param('ws'), target, c.get('userId'), grants);
    if (outcome === 'not_pending')
      throw fail('conflict', 'that user is not waiting for confirmation');
    return c.json({ status: 'confirmed' });
  });

  app.post('/v1/workspaces/:ws/members/:user/role', limit(SMALL), async (c) => {
    await membership(c, true);
    const req = await body(c, wire.roleRequest);
    const workspaceId = c.req.param('ws');
    const target = c.req.param('user');
    const member = await store.member(workspaceId, target);
    if (member === undefined || member.status !== 'active')
      throw fail('not_found', 'that user is not an active member');
    const admins = await adminIds(workspaceId, { userId: target, role: req.role });
    if (admins.length === 0) throw fail('conflict', 'a workspace needs at least one admin');
    const workspace = await store.workspace(workspaceId);
    const { row, expectedSeq } = await acceptDoc(c, req.doc, { epoch: workspace!.epoch, admins });
    const grants = checkGrants(c, req.grants, [target]);
    const outcome = await store.setRole(workspaceId, target, req.role, grants, row, expectedSeq);
    if (outcome === 'conflict')
      throw fail('conflict', 'the workspace changed meanwhile; sync and retry');
    return c.json({ status: 'ok', role: req.role });
  });

  app.post('/v1/workspaces/:ws/rotate', limit(ROTATE), async (c) => {
    await membership(c, true);
    const req = await body(
      c,
      wire.rotateRequest.extend({ remove_user_id: wire.userId.nullable().default(null) }),
    );
    const workspaceId = c.req.param('ws');
    const workspace = await store.workspace(workspaceId);
    if (req.from_epoch !== workspace!.epoch || req.epoch !== workspace!.epoch + 1)
      throw fail(
        'stale_epoch',
        `the workspace is at key epoch ${workspace!.epoch}; sync and retry`,
      );
    if (req.remove_user_id === c.get('userId'))
      throw fail('bad_request', 'you cannot remove yourself; ask another admin');
    const removing =
      req.remove_user_id === null ? undefined : { userId: req.remove_user_id, role: null };
    if (removing !== undefined && (await store.member(workspaceId, removing.userId)) === undefined)
      throw fail('not_found', 'that user is not a member');
    const admins = await adminIds(workspaceId, removing);
    const { row, expectedSeq } = await acceptDoc(c, req.doc, { epoch: req.epoch, admins });
    const remaining = (await store.members(workspaceId))
      .filter((m) => m.status === 'active' && m.user_id !== req.remove_user_id)
      .map((m) => m.user_id);
    const grants = checkGrants(c, req.grants, remaining);
    const covered = new Set(
      grants.filter((g) => g.kind === 'workspace' && g.epoch === req.epoch).map((g) => g.user_id),
    );
    if (remaining.some((id) => !covered.has(id)))
      throw fail('bad_request', 'every remaining member needs a grant of the new key');
    const at = now().toISOString();
    const outcome = await store.rotate({
      workspace_id: workspaceId,
      remove_user_id: req.remove_user_id,
      from_epoch: req.from_epoch,
      epoch: req.epoch,
      grants,
      records: req.records.map((r) => ({
        ...r,
        workspace_id: workspaceId,
        epoch: req.epoch,
        updated_at: at,
        updated_by: c.get('userId'),
      })),
      doc: row,
      expected_seq: expectedSeq,
    });
    if (outcome === 'conflict')
      throw fail(
        'conflict',
        'the workspace changed during the rotation (a push, or another admin); retry',
      );
    return c.json({ status: 'rotated', epoch: req.epoch });
  });

  app.get('/v1/workspaces/:ws/doc', async (c) => {
    await membership(c);
    const since = Number(c.req.query('since') ?? -1);
    // Heartbeats first: one for seq N is signed after N was stored, so the doc read next is
    // never older than a heartbeat sent with it.
    const beats = await store.heartbeats(c.req.param('ws'));
    const doc = await store.doc(c.req.param('ws'));
    if (doc === undefined) throw fail('not_found', 'this workspace has no document');
    // Admins' signed heartbeats travel with every poll: members judge freshness by them.
    const heartbeats = beats.map((h) => ({
      signer: h.signer,
      body: h.body,
      signature: h.signature,
    }));
    if (doc.seq === since) return c.json({ unchanged: true, seq: doc.seq, heartbeats });
    return c.json({
      doc: { body: doc.body, signature: doc.signature, signer: doc.signer },
      seq: doc.seq,
      heartbeats,
    });
  });

  /** The document log from a seq: the links a client walks to the head (F6). */
  app.get('/v1/workspaces/:ws/docs', async (c) => {
    await membership(c);
    const after = Number(c.req.query('after') ?? 0);
    if (!Number.isInteger(after) || after < 0)
      throw fail('bad_request', 'after must be a document seq (0 or more)');
    const links = await store.docChain(c.req.param('ws'), after, CHAIN_PAGE);
    return c.json({
      docs: links.map((d) => ({ body: d.body, signature: d.signature, signer: d.signer })),
      more: links.length === CHAIN_PAGE,
    });
  });

  /** An admin's heartbeat: signed (seq, head hash, time); the newest per admin is kept. */
  app.post('/v1/workspaces/:ws/heartbeat', limit(SMALL), async (c) => {
    const me = await membership(c, true);
    const req = await body(c, wire.heartbeatRequest);
    const [user] = await store.usersById([me.user_id]);
    if (!verifyHeartbeatSignature(sodium, fromBase64(user!.sign_public), req.body, req.signature))
      throw fail('signature_invalid', 'the heartbeat signature does not verify with your key');
    await store.putHeartbeat({
      workspace_id: c.req.param('ws'),
      signer: me.user_id,
      body: req.body,
      signature: req.signature,
    });
    return c.json({ status: 'ok' });
  });

  app.put('/v1/workspaces/:ws/doc', limit(4 * 1024 * 1024), async (c) => {
    await membership(c, true);
    const req = await body(c, wire.putDocRequest);
    const workspaceId = c.req.param('ws');
    const workspace = await store.workspace(workspaceId);
    const { row, expectedSeq } = await acceptDoc(c, req.doc, {
      epoch: workspace!.epoch,
      admins: await adminIds(workspaceId),
    });
    if (!(await store.putDoc(row, expectedSeq)))
      throw fail('conflict', 'the workspace document moved on; sync and retry');
    return c.json({ status: 'ok', seq: row.seq });
  });

  app.get('/v1/workspaces/:ws/grants', async (c) => {
    const me = await membership(c);
    return c.json({ grants: await store.grants(c.req.param('ws'), me.user_id) });
  });

  // --- projects and records --------------------------------------------------------------

  app.get('/v1/workspaces/:ws/projects', async (c) => {
    await membership(c);
    const projects = await store.projects(c.req.param('ws'));
    return c.json({
      projects: projects.map((p) => ({ id: p.id, name: p.name, created_at: p.created_at })),
    });
  });

  app.post('/v1/workspaces/:ws/projects', limit(SMALL), async (c) => {
    await membership(c);
    const req = await body(c, wire.projectRequest);
    const outcome = await store.putProject({
      workspace_id: c.req.param('ws'),
      id: req.id,
      name: req.name,
      created_by: c.get('userId'),
      created_at: now().toISOString(),
    });
    if (outcome === 'name_taken')
      throw fail('conflict', `a different project named '${req.name}' exists in this workspace`);
    return c.json({ status: outcome }, outcome === 'created' ? 201 : 200);
  });

  const recordsPath = '/v1/workspaces/:ws/projects/:project/envs/:env';
  const envParam = (c: Ctx) => {
    const parsed = wire.environment.safeParse(c.req.param('env'));
    if (!parsed.success)
      throw fail('bad_request', 'environment must be development, staging or production');
    return parsed.data;
  };

  app.get(`${recordsPath}/records`, async (c) => {
    await membership(c);
    const rows = await store.records(c.req.param('ws')!, c.req.param('project')!, envParam(c));
    const withValues = c.req.query('meta') !== '1';
    return c.json({
      records: rows.map((r) => ({
        key: r.key,
        version: r.version,
        epoch: r.epoch,
        digest: r.digest,
        updated_at: r.updated_at,
        updated_by: r.updated_by,
        ...(withValues ? { nonce: r.nonce, ciphertext: r.ciphertext } : {}),
      })),
    });
  });

  app.post(`${recordsPath}/push`, limit(PUSH), async (c) => {
    await membership(c);
    const req = await body(c, wire.pushRequest);
    const workspaceId = c.req.param('ws')!;
    const projectId = c.req.param('project')!;
    if (!(await store.projects(workspaceId)).some((p) => p.id === projectId))
      throw fail('not_found', 'no such project on the server; push creates it first');
    const outcome = await store.push(workspaceId, projectId, envParam(c), req.changes, {
      force: req.force,
      userId: c.get('userId'),
      now: now(),
    });
    if (outcome.status === 'stale_epoch')
      throw fail(
        'stale_epoch',
        `the workspace key changed (epoch ${outcome.epoch}); pull, then push again`,
      );
    if (outcome.status === 'conflict')
      return c.json(
        {
          error: 'conflict',
          message: `the remote has newer versions of ${outcome.conflicts.map((x) => x.key).join(', ')}; pull first, or push --force to overwrite`,
          conflicts: outcome.conflicts,
        },
        409,
      );
    return c.json({ records: outcome.records.map((r) => ({ key: r.key, version: r.version })) });
  });

  app.get('/v1/workspaces/:ws/records', async (c) => {
    await membership(c, true);
    const rows = await store.allRecords(c.req.param('ws'));
    return c.json({
      records: rows.map((r) => ({
        project_id: r.project_id,
        environment: r.environment,
        key: r.key,
        version: r.version,
        epoch: r.epoch,
        nonce: r.nonce,
        ciphertext: r.ciphertext,
        digest: r.digest,
      })),
    });
  });

  return app;
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

/** Constant-time comparison of two SHA-256 hex digests. */
function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}
