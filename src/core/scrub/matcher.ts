/**
 * Finds, in a byte string, every run of at least `window` consecutive bytes of any secret
 * value. Pure: bytes in, intervals out.
 *
 * The values are cut once into their windows (every `window`-byte slice; a value shorter than
 * its window is one window of its own length), and each window's rolling hash goes into a
 * bitset and a table. A scan then rolls one hash over the text, so its cost grows with the
 * text and not with the number of values: one multiply, one bit test per byte, and a table
 * look-up plus a byte comparison only on a hit. The union of the matched windows is exactly
 * the set of covered runs, so a long run comes back as one interval.
 *
 * Matching folds ASCII case and treats '+' as a space (form encoding writes a space as '+').
 * Both only ever widen what is scrubbed.
 */

/** One byte string to find, and the shortest run of it that counts as a match. */
export interface MatchSource {
  bytes: Uint8Array;
  /** Runs of this many consecutive bytes match; the whole value when it is shorter. */
  window: number;
}

/** A compiled set of values; immutable and shared by any number of scans. */
export interface Matcher {
  /** The shortest window any value has (0 when there are no values). */
  readonly minWindow: number;
  /** The longest window any value has. */
  readonly maxWindow: number;
  /** Number of values compiled in. */
  readonly size: number;
  /**
   * Adds to `out` the [start, end) intervals of `text` covered by a matched window, as flat
   * pairs, in increasing order of start, merged where they overlap or touch.
   */
  scan(text: Uint8Array, out: number[]): void;
}

const BASE = 0x01000193;
/** Length of the q-grams of the prefilter. */
const GRAM = 4;
/** The prefilter is used when it samples at most every this many bytes (windows of 8+). */
const MIN_STEP = 5;
const GRAM_MULTIPLIER = 0x9e3779b1 | 0;

/** Folded byte: ASCII letters lower-cased, '+' as a space. */
export const FOLD: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let b = 0; b < 256; b++) table[b] = b;
  for (let b = 0x41; b <= 0x5a; b++) table[b] = b + 0x20;
  table[0x2b] = 0x20;
  return table;
})();

/** Compiles values into a matcher. Sources shorter than 1 byte are ignored. */
export function compileMatcher(sources: readonly MatchSource[]): Matcher {
  const values: Uint8Array[] = [];
  const windows: number[] = [];
  const seen = new Set<string>();
  for (const source of sources) {
    const window = Math.min(Math.max(1, Math.floor(source.window)), source.bytes.length);
    if (source.bytes.length === 0) continue;
    const folded = Uint8Array.from(source.bytes, (b) => FOLD[b]!);
    const id = `${window}:${Buffer.from(folded).toString('base64')}`;
    if (seen.has(id)) continue;
    seen.add(id);
    values.push(folded);
    windows.push(window);
  }
  if (values.length === 0) {
    return { minWindow: 0, maxWindow: 0, size: 0, scan: () => undefined };
  }

  // Every candidate is found by the hash of its first `prefix` bytes; longer windows are
  // then compared in full.
  const prefix = Math.min(...windows);
  const power = powerOf(prefix);
  let count = 0;
  for (let i = 0; i < values.length; i++) count += values[i]!.length - windows[i]! + 1;
  // One byte per slot (not one bit): a load and a test per scanned byte, no shifts.
  const bits = Math.min(24, Math.max(16, Math.ceil(Math.log2(count * 64))));
  const mask = (1 << bits) - 1;
  const filter = new Uint8Array(1 << bits);
  // hash -> candidates, each packed as value index * 2^16 + offset (offsets beyond 65535 of
  // very long values are stored as separate sources below).
  const table = new Map<number, number[]>();
  const extra: { value: number; offset: number }[] = [];
  for (let v = 0; v < values.length; v++) {
    const bytes = values[v]!;
    const window = windows[v]!;
    let hash = 0;
    for (let j = 0; j < prefix; j++) hash = (Math.imul(hash, BASE) + bytes[j]!) | 0;
    for (let offset = 0; offset + window <= bytes.length; offset++) {
      if (offset > 0) {
        hash =
          (Math.imul(hash - Math.imul(bytes[offset - 1]!, power), BASE) +
            bytes[offset + prefix - 1]!) |
          0;
      }
      filter[hash & mask] = 1;
      let list = table.get(hash);
      if (list === undefined) table.set(hash, (list = []));
      if (offset < 0x10000) list.push(v * 0x10000 + offset);
      else {
        list.push(-1 - extra.length);
        extra.push({ value: v, offset });
      }
    }
  }

  // The weight of each (folded) byte as it leaves the window: one multiply less per byte.
  const leaving = new Int32Array(256);
  for (let b = 0; b < 256; b++) leaving[b] = Math.imul(FOLD[b]!, power);

  function matchesAt(text: Uint8Array, at: number, candidate: number): number {
    let v: number;
    let offset: number;
    if (candidate < 0) {
      const e = extra[-1 - candidate]!;
      v = e.value;
      offset = e.offset;
    } else {
      v = Math.floor(candidate / 0x10000);
      offset = candidate - v * 0x10000;
    }
    const window = windows[v]!;
    if (at + window > text.length) return 0;
    const bytes = values[v]!;
    for (let j = 0; j < window; j++) {
      if (FOLD[text[at + j]!] !== bytes[offset + j]) return 0;
    }
    return window;
  }

  // A cheaper first look (see `GRAM`): every q-gram of every value in a bitset, tested only at
  // every `step`-th position of the text. Values too short for it keep the plain scan.
  const step = prefix - GRAM + 1;
  let grams: Uint32Array | null = null;
  let gramShift = 0;
  if (step >= MIN_STEP) {
    let total = 0;
    for (const bytes of values) total += Math.max(0, bytes.length - GRAM + 1);
    const gramBits = Math.min(24, Math.max(12, Math.ceil(Math.log2(total * 16))));
    gramShift = 32 - gramBits;
    grams = new Uint32Array(1 << (gramBits - 5));
    for (const bytes of values) {
      for (let j = 0; j + GRAM <= bytes.length; j++) {
        const h =
          Math.imul(
            (bytes[j]! << 24) | (bytes[j + 1]! << 16) | (bytes[j + 2]! << 8) | bytes[j + 3]!,
            GRAM_MULTIPLIER,
          ) >>> gramShift;
        grams[h >>> 5]! |= 1 << (h & 31);
      }
    }
  }

  /**
   * The scan below, exactly, but with the windows' rolling hash computed only near a sampled
   * position whose q-gram some value has. A window of `prefix` bytes at i holds the whole
   * q-gram at the one sample in [i, i + step), so a window the plain scan would match is
   * never skipped; positions are visited in increasing order, so runs merge alike.
   */
  function sampledScan(text: Uint8Array, out: number[]): void {
    const n = text.length;
    const last = n - prefix;
    const filterGrams = grams!;
    let runStart = -1;
    let runEnd = -1;
    for (let p = 0; p + GRAM <= n; p += step) {
      const h =
        Math.imul(
          (FOLD[text[p]!]! << 24) |
            (FOLD[text[p + 1]!]! << 16) |
            (FOLD[text[p + 2]!]! << 8) |
            FOLD[text[p + 3]!]!,
          GRAM_MULTIPLIER,
        ) >>> gramShift;
      if ((filterGrams[h >>> 5]! & (1 << (h & 31))) === 0) continue;
      const from = p - step + 1 > 0 ? p - step + 1 : 0;
      const to = p < last ? p : last;
      if (from > to) continue;
      let hash = 0;
      for (let j = 0; j < prefix; j++) hash = (Math.imul(hash, BASE) + FOLD[text[from + j]!]!) | 0;
      for (let i = from; ; i++) {
        if (filter[hash & mask] === 1) {
          const list = table.get(hash);
          if (list !== undefined) {
            let longest = 0;
            for (const candidate of list) {
              const len = matchesAt(text, i, candidate);
              if (len > longest) longest = len;
            }
            if (longest > 0) {
              const end = i + longest;
              if (runStart !== -1 && i <= runEnd) {
                if (end > runEnd) runEnd = end;
              } else {
                if (runStart !== -1) out.push(runStart, runEnd);
                runStart = i;
                runEnd = end;
              }
            }
          }
        }
        if (i >= to) break;
        hash = (Math.imul(hash - leaving[text[i]!]!, BASE) + FOLD[text[i + prefix]!]!) | 0;
      }
    }
    if (runStart !== -1) out.push(runStart, runEnd);
  }

  return {
    minWindow: prefix,
    maxWindow: Math.max(...windows),
    size: values.length,
    scan(text, out) {
      const n = text.length;
      if (n < prefix) return;
      if (grams !== null) {
        sampledScan(text, out);
        return;
      }
      let hash = 0;
      for (let j = 0; j < prefix; j++) hash = (Math.imul(hash, BASE) + FOLD[text[j]!]!) | 0;
      let runStart = -1;
      let runEnd = -1;
      for (let i = 0; ; i++) {
        if (filter[hash & mask] === 1) {
          const list = table.get(hash);
          if (list !== undefined) {
            let longest = 0;
            for (const candidate of list) {
              const len = matchesAt(text, i, candidate);
              if (len > longest) longest = len;
            }
            if (longest > 0) {
              const end = i + longest;
              if (runStart !== -1 && i <= runEnd) {
                if (end > runEnd) runEnd = end;
              } else {
                if (runStart !== -1) out.push(runStart, runEnd);
                runStart = i;
                runEnd = end;
              }
            }
          }
        }
        if (i + prefix >= n) break;
        hash = (Math.imul(hash - leaving[text[i]!]!, BASE) + FOLD[text[i + prefix]!]!) | 0;
      }
      if (runStart !== -1) out.push(runStart, runEnd);
    },
  };
}

/** BASE^(n-1) mod 2^32: the weight of the byte that leaves the rolling window. */
function powerOf(n: number): number {
  let p = 1;
  for (let i = 1; i < n; i++) p = Math.imul(p, BASE);
  return p;
}
