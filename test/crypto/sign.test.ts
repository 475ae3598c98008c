import { beforeAll, describe, expect, it } from 'vitest';
import { fingerprint, sign, signKeyPair, verify } from '../../src/crypto/sign.js';
import { loadSodium, type Sodium } from '../../src/crypto/sodium.js';

let sodium: Sodium;
beforeAll(async () => {
  sodium = await loadSodium();
});

const MESSAGE = Buffer.from('invite ws_01 member alice@example.com epoch 3');

function flip(bytes: Uint8Array, index: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

describe('sign / verify', () => {
  it('makes Ed25519 key pairs: 32-byte public key, 64-byte private key', () => {
    const keys = signKeyPair(sodium);
    expect(keys.publicKey).toHaveLength(32);
    expect(keys.privateKey).toHaveLength(64);
  });

  it('verifies a valid 64-byte signature', () => {
    const keys = signKeyPair(sodium);
    const signature = sign(sodium, keys.privateKey, MESSAGE);
    expect(signature).toHaveLength(64);
    expect(verify(sodium, keys.publicKey, MESSAGE, signature)).toBe(true);
  });

  it('verifies an empty message', () => {
    const keys = signKeyPair(sodium);
    const empty = new Uint8Array(0);
    expect(verify(sodium, keys.publicKey, empty, sign(sodium, keys.privateKey, empty))).toBe(true);
  });

  it.each<{
    name: string;
    alter: (v: { publicKey: Uint8Array; message: Uint8Array; signature: Uint8Array }) => {
      publicKey: Uint8Array;
      message: Uint8Array;
      signature: Uint8Array;
    };
  }>([
    { name: 'a message byte flipped', alter: (v) => ({ ...v, message: flip(v.message, 3) }) },
    {
      name: 'a byte appended to the message',
      alter: (v) => ({ ...v, message: Buffer.concat([v.message, Buffer.from([0])]) }),
    },
    { name: 'the message truncated', alter: (v) => ({ ...v, message: v.message.subarray(0, -1) }) },
    { name: 'an empty message', alter: (v) => ({ ...v, message: new Uint8Array(0) }) },
    {
      name: 'a signature byte flipped (R)',
      alter: (v) => ({ ...v, signature: flip(v.signature, 0) }),
    },
    {
      name: 'a signature byte flipped (S)',
      alter: (v) => ({ ...v, signature: flip(v.signature, 40) }),
    },
    { name: 'a signature of all zeros', alter: (v) => ({ ...v, signature: new Uint8Array(64) }) },
    {
      name: 'a truncated signature',
      alter: (v) => ({ ...v, signature: v.signature.subarray(0, 63) }),
    },
    { name: 'an empty signature', alter: (v) => ({ ...v, signature: new Uint8Array(0) }) },
    {
      name: 'a public key byte flipped',
      alter: (v) => ({ ...v, publicKey: flip(v.publicKey, 7) }),
    },
    {
      name: 'another public key',
      alter: (v) => ({ ...v, publicKey: signKeyPair(sodium).publicKey }),
    },
    {
      name: 'a truncated public key',
      alter: (v) => ({ ...v, publicKey: v.publicKey.subarray(0, 31) }),
    },
    { name: 'an empty public key', alter: (v) => ({ ...v, publicKey: new Uint8Array(0) }) },
  ])('returns false, without throwing, for $name', ({ alter }) => {
    const keys = signKeyPair(sodium);
    const valid = {
      publicKey: keys.publicKey,
      message: new Uint8Array(MESSAGE),
      signature: sign(sodium, keys.privateKey, MESSAGE),
    };
    const { publicKey, message, signature } = alter(valid);
    expect(verify(sodium, publicKey, message, signature)).toBe(false);
    // The untouched triple still verifies, so the row tested the alteration alone.
    expect(verify(sodium, valid.publicKey, valid.message, valid.signature)).toBe(true);
  });
});

describe('fingerprint', () => {
  const FORMAT = /^[0-9A-F]{4}( [0-9A-F]{4}){7}$/;

  it('is 8 space-separated groups of 4 uppercase hex characters', () => {
    for (let i = 0; i < 20; i++) {
      expect(fingerprint(sodium, signKeyPair(sodium).publicKey)).toMatch(FORMAT);
    }
  });

  it('is the first 16 bytes of the SHA-256 of the public key', () => {
    const key = signKeyPair(sodium).publicKey;
    const expected = Buffer.from(sodium.crypto_hash_sha256(key).subarray(0, 16))
      .toString('hex')
      .toUpperCase();
    expect(fingerprint(sodium, key).replaceAll(' ', '')).toBe(expected);
  });

  it('is stable for a key and differs between keys', () => {
    const a = signKeyPair(sodium).publicKey;
    const b = signKeyPair(sodium).publicKey;
    expect(fingerprint(sodium, a)).toBe(fingerprint(sodium, new Uint8Array(a)));
    expect(fingerprint(sodium, a)).not.toBe(fingerprint(sodium, b));
    expect(fingerprint(sodium, a)).not.toBe(fingerprint(sodium, flip(a, 31)));
  });
});
