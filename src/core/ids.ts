import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** Crockford-style base32 (lower case) of `bytes`. */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/** A random id such as `ws_3k9…`: a prefix and 80 random bits. */
export function randomId(prefix: string, bytes = 10): string {
  return `${prefix}_${base32(randomBytes(bytes))}`;
}

/**
 * An id that sorts by creation time: 48 bits of milliseconds, then 64 random bits
 * (ULID-like), so that ids in a log are ordered without parsing timestamps.
 */
export function timeOrderedId(prefix: string, now: Date = new Date()): string {
  const bytes = Buffer.alloc(14);
  bytes.writeUIntBE(now.getTime(), 0, 6);
  randomBytes(8).copy(bytes, 6);
  return `${prefix}_${base32(bytes)}`;
}
