import { randomBytes } from 'node:crypto';
import { PLACEHOLDER_MARK } from '../proxy/substitute.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** `n` random base62 characters (rejection sampling, so every character is equally likely). */
export function randomBase62(n: number, random: (size: number) => Buffer = randomBytes): string {
  let out = '';
  while (out.length < n) {
    for (const byte of random(n * 2)) {
      if (byte < 248 && out.length < n) out += BASE62[byte % 62];
    }
  }
  return out;
}

/**
 * The placeholder a `run` child gets for KEY: `agentsecrets-ph-<KEY>-<24 base62>`, unique per
 * run, after the public prefix a human allowed for it (e.g. `sk_live_`), if any.
 */
export function makePlaceholder(key: string, prefix: string | null = null): string {
  return `${prefix ?? ''}${PLACEHOLDER_MARK}${key}-${randomBase62(24)}`;
}
