import { beforeAll, describe, expect, it } from 'vitest';
import { AgentSecretsError, DecryptionFailedError } from '../../src/core/errors.js';
import { type RecordAddress, vaultRecordAad } from '../../src/crypto/aad.js';
import {
  AEAD_KEY_BYTES,
  aeadDecrypt,
  aeadEncrypt,
  fromBase64,
  type Sealed,
  toBase64,
} from '../../src/crypto/aead.js';
import { loadSodium, type Sodium } from '../../src/crypto/sodium.js';
import { canary, findLeaks } from '../helpers/canary.js';

let sodium: Sodium;
beforeAll(async () => {
  sodium = await loadSodium();
});

const ADDRESS: RecordAddress = {
  vault_id: 'vlt_01',
  workspace_id: 'ws_01',
  project_id: 'prj_01',
  environment: 'production',
  key: 'STRIPE_KEY',
  version: 1,
};

function newKey(): Uint8Array {
  return sodium.randombytes_buf(AEAD_KEY_BYTES);
}

/** Flips one bit of the byte at `index` of a base64 string and re-encodes it canonically. */
function flipBit(b64: string, index: number): string {
  const bytes = Buffer.from(b64, 'base64');
  const i = index < 0 ? bytes.length + index : index;
  bytes[i] = bytes[i]! ^ 0x01;
  return bytes.toString('base64');
}

/** Runs `fn`, expecting it to throw; returns what it threw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

function expectGenericFailure(err: unknown, secrets: string[]): void {
  expect(err).toBeInstanceOf(DecryptionFailedError);
  expect(err).toBeInstanceOf(AgentSecretsError);
  const e = err as DecryptionFailedError;
  expect(e.code).toBe('decryption_failed');
  // Every failure carries the same generic message, so the message is no oracle.
  expect(e.message).toBe(new DecryptionFailedError().message);
  for (const secret of secrets) expect(findLeaks(`${e.message}\n${e.stack}`, secret)).toEqual([]);
}

describe('aeadEncrypt / aeadDecrypt', () => {
  it('round-trips a value bound to its record address', () => {
    const key = newKey();
    const plaintext = canary('PLAINTEXT');
    const sealed = aeadEncrypt(sodium, key, Buffer.from(plaintext), vaultRecordAad(ADDRESS));
    const opened = aeadDecrypt(sodium, key, sealed, vaultRecordAad(ADDRESS));
    expect(Buffer.from(opened).toString('utf8')).toBe(plaintext);
  });

  it.each([
    { name: 'empty', bytes: new Uint8Array(0) },
    { name: 'binary with NUL and 0xff', bytes: new Uint8Array([0, 255, 0, 1, 128]) },
    { name: 'non-ASCII UTF-8', bytes: Buffer.from('päss✓🔑') },
    { name: '64 KiB', bytes: new Uint8Array(64 * 1024).fill(7) },
  ])('round-trips $name plaintext', ({ bytes }) => {
    const key = newKey();
    const aad = vaultRecordAad(ADDRESS);
    const opened = aeadDecrypt(sodium, key, aeadEncrypt(sodium, key, bytes, aad), aad);
    expect(Buffer.from(opened).equals(Buffer.from(bytes))).toBe(true);
  });

  it('stores a 24-byte nonce and a ciphertext 16 bytes longer than the plaintext, in base64', () => {
    const plaintext = Buffer.from(canary());
    const sealed = aeadEncrypt(sodium, newKey(), plaintext, vaultRecordAad(ADDRESS));
    expect(fromBase64(sealed.nonce).length).toBe(24);
    expect(fromBase64(sealed.ciphertext).length).toBe(plaintext.length + 16);
  });

  it('does not carry the plaintext in the ciphertext in any common encoding', () => {
    const plaintext = canary('PLAINTEXT');
    const sealed = aeadEncrypt(sodium, newKey(), Buffer.from(plaintext), vaultRecordAad(ADDRESS));
    expect(findLeaks(JSON.stringify(sealed), plaintext)).toEqual([]);
  });

  it('uses a fresh nonce for every encryption of the same plaintext', () => {
    const key = newKey();
    const plaintext = Buffer.from(canary());
    const aad = vaultRecordAad(ADDRESS);
    const a = aeadEncrypt(sodium, key, plaintext, aad);
    const b = aeadEncrypt(sodium, key, plaintext, aad);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.ciphertext).not.toBe(b.ciphertext);
  });

  describe('rejects a tampered record with one generic error', () => {
    const plaintext = canary('PLAINTEXT');
    let key: Uint8Array;
    let sealed: Sealed;
    beforeAll(() => {
      key = newKey();
      sealed = aeadEncrypt(sodium, key, Buffer.from(plaintext), vaultRecordAad(ADDRESS));
    });

    function secretsOf(): string[] {
      return [plaintext, Buffer.from(key).toString('hex'), toBase64(key)];
    }

    it.each<{ name: string; tamper: (s: Sealed) => Sealed }>([
      {
        name: 'first ciphertext byte flipped',
        tamper: (s) => ({ ...s, ciphertext: flipBit(s.ciphertext, 0) }),
      },
      {
        name: 'last (tag) byte flipped',
        tamper: (s) => ({ ...s, ciphertext: flipBit(s.ciphertext, -1) }),
      },
      { name: 'nonce byte flipped', tamper: (s) => ({ ...s, nonce: flipBit(s.nonce, 5) }) },
      {
        name: 'ciphertext truncated by one byte',
        tamper: (s) => ({ ...s, ciphertext: toBase64(fromBase64(s.ciphertext).subarray(0, -1)) }),
      },
      {
        name: 'ciphertext shorter than a tag',
        tamper: (s) => ({ ...s, ciphertext: toBase64(fromBase64(s.ciphertext).subarray(0, 8)) }),
      },
      { name: 'empty ciphertext', tamper: (s) => ({ ...s, ciphertext: '' }) },
      {
        name: 'extra byte appended',
        tamper: (s) => ({
          ...s,
          ciphertext: toBase64(Buffer.concat([fromBase64(s.ciphertext), Buffer.from([0])])),
        }),
      },
      {
        name: 'nonce truncated',
        tamper: (s) => ({ ...s, nonce: toBase64(fromBase64(s.nonce).subarray(0, 12)) }),
      },
      { name: 'nonce not base64', tamper: (s) => ({ ...s, nonce: '!!not base64!!' }) },
      {
        name: 'ciphertext with whitespace',
        tamper: (s) => ({ ...s, ciphertext: ` ${s.ciphertext}` }),
      },
      {
        name: 'nonce swapped in from another record',
        tamper: (s) => ({
          ...s,
          nonce: aeadEncrypt(sodium, key, Buffer.from(plaintext), vaultRecordAad(ADDRESS)).nonce,
        }),
      },
    ])('$name', ({ tamper }) => {
      const altered = tamper(sealed);
      const err = thrown(() => aeadDecrypt(sodium, key, altered, vaultRecordAad(ADDRESS)));
      expectGenericFailure(err, secretsOf());
    });

    it.each<{ field: keyof RecordAddress; value: string | number }>([
      { field: 'vault_id', value: 'vlt_02' },
      { field: 'workspace_id', value: 'ws_02' },
      { field: 'project_id', value: 'prj_02' },
      { field: 'environment', value: 'staging' },
      { field: 'key', value: 'OTHER_KEY' },
      { field: 'version', value: 2 },
    ])('AAD with a different $field', ({ field, value }) => {
      const aad = vaultRecordAad({ ...ADDRESS, [field]: value });
      const err = thrown(() => aeadDecrypt(sodium, key, sealed, aad));
      expectGenericFailure(err, secretsOf());
    });

    it('empty AAD', () => {
      const err = thrown(() => aeadDecrypt(sodium, key, sealed, new Uint8Array(0)));
      expectGenericFailure(err, secretsOf());
    });

    it('wrong key', () => {
      const err = thrown(() => aeadDecrypt(sodium, newKey(), sealed, vaultRecordAad(ADDRESS)));
      expectGenericFailure(err, secretsOf());
    });

    it('key of the wrong length', () => {
      const err = thrown(() =>
        aeadDecrypt(sodium, key.subarray(0, 16), sealed, vaultRecordAad(ADDRESS)),
      );
      expectGenericFailure(err, secretsOf());
    });

    it('still opens the untampered record', () => {
      const opened = aeadDecrypt(sodium, key, sealed, vaultRecordAad(ADDRESS));
      expect(Buffer.from(opened).toString()).toBe(plaintext);
    });
  });
});

describe('toBase64 / fromBase64', () => {
  it.each([
    { name: 'empty', bytes: new Uint8Array(0), text: '' },
    { name: 'one byte (two pads)', bytes: new Uint8Array([0x61]), text: 'YQ==' },
    { name: 'two bytes (one pad)', bytes: new Uint8Array([0x61, 0x62]), text: 'YWI=' },
    { name: 'three bytes (no pad)', bytes: new Uint8Array([0x61, 0x62, 0x63]), text: 'YWJj' },
    { name: 'bytes giving + and /', bytes: new Uint8Array([0xfb, 0xff, 0xbf]), text: '+/+/' },
  ])('round-trips $name', ({ bytes, text }) => {
    expect(toBase64(bytes)).toBe(text);
    expect(Buffer.from(fromBase64(text)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('encodes only the viewed bytes of a subarray', () => {
    const whole = new Uint8Array([1, 2, 3, 4, 5, 6]);
    expect(toBase64(whole.subarray(2, 5))).toBe(Buffer.from([3, 4, 5]).toString('base64'));
  });

  it.each([
    { name: 'missing padding', text: 'YQ' },
    { name: 'too much padding', text: 'YQ===' },
    { name: 'non-zero trailing bits', text: 'YR==' },
    { name: 'base64url alphabet', text: '-_-_' },
    { name: 'leading space', text: ' YWJj' },
    { name: 'trailing newline', text: 'YWJj\n' },
    { name: 'embedded newline', text: 'YW\nJj' },
    { name: 'invalid characters', text: 'YW*j' },
    { name: 'padding in the middle', text: 'YQ==YQ==' },
    { name: 'not base64 at all', text: 'hello world!' },
  ])('rejects non-canonical input: $name', ({ text }) => {
    const err = thrown(() => fromBase64(text));
    expect(err).toBeInstanceOf(DecryptionFailedError);
    expect((err as DecryptionFailedError).code).toBe('decryption_failed');
  });
});
