import { beforeAll, describe, expect, it } from 'vitest';
import { DecryptionFailedError } from '../../src/core/errors.js';
import { boxKeyPair, openSealed, sealTo } from '../../src/crypto/seal.js';
import { loadSodium, type Sodium } from '../../src/crypto/sodium.js';
import { canary, findLeaks } from '../helpers/canary.js';

let sodium: Sodium;
beforeAll(async () => {
  sodium = await loadSodium();
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('sealed boxes', () => {
  it('makes 32-byte X25519 key pairs, fresh each time', () => {
    const a = boxKeyPair(sodium);
    const b = boxKeyPair(sodium);
    expect(a.publicKey).toHaveLength(32);
    expect(a.privateKey).toHaveLength(32);
    expect(Buffer.from(a.publicKey).equals(Buffer.from(b.publicKey))).toBe(false);
  });

  it('round-trips a message to the recipient', () => {
    const keys = boxKeyPair(sodium);
    const message = canary('WORKSPACE_KEY');
    const opened = openSealed(sodium, keys, sealTo(sodium, keys.publicKey, Buffer.from(message)));
    expect(Buffer.from(opened).toString()).toBe(message);
  });

  it.each([
    { name: 'empty', length: 0 },
    { name: 'one byte', length: 1 },
    { name: 'a 32-byte key', length: 32 },
    { name: '4 KiB', length: 4096 },
  ])('makes the ciphertext exactly 48 bytes longer ($name)', ({ length }) => {
    const keys = boxKeyPair(sodium);
    const message = sodium.randombytes_buf(length);
    const sealed = sealTo(sodium, keys.publicKey, message);
    expect(sealed.length).toBe(length + 48);
    expect(sealed.length - length).toBe(sodium.crypto_box_SEALBYTES);
    expect(Buffer.from(openSealed(sodium, keys, sealed)).equals(Buffer.from(message))).toBe(true);
  });

  it('uses a fresh ephemeral key, so sealing twice differs', () => {
    const keys = boxKeyPair(sodium);
    const message = Buffer.from(canary());
    const a = Buffer.from(sealTo(sodium, keys.publicKey, message));
    const b = Buffer.from(sealTo(sodium, keys.publicKey, message));
    expect(a.equals(b)).toBe(false);
  });

  describe('fails with one generic error', () => {
    const message = canary('WORKSPACE_KEY');
    it.each<{ name: string; open: (s: Sodium) => Uint8Array }>([
      {
        name: 'another key pair',
        open: (s) => {
          const sealed = sealTo(s, boxKeyPair(s).publicKey, Buffer.from(message));
          return openSealed(s, boxKeyPair(s), sealed);
        },
      },
      {
        name: 'the right public key with the wrong private key',
        open: (s) => {
          const keys = boxKeyPair(s);
          const sealed = sealTo(s, keys.publicKey, Buffer.from(message));
          return openSealed(s, { ...keys, privateKey: boxKeyPair(s).privateKey }, sealed);
        },
      },
      {
        name: 'a flipped ciphertext byte',
        open: (s) => {
          const keys = boxKeyPair(s);
          const sealed = Buffer.from(sealTo(s, keys.publicKey, Buffer.from(message)));
          sealed[sealed.length - 1] = sealed[sealed.length - 1]! ^ 1;
          return openSealed(s, keys, sealed);
        },
      },
      {
        name: 'a flipped ephemeral public key byte',
        open: (s) => {
          const keys = boxKeyPair(s);
          const sealed = Buffer.from(sealTo(s, keys.publicKey, Buffer.from(message)));
          sealed[0] = sealed[0]! ^ 1;
          return openSealed(s, keys, sealed);
        },
      },
      {
        name: 'a truncated box',
        open: (s) => {
          const keys = boxKeyPair(s);
          const sealed = sealTo(s, keys.publicKey, Buffer.from(message));
          return openSealed(s, keys, sealed.subarray(0, 47));
        },
      },
      {
        name: 'an empty box',
        open: (s) => openSealed(s, boxKeyPair(s), new Uint8Array(0)),
      },
    ])('$name', ({ open }) => {
      const err = thrown(() => open(sodium));
      expect(err).toBeInstanceOf(DecryptionFailedError);
      expect((err as DecryptionFailedError).code).toBe('decryption_failed');
      expect((err as DecryptionFailedError).message).toBe(new DecryptionFailedError().message);
      expect(findLeaks((err as Error).message, message)).toEqual([]);
    });
  });
});
