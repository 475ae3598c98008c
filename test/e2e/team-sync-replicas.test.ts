import { afterAll, describe, expect, it } from 'vitest';
import { freshDatabase, postgresUnavailable } from '../helpers/postgres.js';
import { type Daemon, startDaemon } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * F11 with several replicas (issue 12): on PostgreSQL the sign-in rate-limit counters live in
 * the database, so a client that spreads its attempts over the replicas behind a load
 * balancer gets one allowance, not one per replica. Spawned servers; the limit is 20
 * attempts per minute per client address.
 */

const pgMissing = await postgresUnavailable();

async function freePortServer(args: string[], env: Record<string, string> = {}) {
  const home = await tempDir();
  return startDaemon(
    ['server', 'start', '--port', '0', ...args],
    { home, env },
    (out) => /sync server on (http:\/\/\S+)/.exec(out)?.[1],
  );
}

/** `n` login-parameter requests to `url`; how many were refused with 429. */
async function attempts(url: string, n: number): Promise<number> {
  let limited = 0;
  for (let i = 0; i < n; i++) {
    const r = await fetch(`${url}/v1/auth/params`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `probe${i}@example.com` }),
    });
    await r.text();
    if (r.status === 429) limited++;
  }
  return limited;
}

describe.skipIf(pgMissing !== undefined)('rate limits across replicas', () => {
  const daemons: Daemon<string>[] = [];
  const drops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const d of daemons) await d.stop();
    for (const drop of drops) await drop();
  });

  it('per-process counters: spreading 30 attempts over two servers escapes a limit of 20', async () => {
    const one = await freePortServer(['--store', 'file']);
    const two = await freePortServer(['--store', 'file']);
    daemons.push(one, two);
    expect(await attempts(one.ready, 15)).toBe(0);
    expect(await attempts(two.ready, 15)).toBe(0);
  });

  it('on PostgreSQL the replicas share the counters: the same 30 attempts are limited', async () => {
    const db = await freshDatabase();
    drops.push(() => db.drop());
    const one = await freePortServer(['--store', 'postgres', '--database-url', db.url]);
    const two = await freePortServer(['--store', 'postgres', '--database-url', db.url]);
    daemons.push(one, two);
    expect(await attempts(one.ready, 15)).toBe(0);
    expect(await attempts(two.ready, 15)).toBeGreaterThan(0);
    // Each replica refuses from then on: the allowance is spent for both.
    expect(await attempts(one.ready, 1)).toBe(1);
  });
});
