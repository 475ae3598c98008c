import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { formatSecretKey } from '../../src/crypto/secret-key.js';
import { login, MIN_LOGIN_KDF } from '../../src/sync/account.js';
import { makeWorkspace } from '../helpers/proxy-fixture.js';

/**
 * A hostile sync server, as far as the client's login can see it: it may ask for a cheap
 * password hash (to brute-force the password from the auth key) or redirect the request.
 */
describe('login against a hostile server', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  async function hostile(
    answer: (path: string) => { status: number; headers?: Record<string, string>; body?: unknown },
  ) {
    const seen: string[] = [];
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      const a = answer(req.url ?? '');
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
      res.end(a.body === undefined ? '' : JSON.stringify(a.body));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
  }

  it.each([
    ['1 pass', { ops: 1, mem: MIN_LOGIN_KDF.mem }],
    ['8 KiB', { ops: 3, mem: 8 * 1024 }],
  ])(
    'refuses a weak Argon2id (%s) and sends nothing derived from the password',
    async (_l, cost) => {
      const { url, seen } = await hostile(() => ({
        status: 200,
        body: { kdf: { alg: 'argon2id13', ...cost, salt: Buffer.alloc(16, 7).toString('base64') } },
      }));
      const ws = await makeWorkspace();
      await expect(
        login(ws.services, await ws.services.vault.unlock(), {
          server: url,
          email: 'ada@example.com',
          password: 'correct horse',
          secretKey: formatSecretKey(new Uint8Array(16)),
        }),
      ).rejects.toThrow(/weak password hash/);
      expect(seen).toEqual(['/v1/auth/params']);
    },
  );

  it('refuses malformed parameters', async () => {
    const { url } = await hostile(() => ({ status: 200, body: { kdf: { alg: 'md5' } } }));
    const ws = await makeWorkspace();
    await expect(
      login(ws.services, await ws.services.vault.unlock(), {
        server: url,
        email: 'ada@example.com',
        password: 'x',
        secretKey: formatSecretKey(new Uint8Array(16)),
      }),
    ).rejects.toThrow(/malformed/);
  });

  it('does not follow a redirect with the request', async () => {
    const target = await hostile(() => ({ status: 200, body: {} }));
    const { url } = await hostile(() => ({
      status: 307,
      headers: { location: `${target.url}/steal` },
    }));
    const ws = await makeWorkspace();
    await expect(
      login(ws.services, await ws.services.vault.unlock(), {
        server: url,
        email: 'ada@example.com',
        password: 'x',
        secretKey: formatSecretKey(new Uint8Array(16)),
      }),
    ).rejects.toThrow(/cannot reach the sync server/);
    expect(target.seen).toEqual([]);
  });
});
