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

const CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
// Scratch space for one id: 6 bytes of time and 8 random bytes in, the characters out.
const ID_BYTES = new Uint8Array(14);
const ID_TEXT = Buffer.alloc(64);

/**
 * An id that sorts by creation time: 48 bits of milliseconds, then 64 random bits
 * (ULID-like), so that ids in a log are ordered without parsing timestamps. One per proxied
 * call: written into scratch buffers and read out as one string (no Date, Buffer or
 * character-by-character string per id). `prefix` is a short ASCII word ('evt', 'run').
 */
export function timeOrderedId(prefix: string, now?: Date): string {
  const ms = now === undefined ? Date.now() : now.getTime();
  if (poolOffset + 8 > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const high = Math.floor(ms / 0x1_0000_0000);
  const low = ms >>> 0;
  ID_BYTES[0] = (high >>> 8) & 0xff;
  ID_BYTES[1] = high & 0xff;
  ID_BYTES[2] = low >>> 24;
  ID_BYTES[3] = (low >>> 16) & 0xff;
  ID_BYTES[4] = (low >>> 8) & 0xff;
  ID_BYTES[5] = low & 0xff;
  for (let i = 0; i < 8; i++) ID_BYTES[6 + i] = POOL[poolOffset + i]!;
  poolOffset += 8;
  if (prefix.length > ID_TEXT.length - 24) return `${prefix}_${base32(ID_BYTES)}`;
  let n = ID_TEXT.write(prefix, 0, 'latin1');
  ID_TEXT[n++] = 0x5f; // '_'
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < ID_BYTES.length; i++) {
    buffer = ((buffer << 8) | ID_BYTES[i]!) & 0xfff;
    bits += 8;
    while (bits >= 5) {
      ID_TEXT[n++] = CODES[(buffer >>> (bits - 5)) & 31]!;
      bits -= 5;
    }
  }
  if (bits > 0) ID_TEXT[n++] = CODES[(buffer << (5 - bits)) & 31]!;
  return ID_TEXT.toString('latin1', 0, n);
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
