import { describe, expect, it } from 'vitest';
import { loadSodium } from '../../src/crypto/sodium.js';

describe('loadSodium', () => {
  it('loads one shared, initialised instance per process', async () => {
    const [a, b] = await Promise.all([loadSodium(), loadSodium()]);
    expect(a).toBe(b);
    expect(await loadSodium()).toBe(a);
  });

  it('loads the sumo build, which has Argon2id', async () => {
    const sodium = await loadSodium();
    expect(typeof sodium.crypto_pwhash).toBe('function');
    expect(sodium.crypto_pwhash_ALG_ARGON2ID13).toBeTypeOf('number');
    expect(sodium.randombytes_buf(8)).toHaveLength(8);
  });
});
