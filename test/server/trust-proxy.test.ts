import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCidrList } from '../../src/proxy/ssrf.js';
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

  async function serve(trustProxy?: string): Promise<string> {
    const store = await createFileStore({ dir: await tempDir() });
    await store.init();
    const server = await startServer({
      store,
      port: 0,
      host: '127.0.0.1',
      signup: 'open',
      logger: pino({ level: 'silent' }),
      ...(trustProxy === undefined ? {} : { trustProxy: parseCidrList(trustProxy) }),
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
});
