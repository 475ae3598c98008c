import { randomBytes, randomFillSync } from 'node:crypto';

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

// Random bytes for ids on hot paths (one audit id per call) come from a pool refilled 4 KiB
// at a time: one CSPRNG call per 512 ids instead of one per id. The bytes are still taken
// from the OS CSPRNG and each is used once.
const POOL = Buffer.alloc(4096);
let poolOffset = POOL.length;

function pooledRandom(length: number): Buffer {
  if (poolOffset + length > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const out = Buffer.from(POOL.subarray(poolOffset, poolOffset + length));
  poolOffset += length;
  return out;
}

/**
 * An id that sorts by creation time: 48 bits of milliseconds, then 64 random bits
 * (ULID-like), so that ids in a log are ordered without parsing timestamps.
 */
export function timeOrderedId(prefix: string, now: Date = new Date()): string {
  const bytes = Buffer.alloc(14);
  bytes.writeUIntBE(now.getTime(), 0, 6);
  pooledRandom(8).copy(bytes, 6);
  return `${prefix}_${base32(bytes)}`;
}

/**
 * The creation time (ms) a `timeOrderedId` carries, or undefined for any other id. Used as a
 * hint only (where to look first): the random part is not checked.
 */
export function timeOfOrderedId(id: string): number | undefined {
  const body = id.slice(id.indexOf('_') + 1);
  if (id.indexOf('_') < 1 || body.length !== 23) return undefined;
  let ms = 0;
  // The first 48 bits are the first 9.6 base32 characters: take 10 (50 bits) and drop 2.
  for (const c of body.slice(0, 10)) {
    const v = ALPHABET.indexOf(c);
    if (v === -1) return undefined;
    ms = ms * 32 + v;
  }
  return Math.floor(ms / 4);
}
