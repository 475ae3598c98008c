import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCidrList } from '../../src/proxy/ssrf.js';
import { createRateLimiter } from '../../src/server/rate-limit.js';
import { type RunningServer, startServer } from '../../src/server/runtime.js';
import { createFileStore } from '../../src/server/store-file.js';
import type { ServerStore } from '../../src/server/store.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * F11: behind a reverse proxy every request comes from the proxy's address. The forwarded
 * header is believed only from proxies named with --trust-proxy; otherwise forging it would
 * give an attacker a fresh rate-limit bucket per request.
 */
describe('rate limits behind a reverse proxy', () => {
  const open: { server: RunningServer; store: ServerStore }[] = [];
  afterAll(async () => {
    for (const { server, store } of open) {
      await server.close();
      await store.close();
    }
  });

  async function serve(trustProxy?: string, now?: () => Date): Promise<string> {
    const store = await createFileStore({ dir: await tempDir() });
    await store.init();
    const server = await startServer({
      store,
      port: 0,
      host: '127.0.0.1',
      signup: 'open',
      logger: pino({ level: 'silent' }),
      ...(trustProxy === undefined ? {} : { trustProxy: parseCidrList(trustProxy) }),
      ...(now === undefined ? {} : { now }),
    });
    open.push({ server, store });
    return server.url;
  }

  async function flood(url: string, forwarded: (i: number) => string): Promise<number> {
    let limited = 0;
    for (let i = 0; i < 30; i++) {
      const r = await fetch(`${url}/v1/auth/params`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': forwarded(i) },
        body: JSON.stringify({ email: `p${i}@example.com` }),
      });
      await r.text();
      if (r.status === 429) limited++;
    }
    return limited;
  }

  it('without --trust-proxy, a forged header per request does not escape the limit', async () => {
    expect(await flood(await serve(), (i) => `198.51.100.${i}`)).toBeGreaterThan(0);
  });

  it('with it, each client the proxy names has its own bucket, and one client is limited', async () => {
    const url = await serve('127.0.0.1/32');
    expect(await flood(url, (i) => `198.51.100.${i}`)).toBe(0);
    expect(await flood(url, () => '203.0.113.7')).toBeGreaterThan(0);
  });

  it('a hammered email backs off and never locks its owner out (per-email back-off)', async () => {
    // The old per-email fixed window: ten attempts by anyone shut the owner out for a minute,
    // and again every minute the attacker returns.
    const window = createRateLimiter({ limit: 10, windowMs: 60_000, now: () => 0 });
    for (let i = 0; i < 10; i++) window.take('ada@example.com');
    expect(window.take('ada@example.com')).toBe(60_000);

    let clock = Date.now();
    const url = await serve('127.0.0.1/32', () => new Date(clock));
    const b64 = (n: number) => randomBytes(n).toString('base64');
    const authKey = b64(32);
    const post = async (path: string, body: unknown, from: string) => {
      const r = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
        body: JSON.stringify(body),
      });
      await r.text();
      return r.status;
    };
    const signed = await post(
      '/v1/auth/signup',
      {
        email: 'ada@example.com',
        auth_key: authKey,
        kdf: { alg: 'argon2id13', ops: 2, mem: 64 * 1024 * 1024, salt: b64(16) },
        box_public: b64(32),
        sign_public: b64(32),
        wrapped_keys: { nonce: b64(24), ciphertext: b64(64) },
      },
      '192.0.2.1',
    );
    expect(signed).toBe(201);
    const attacker = () =>
      post('/v1/auth/login', { email: 'ada@example.com', auth_key: b64(32) }, '198.51.100.66');
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push(await attacker());
    expect(statuses.slice(0, 6)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(statuses.slice(6)).toEqual([429, 429]);
    const owner = () =>
      post('/v1/auth/login', { email: 'ada@example.com', auth_key: authKey }, '203.0.113.5');
    expect(await owner()).toBe(429);
    // Doubling waits, capped at 30 s: the owner is in well within a minute of the last failure.
    for (let i = 0; i < 10; i++) {
      clock += 31_000;
      expect(await attacker()).toBe(401);
    }
    clock += 30_001;
    expect(await owner()).toBe(200);
    // A success clears the back-off.
    expect(await attacker()).toBe(401);
  });
});
