import { Hono } from 'hono';
import { httpStatusOf, toAgentSecretsError } from '../core/errors.js';
import { fromBase64 } from '../crypto/aead.js';
import { loadSodium, type Sodium } from '../crypto/sodium.js';
import { memberFingerprint } from '../sync/crypto.js';
import { clientAddress } from './client-address.js';
import { createGuards } from './guards.js';
import { type AppOptions, type Ctx, type Env, errorName, fail, type RouteDeps } from './http.js';
import { createSharedBackoff, createSharedRateLimiter } from './rate-limit.js';
import { authRoutes } from './routes-auth.js';
import { documentRoutes } from './routes-documents.js';
import { recordRoutes } from './routes-records.js';
import { workspaceRoutes } from './routes-workspaces.js';
import type { UserRow } from './store.js';

export type { AppOptions } from './http.js';

/**
 * The sync server's HTTP API (DESIGN §10). It stores and serves what clients encrypt, seal
 * and sign; it enforces sessions, membership and roles on every endpoint, and checks what it
 * can (an admin's signature on a document) without being trusted for it: clients verify
 * again. The routes live in sub-apps per group (`routes-*.ts`); this file assembles them
 * with the error handler, the request log and the session check.
 */
export async function createApp(options: AppOptions): Promise<Hono<Env>> {
  const { store, sessions, logger } = options;
  const now = options.now ?? (() => new Date());
  const sodium: Sodium = await loadSodium();
  // On PostgreSQL the counters live in the database, shared by every replica (F11).
  const counters = store.counters;
  const authLimit = createSharedRateLimiter(counters, 'auth', {
    limit: 20,
    windowMs: 60_000,
    now: () => now().getTime(),
  });
  // Per email: failures back off (1 s doubling to 30 s after 5), never a lock-out (F11).
  const emailBackoff = createSharedBackoff(counters, {
    free: 5,
    baseMs: 1000,
    maxMs: 30_000,
    now: () => now().getTime(),
  });
  // Refresh tokens are 256 random bits: nothing to guess, so only hammering is limited.
  const refreshLimit = createSharedRateLimiter(counters, 'refresh', {
    limit: 600,
    windowMs: 60_000,
    now: () => now().getTime(),
  });
  const app = new Hono<Env>();

  app.onError((err, c) => {
    const error = toAgentSecretsError(err);
    const status = httpStatusOf(error.code);
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

  const clientKey = (c: Ctx) =>
    clientAddress(
      c.env?.incoming?.socket?.remoteAddress,
      c.req.header('x-forwarded-for'),
      options.trustProxy,
    );
  const deps: RouteDeps = {
    options,
    store,
    sessions,
    sodium,
    now,
    emailBackoff,
    publicUser: (u: UserRow) => ({
      id: u.id,
      email: u.email,
      box_public: u.box_public,
      sign_public: u.sign_public,
      fingerprint: memberFingerprint(sodium, fromBase64(u.box_public), fromBase64(u.sign_public)),
    }),
    throttle: async (c, email, limiter = 'auth') => {
      const retry =
        (await (limiter === 'auth' ? authLimit : refreshLimit).take(clientKey(c))) ??
        (email ? await emailBackoff.wait(email.toLowerCase()) : undefined);
      if (retry !== undefined) {
        c.header('Retry-After', String(Math.ceil(retry / 1000)));
        throw fail('rate_limited', `too many attempts; try again in ${Math.ceil(retry / 1000)} s`);
      }
    },
  };

  app.get('/health', (c) => c.json({ ok: true, store: store.kind }));
  app.route('/v1/auth', authRoutes(deps));

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
    return c.json({ user: deps.publicUser(user) });
  });

  const guards = createGuards(deps);
  app.route('/v1/workspaces', workspaceRoutes(deps, guards));
  app.route('/v1/workspaces', documentRoutes(deps, guards));
  app.route('/v1/workspaces', recordRoutes(deps, guards));
  return app;
}
