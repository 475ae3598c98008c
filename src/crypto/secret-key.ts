import { randomBytes } from 'node:crypto';
import { AgentSecretsError } from '../core/errors.js';

/**
 * The account secret key (issue 12, F5), in the manner of 1Password's two-secret key
 * derivation: 128 random bits made at sign-up, kept in the local vault and mixed into the
 * key derivation with the password. A dump of the server's store then does not allow
 * password guessing: each guess would also need the 128 bits.
 */

/** Bytes of entropy in a secret key. */
export const SECRET_KEY_BYTES = 16;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const PREFIX = 'AS1';

/** A new secret key (random bytes). */
export function newSecretKey(random: (n: number) => Uint8Array = randomBytes): Uint8Array {
  return new Uint8Array(random(SECRET_KEY_BYTES));
}

/** `AS1-XXXXXX-XXXXX-XXXXX-XXXXX-XXXXX`: base32 (RFC 4648 alphabet) in groups, for a human. */
export function formatSecretKey(key: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of key) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return [PREFIX, out.slice(0, 6), ...(out.slice(6).match(/.{1,5}/g) ?? [])].join('-');
}

/** Parses a secret key as a human may type it (any case, with or without dashes and spaces). */
export function parseSecretKey(text: string): Uint8Array {
  const compact = text.replace(/[\s-]/g, '').toUpperCase();
  const body = compact.startsWith(PREFIX) ? compact.slice(PREFIX.length) : compact;
  const fail = () =>
    new AgentSecretsError(
      'usage_error',
      'that is not an account secret key: it looks like AS1-XXXXXX-XXXXX-XXXXX-XXXXX-XXXXX, from the emergency kit printed at sign-up',
    );
  if (body.length !== Math.ceil((SECRET_KEY_BYTES * 8) / 5)) throw fail();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of body) {
    const digit = ALPHABET.indexOf(ch);
    if (digit < 0) throw fail();
    value = ((value << 5) | digit) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  if ((value & ((1 << bits) - 1)) !== 0) throw fail();
  return new Uint8Array(out);
}
