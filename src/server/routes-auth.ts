import { Hono } from 'hono';
import { randomId } from '../core/ids.js';
import { fromBase64 } from '../crypto/aead.js';
import { authKeyHash } from '../sync/crypto.js';
import * as wire from '../sync/wire.js';
import { body, type Env, fail, limit, type RouteDeps, sameDigest, SMALL } from './http.js';
import type { UserRow } from './store.js';

/** Accounts and sessions (`/v1/auth/*`): the only routes without a session. */
export function authRoutes(deps: RouteDeps): Hono<Env> {
  const { store, sessions, now, publicUser, throttle, emailBackoff, options } = deps;
  const routes = new Hono<Env>();

  routes.post('/params', limit(SMALL), async (c) => {
    const { email } = await body(c, wire.authParamsRequest);
    await throttle(c);
    const user = await store.userByEmail(email);
    return c.json({ kdf: user?.kdf ?? sessions.fakeKdf(email) });
  });

  routes.post('/signup', limit(SMALL), async (c) => {
    const req = await body(c, wire.signupRequest);
    await throttle(c, req.email);
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

  routes.post('/login', limit(SMALL), async (c) => {
    const req = await body(c, wire.loginRequest);
    await throttle(c, req.email);
    const user = await store.userByEmail(req.email);
    const presented = authKeyHash(fromBase64(req.auth_key));
    if (user === undefined || !sameDigest(user.auth_hash, presented)) {
      await emailBackoff.fail(req.email.toLowerCase());
      throw fail('unauthorized', 'wrong email or password');
    }
    await emailBackoff.succeed(req.email.toLowerCase());
    const tokens = await sessions.issue(user.id);
    return c.json({
      ...tokens,
      user: publicUser(user),
      kdf: user.kdf,
      wrapped_keys: user.wrapped_keys,
    });
  });

  routes.post('/refresh', limit(SMALL), async (c) => {
    const { refresh_token } = await body(c, wire.refreshRequest);
    await throttle(c, undefined, 'refresh');
    const { userId, tokens } = await sessions.refresh(refresh_token);
    const [user] = await store.usersById([userId]);
    if (user === undefined) throw fail('unauthorized', 'this account no longer exists');
    return c.json({ ...tokens, user: publicUser(user) });
  });

  routes.post('/logout', limit(SMALL), async (c) => {
    const { refresh_token } = await body(c, wire.refreshRequest);
    await sessions.revoke(refresh_token);
    return c.json({ ok: true });
  });

  return routes;
}
