import { hkdfSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { deriveKeyIsolated, type KdfParams, TEST_KDF_COST } from '../../src/crypto/kdf.js';
import { formatSecretKey, parseSecretKey } from '../../src/crypto/secret-key.js';
import { loadSodium } from '../../src/crypto/sodium.js';
import { type RunningServer, startServer } from '../../src/server/runtime.js';
import { createFileStore } from '../../src/server/store-file.js';
import type { ServerStore } from '../../src/server/store.js';
import { ACCOUNT_SCOPE, signup } from '../../src/sync/account.js';
import {
  authKeyHash,
  deriveAccountKeys,
  unwrapAccountSecrets,
  wrapAccountSecrets,
} from '../../src/sync/crypto.js';
import { boxKeyPair } from '../../src/crypto/seal.js';
import { signKeyPair } from '../../src/crypto/sign.js';
import { makeWorkspace } from '../helpers/proxy-fixture.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * F5: a dump of the server's store must not let anyone guess a password offline. The
 * dictionary holds the real password; the attack is first run against a dump made the old
 * way (password only), where it succeeds, then against a real server's store.
 */

const sodium = await loadSodium();
const PASSWORD = 'Summer2026';
const DICTIONARY = ['password123', 'Winter2025', 'Spring2026', PASSWORD, 'Autumn2026'];
const EMAIL = 'ada@example.com';

/** The derivation before the secret key: Argon2id over the password, then HKDF. */
async function passwordOnly(password: string, kdf: KdfParams) {
  const master = await deriveKeyIsolated(password, kdf);
  const split = (info: string) =>
    new Uint8Array(hkdfSync('sha256', master, new Uint8Array(0), info, 32));
  return { authKey: split('agentsecrets/auth-key/v1'), encKey: split('agentsecrets/enc-key/v1') };
}

interface DumpedUser {
  auth_hash: string;
  kdf: KdfParams;
  wrapped_keys: { nonce: string; ciphertext: string };
}

/** The attacker: each guess, derived as a client would, checked against the dump. */
async function crack(
  dump: DumpedUser,
  derive: (guess: string) => Promise<{ authKey: Uint8Array; encKey: Uint8Array }>,
): Promise<string | undefined> {
  for (const guess of DICTIONARY) {
    const keys = await derive(guess);
    if (authKeyHash(keys.authKey) !== dump.auth_hash) continue;
    unwrapAccountSecrets(sodium, keys.encKey, EMAIL, dump.wrapped_keys);
    return guess;
  }
  return undefined;
}

describe('no offline password guessing from a store dump (F5)', () => {
  let dir: string;
  let store: ServerStore;
  let server: RunningServer;
  let secretKey: string;
  let dump: DumpedUser;

  beforeAll(async () => {
    dir = await tempDir();
    store = await createFileStore({ dir });
    await store.init();
    server = await startServer({
      store,
      port: 0,
      host: '127.0.0.1',
      signup: 'open',
      logger: pino({ level: 'silent' }),
    });
    const ws = await makeWorkspace();
    const vault = await ws.services.vault.unlock();
    const session = await signup(ws.services, vault, {
      server: server.url,
      email: EMAIL,
      password: PASSWORD,
      kdfCost: TEST_KDF_COST,
    });
    secretKey = session.secretKey;
    expect(await vault.getReserved(ACCOUNT_SCOPE, 'secret-key')).toContain(secretKey);
    vault.close();
    await server.close();
    await store.close();
    const saved = JSON.parse(await readFile(join(dir, 'store.json'), 'utf8')) as {
      users: (DumpedUser & { email: string })[];
    };
    dump = saved.users.find((u) => u.email === EMAIL)!;
  });

  it('without the secret key in the derivation, the dictionary finds the password', async () => {
    const keys = await passwordOnly(PASSWORD, dump.kdf);
    const mine = { box: boxKeyPair(sodium), sign: signKeyPair(sodium) };
    const oldDump = {
      kdf: dump.kdf,
      auth_hash: authKeyHash(keys.authKey),
      wrapped_keys: wrapAccountSecrets(sodium, keys.encKey, EMAIL, mine),
    };
    expect(await crack(oldDump, (g) => passwordOnly(g, dump.kdf))).toBe(PASSWORD);
  });

  it('with it, the same dictionary finds nothing in the real dump', async () => {
    expect(await crack(dump, (g) => passwordOnly(g, dump.kdf))).toBeUndefined();
    const guessedKey = new Uint8Array(16);
    expect(await crack(dump, (g) => deriveAccountKeys(g, dump.kdf, guessedKey))).toBeUndefined();
    // Knowing the password is not enough to open the wrapped private keys either.
    const known = await deriveAccountKeys(PASSWORD, dump.kdf, guessedKey);
    expect(() => unwrapAccountSecrets(sodium, known.encKey, EMAIL, dump.wrapped_keys)).toThrow();
    // The derivation the test uses is the client's: with the real secret key it opens.
    const real = parseSecretKey(secretKey);
    expect(await crack(dump, (g) => deriveAccountKeys(g, dump.kdf, real))).toBe(PASSWORD);
    // And the dump holds neither the secret key nor the password, in any encoding.
    const text = await readFile(join(dir, 'store.json'), 'utf8');
    for (const forbidden of [
      secretKey,
      Buffer.from(real).toString('base64'),
      Buffer.from(real).toString('hex'),
      PASSWORD,
    ])
      expect(text).not.toContain(forbidden);
  });

  it('secret keys round-trip as a human may type them, and refuse typos', () => {
    for (let i = 0; i < 50; i++) {
      const key = new Uint8Array(16).map(() => Math.floor(Math.random() * 256));
      const text = formatSecretKey(key);
      expect(text).toMatch(/^AS1-[A-Z2-7]{6}(-[A-Z2-7]{5}){4}$/);
      expect(parseSecretKey(text)).toEqual(key);
      expect(parseSecretKey(text.toLowerCase().replace(/-/g, ' '))).toEqual(key);
    }
    for (const bad of [
      '',
      'AS1-AAAAAA',
      'AS1-AAAAAA-AAAAA-AAAAA-AAAAA-AAAA1',
      'AS1-AAAAAA-AAAAA-AAAAA-AAAAA-AAAAB',
    ])
      expect(() => parseSecretKey(bad)).toThrow(/not an account secret key/);
  });
});
