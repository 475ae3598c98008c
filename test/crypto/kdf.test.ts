import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_KDF_COST,
  deriveKey,
  deriveKeyIsolated,
  type KdfParams,
  newKdfParams,
  TEST_KDF_COST,
} from '../../src/crypto/kdf.js';
import { loadSodium, type Sodium } from '../../src/crypto/sodium.js';
import { canary } from '../helpers/canary.js';

let sodium: Sodium;
beforeAll(async () => {
  sodium = await loadSodium();
});

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function params(): KdfParams {
  return newKdfParams(sodium, TEST_KDF_COST);
}

describe('KDF costs', () => {
  it('defaults to at least 64 MiB of memory and more than one pass', () => {
    expect(DEFAULT_KDF_COST.mem).toBeGreaterThanOrEqual(64 * 1024 * 1024);
    expect(DEFAULT_KDF_COST.ops).toBeGreaterThanOrEqual(2);
  });

  it('keeps the test cost within what libsodium accepts', () => {
    expect(TEST_KDF_COST.mem).toBeGreaterThanOrEqual(sodium.crypto_pwhash_MEMLIMIT_MIN);
    expect(TEST_KDF_COST.ops).toBeGreaterThanOrEqual(sodium.crypto_pwhash_OPSLIMIT_MIN);
    expect(TEST_KDF_COST.mem).toBeLessThan(DEFAULT_KDF_COST.mem);
  });
});

describe('newKdfParams', () => {
  it('uses the default cost unless told otherwise', () => {
    const p = newKdfParams(sodium);
    expect(p).toMatchObject({
      alg: 'argon2id13',
      ops: DEFAULT_KDF_COST.ops,
      mem: DEFAULT_KDF_COST.mem,
    });
  });

  it('records the given cost and a canonical base64 16-byte salt', () => {
    const p = params();
    expect(p).toMatchObject({ alg: 'argon2id13', ops: TEST_KDF_COST.ops, mem: TEST_KDF_COST.mem });
    const salt = Buffer.from(p.salt, 'base64');
    expect(salt).toHaveLength(16);
    expect(salt.toString('base64')).toBe(p.salt);
  });

  it('draws a fresh salt every time', () => {
    const salts = new Set(Array.from({ length: 20 }, () => params().salt));
    expect(salts.size).toBe(20);
  });
});

describe('deriveKey', () => {
  it('derives a 32-byte key', () => {
    expect(deriveKey(sodium, canary(), params())).toHaveLength(32);
  });

  it('gives the same key for the same passphrase and salt', () => {
    const p = params();
    const passphrase = canary('PASSPHRASE');
    expect(hex(deriveKey(sodium, passphrase, p))).toBe(
      hex(deriveKey(sodium, passphrase, { ...p })),
    );
  });

  it.each<{ name: string; change: (p: KdfParams, pass: string) => [KdfParams, string] }>([
    { name: 'a different salt', change: (p, pass) => [{ ...p, salt: params().salt }, pass] },
    { name: 'a different passphrase', change: (p, pass) => [p, `${pass}x`] },
    { name: 'a passphrase differing only in case', change: (p, pass) => [p, pass.toLowerCase()] },
    { name: 'a trailing space', change: (p, pass) => [p, `${pass} `] },
    { name: 'one more pass', change: (p, pass) => [{ ...p, ops: p.ops + 1 }, pass] },
    { name: 'more memory', change: (p, pass) => [{ ...p, mem: p.mem * 2 }, pass] },
  ])('gives a different key for $name', ({ change }) => {
    const p = params();
    const passphrase = canary('PASSPHRASE');
    const [p2, pass2] = change(p, passphrase);
    expect(hex(deriveKey(sodium, pass2, p2))).not.toBe(hex(deriveKey(sodium, passphrase, p)));
  });

  it.each([
    { name: 'é', composed: 'caf\u00e9', decomposed: 'cafe\u0301' },
    { name: 'Å', composed: '\u00c5ngstr\u00f6m', decomposed: 'A\u030angstro\u0308m' },
    { name: 'Hangul', composed: '\ud55c', decomposed: '\u1112\u1161\u11ab' },
  ])('normalises the passphrase to NFC ($name)', ({ composed, decomposed }) => {
    expect(composed).not.toBe(decomposed);
    const p = params();
    expect(hex(deriveKey(sodium, decomposed, p))).toBe(hex(deriveKey(sodium, composed, p)));
  });

  it('does not fold compatibility characters (NFC, not NFKC)', () => {
    const p = params();
    // U+FB01 (the "fi" ligature) is only equivalent to "fi" under NFKC.
    expect(hex(deriveKey(sodium, '\ufb01', p))).not.toBe(hex(deriveKey(sodium, 'fi', p)));
  });
});

describe('deriveKeyIsolated', () => {
  it('gives the same bytes as deriveKey', async () => {
    const p = params();
    const passphrase = canary('PASSPHRASE');
    const isolated = await deriveKeyIsolated(passphrase, p);
    expect(isolated).toBeInstanceOf(Uint8Array);
    expect(hex(isolated)).toBe(hex(deriveKey(sodium, passphrase, p)));
  });

  it('normalises to NFC like deriveKey', async () => {
    const p = params();
    const isolated = await deriveKeyIsolated('cafe\u0301', p);
    expect(hex(isolated)).toBe(hex(deriveKey(sodium, 'caf\u00e9', p)));
  });

  it.each<{ name: string; change: (p: KdfParams) => KdfParams }>([
    { name: 'zero passes', change: (p) => ({ ...p, ops: 0 }) },
    { name: 'a salt of the wrong length', change: (p) => ({ ...p, salt: 'AAAA' }) },
  ])('rejects, rather than hangs, on $name, without echoing the passphrase', async ({ change }) => {
    const passphrase = canary('PASSPHRASE');
    const err: unknown = await deriveKeyIsolated(passphrase, change(params())).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).not.toContain(passphrase);
  });

  it('gives different keys for different salts', async () => {
    const passphrase = canary('PASSPHRASE');
    const [a, b] = await Promise.all([
      deriveKeyIsolated(passphrase, params()),
      deriveKeyIsolated(passphrase, params()),
    ]);
    expect(hex(a)).not.toBe(hex(b));
  });
});
