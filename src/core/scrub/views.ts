/**
 * Decoded views of a byte string, each mapped back to the bytes it came from. Pure.
 *
 * A secret can come back percent-encoded, as HTML entities, JSON-escaped, quoted-printable,
 * inside base64 wrapped at any column, as hex, in UTF-16, or as any stack of these. Rather
 * than enumerate every encoded form of every value, the scrubber decodes the text into views
 * like these and looks for the plain value in each. Every view byte remembers the source span
 * it was decoded from, so a match is replaced where it stands in the source, covering the
 * whole encoded run.
 */

/** A decoded view: its bytes, and for each byte the [start, end) span of source it came from. */
export interface View {
  bytes: Uint8Array;
  /** Null for the source itself (byte i is source byte i). */
  start: Int32Array | null;
  end: Int32Array | null;
}

/** The identity view of a source. */
export function sourceView(bytes: Uint8Array): View {
  return { bytes, start: null, end: null };
}

/** Maps a view interval [from, to) back to source offsets. */
export function toSource(view: View, from: number, to: number): [number, number] {
  if (view.start === null || view.end === null) return [from, to];
  return [view.start[from]!, view.end[to - 1]!];
}

/** Collects a view's bytes with their source spans (through the parent's own map). */
class Builder {
  #bytes: Uint8Array;
  #start: Int32Array;
  #end: Int32Array;
  #length = 0;
  #changed = false;

  constructor(
    private readonly parent: View,
    capacity: number,
  ) {
    this.#bytes = new Uint8Array(Math.max(16, capacity));
    this.#start = new Int32Array(this.#bytes.length);
    this.#end = new Int32Array(this.#bytes.length);
  }

  /** Adds one decoded byte that came from parent bytes [from, to). */
  push(byte: number, from: number, to: number, decoded = true): void {
    if (this.#length === this.#bytes.length) this.#grow();
    const { start, end } = this.parent;
    this.#bytes[this.#length] = byte;
    this.#start[this.#length] = start === null ? from : start[from]!;
    this.#end[this.#length] = end === null ? to : end[to - 1]!;
    this.#length++;
    if (decoded) this.#changed = true;
  }

  /** Adds the UTF-8 bytes of a code point decoded from parent bytes [from, to). */
  pushCodePoint(cp: number, from: number, to: number): void {
    for (const byte of utf8(cp)) this.push(byte, from, to);
  }

  markChanged(): void {
    this.#changed = true;
  }

  get length(): number {
    return this.#length;
  }

  /** The view, or null when nothing was decoded (it would equal its parent). */
  finish(force = false): View | null {
    if (!this.#changed && !force) return null;
    return {
      bytes: this.#bytes.subarray(0, this.#length),
      start: this.#start.subarray(0, this.#length),
      end: this.#end.subarray(0, this.#length),
    };
  }

  #grow(): void {
    const size = this.#bytes.length * 2;
    const bytes = new Uint8Array(size);
    bytes.set(this.#bytes);
    const start = new Int32Array(size);
    start.set(this.#start);
    const end = new Int32Array(size);
    end.set(this.#end);
    this.#bytes = bytes;
    this.#start = start;
    this.#end = end;
  }
}

const HEX = (() => {
  const table = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) table[0x30 + i] = i;
  for (let i = 0; i < 6; i++) {
    table[0x41 + i] = 10 + i;
    table[0x61 + i] = 10 + i;
  }
  return table;
})();

/** HTML named references a serializer may write for ASCII (and the no-break space). */
const NAMED: Record<string, number> = {
  amp: 0x26,
  lt: 0x3c,
  gt: 0x3e,
  quot: 0x22,
  apos: 0x27,
  nbsp: 0xa0,
  sol: 0x2f,
  plus: 0x2b,
  equals: 0x3d,
  colon: 0x3a,
  semi: 0x3b,
  period: 0x2e,
  comma: 0x2c,
  excl: 0x21,
  quest: 0x3f,
  num: 0x23,
  dollar: 0x24,
  percnt: 0x25,
  lpar: 0x28,
  rpar: 0x29,
  ast: 0x2a,
  midast: 0x2a,
  lsqb: 0x5b,
  lbrack: 0x5b,
  rsqb: 0x5d,
  rbrack: 0x5d,
  lowbar: 0x5f,
  grave: 0x60,
  lcub: 0x7b,
  lbrace: 0x7b,
  rcub: 0x7d,
  rbrace: 0x7d,
  verbar: 0x7c,
  vert: 0x7c,
  tilde: 0x7e,
  hat: 0x5e,
  bsol: 0x5c,
  commat: 0x40,
  newline: 0x0a,
  tab: 0x09,
};

/** Escape characters the unescaper acts on: % & \ */
const ESCAPES = new Set([0x25, 0x26, 0x5c]);

/** Whether `bytes` holds any byte the unescaper would act on. */
export function hasEscapes(bytes: Uint8Array): boolean {
  return bytes.indexOf(0x25) !== -1 || bytes.indexOf(0x26) !== -1 || bytes.indexOf(0x5c) !== -1;
}

/**
 * Percent-escapes (any case, and %uXXXX), HTML character references (decimal, hex, named)
 * and backslash escapes (JSON \uXXXX with surrogate pairs, \xHH, \n \/ \" and the rest),
 * decoded in one pass. Null when nothing was decoded.
 */
export function unescapeView(view: View): View | null {
  const src = view.bytes;
  if (!hasEscapes(src)) return null;
  const out = new Builder(view, src.length);
  const n = src.length;
  let i = 0;
  while (i < n) {
    const b = src[i]!;
    if (!ESCAPES.has(b)) {
      out.push(b, i, i + 1, false);
      i++;
      continue;
    }
    const taken =
      b === 0x25 ? percent(src, i, out) : b === 0x26 ? entity(src, i, out) : slash(src, i, out);
    if (taken === 0) {
      out.push(b, i, i + 1, false);
      i++;
    } else i += taken;
  }
  return out.finish();
}

function hexAt(src: Uint8Array, at: number, digits: number): number {
  if (at + digits > src.length) return -1;
  let value = 0;
  for (let j = 0; j < digits; j++) {
    const d = HEX[src[at + j]!]!;
    if (d < 0) return -1;
    value = value * 16 + d;
  }
  return value;
}

function percent(src: Uint8Array, i: number, out: Builder): number {
  const byte = hexAt(src, i + 1, 2);
  if (byte >= 0) {
    out.push(byte, i, i + 3);
    return 3;
  }
  if (src[i + 1] === 0x75 || src[i + 1] === 0x55) {
    const unit = hexAt(src, i + 2, 4);
    if (unit >= 0) {
      out.pushCodePoint(unit, i, i + 6);
      return 6;
    }
  }
  return 0;
}

function entity(src: Uint8Array, i: number, out: Builder): number {
  let j = i + 1;
  if (src[j] === 0x23) {
    j++;
    const hex = src[j] === 0x78 || src[j] === 0x58;
    if (hex) j++;
    const digitsFrom = j;
    let cp = 0;
    while (j < src.length && j - digitsFrom < (hex ? 6 : 7)) {
      const d = hex ? HEX[src[j]!]! : src[j]! >= 0x30 && src[j]! <= 0x39 ? src[j]! - 0x30 : -1;
      if (d < 0) break;
      cp = cp * (hex ? 16 : 10) + d;
      j++;
    }
    if (j === digitsFrom || cp > 0x10ffff) return 0;
    if (src[j] === 0x3b) j++;
    out.pushCodePoint(cp, i, j);
    return j - i;
  }
  const nameFrom = j;
  while (j < src.length && j - nameFrom < 8 && isAlpha(src[j]!)) j++;
  if (src[j] !== 0x3b || j === nameFrom) return 0;
  const name = String.fromCharCode(...src.subarray(nameFrom, j)).toLowerCase();
  const cp = NAMED[name];
  if (cp === undefined) return 0;
  out.pushCodePoint(cp, i, j + 1);
  return j + 1 - i;
}

const SIMPLE: Record<number, number> = {
  0x6e: 0x0a, // n
  0x72: 0x0d, // r
  0x74: 0x09, // t
  0x62: 0x08, // b
  0x66: 0x0c, // f
  0x2f: 0x2f, // /
  0x5c: 0x5c, // \
  0x22: 0x22, // "
  0x27: 0x27, // '
  0x30: 0x00, // 0
};

function slash(src: Uint8Array, i: number, out: Builder): number {
  const next = src[i + 1];
  if (next === undefined) return 0;
  if (next === 0x75 || next === 0x55) {
    const unit = hexAt(src, i + 2, 4);
    if (unit < 0) return 0;
    // A surrogate pair written as two escapes is one code point.
    if (
      unit >= 0xd800 &&
      unit <= 0xdbff &&
      src[i + 6] === 0x5c &&
      ((src[i + 7] ?? 0) | 0x20) === 0x75
    ) {
      const low = hexAt(src, i + 8, 4);
      if (low >= 0xdc00 && low <= 0xdfff) {
        out.pushCodePoint(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00), i, i + 12);
        return 12;
      }
    }
    out.pushCodePoint(unit, i, i + 6);
    return 6;
  }
  if (next === 0x78) {
    const byte = hexAt(src, i + 2, 2);
    if (byte < 0) return 0;
    out.push(byte, i, i + 4);
    return 4;
  }
  const simple = SIMPLE[next];
  if (simple === undefined) return 0;
  out.push(simple, i, i + 2);
  return 2;
}

/** Whether the text could hold quoted-printable: a soft line break or an =XX escape. */
function looksQuotedPrintable(src: Uint8Array): boolean {
  for (let at = src.indexOf(0x3d); at !== -1; at = src.indexOf(0x3d, at + 1)) {
    const next = src[at + 1];
    if (next === 0x0a || (next === 0x0d && src[at + 2] === 0x0a)) return true;
    if (hexAt(src, at + 1, 2) >= 0) return true;
  }
  return false;
}

/** Quoted-printable: =XX escapes and soft line breaks removed. Null when there are none. */
export function quotedPrintableView(view: View): View | null {
  const src = view.bytes;
  if (!looksQuotedPrintable(src)) return null;
  const out = new Builder(view, src.length);
  const n = src.length;
  let i = 0;
  while (i < n) {
    const b = src[i]!;
    if (b === 0x3d) {
      const byte = hexAt(src, i + 1, 2);
      if (byte >= 0) {
        out.push(byte, i, i + 3);
        i += 3;
        continue;
      }
      if (src[i + 1] === 0x0a) {
        out.markChanged();
        i += 2;
        continue;
      }
      if (src[i + 1] === 0x0d && src[i + 2] === 0x0a) {
        out.markChanged();
        i += 3;
        continue;
      }
    }
    out.push(b, i, i + 1, false);
    i++;
  }
  return out.finish();
}

/** Standard and URL-safe base64 digits, one table: -1 for anything else. */
const B64 = (() => {
  const table = new Int8Array(256).fill(-1);
  const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  for (let i = 0; i < 64 - 2; i++) table[digits.charCodeAt(i)] = i;
  table[0x2b] = 62; // +
  table[0x2d] = 62; // -
  table[0x2f] = 63; // /
  table[0x5f] = 63; // _
  return table;
})();

/**
 * Base64 (standard or URL-safe, wrapped at any column with LF or CRLF), decoded at each of the
 * four alignments a run may start at; one view per alignment, the decoded runs one after the
 * other. Only runs of at least `minChars` digits are decoded.
 */
export function base64Views(view: View, minChars: number): View[] {
  const src = view.bytes;
  const runs = findRuns(
    src,
    (b) => B64[b]! >= 0,
    (b) => b === 0x0a || b === 0x0d,
    minChars,
  );
  if (runs.length === 0) return [];
  const views: View[] = [];
  for (let align = 0; align < 4; align++) {
    const out = new Builder(view, 0);
    for (const positions of runs) {
      const n = positions.length;
      for (let s = align; s + 1 < n; s += 4) {
        const p0 = positions[s]!;
        const p1 = positions[s + 1]!;
        const d0 = B64[src[p0]!]!;
        const d1 = B64[src[p1]!]!;
        out.push(((d0 << 2) | (d1 >> 4)) & 0xff, p0, p1 + 1);
        if (s + 2 >= n) break;
        const p2 = positions[s + 2]!;
        const d2 = B64[src[p2]!]!;
        out.push(((d1 << 4) | (d2 >> 2)) & 0xff, p1, p2 + 1);
        if (s + 3 >= n) break;
        const p3 = positions[s + 3]!;
        out.push(((d2 << 6) | B64[src[p3]!]!) & 0xff, p2, p3 + 1);
      }
    }
    const decoded = out.finish(true);
    if (decoded !== null && decoded.bytes.length > 0) views.push(decoded);
  }
  return views;
}

/** Hex (either case), decoded at both alignments; runs of at least `minChars` digits. */
export function hexViews(view: View, minChars: number): View[] {
  const src = view.bytes;
  const runs = findRuns(
    src,
    (b) => HEX[b]! >= 0,
    () => false,
    minChars,
  );
  if (runs.length === 0) return [];
  const views: View[] = [];
  for (let align = 0; align < 2; align++) {
    const out = new Builder(view, 0);
    for (const positions of runs) {
      for (let k = align; k + 1 < positions.length; k += 2) {
        const at = positions[k]!;
        out.push((HEX[src[at]!]! << 4) | HEX[src[at + 1]!]!, at, at + 2);
      }
    }
    const decoded = out.finish(true);
    if (decoded !== null && decoded.bytes.length > 0) views.push(decoded);
  }
  return views;
}

/**
 * Maximal runs of `digit` bytes, possibly broken by `gap` bytes (line breaks), with at least
 * `minDigits` digits; each as the list of its digits' positions.
 */
function findRuns(
  src: Uint8Array,
  digit: (b: number) => boolean,
  gap: (b: number) => boolean,
  minDigits: number,
): number[][] {
  const runs: number[][] = [];
  let current: number[] = [];
  for (let i = 0; i <= src.length; i++) {
    const b = i < src.length ? src[i]! : -1;
    if (b >= 0 && digit(b)) current.push(i);
    else if (b >= 0 && gap(b) && current.length > 0) continue;
    else {
      if (current.length >= minDigits) runs.push(current);
      if (current.length > 0) current = [];
    }
  }
  return runs;
}

/**
 * UTF-16 (by the given byte order) transcoded to UTF-8, each code unit mapped to its two
 * bytes. `from` is where the first whole code unit starts.
 */
export function utf16View(src: Uint8Array, order: 'le' | 'be', from = 0): View {
  const out = new Builder(sourceView(src), src.length);
  let i = from;
  while (i + 1 < src.length) {
    const unit = order === 'le' ? src[i]! | (src[i + 1]! << 8) : (src[i]! << 8) | src[i + 1]!;
    if (unit >= 0xd800 && unit <= 0xdbff && i + 3 < src.length) {
      const low =
        order === 'le' ? src[i + 2]! | (src[i + 3]! << 8) : (src[i + 2]! << 8) | src[i + 3]!;
      if (low >= 0xdc00 && low <= 0xdfff) {
        out.pushCodePoint(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00), i, i + 4);
        i += 4;
        continue;
      }
    }
    out.pushCodePoint(unit, i, i + 2);
    i += 2;
  }
  return out.finish(true)!;
}

function isAlpha(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

/** UTF-8 bytes of a code point (a lone surrogate is written as its three-byte form). */
function utf8(cp: number): number[] {
  if (cp < 0x80) return [cp];
  if (cp < 0x800) return [0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)];
  if (cp < 0x10000) return [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)];
  return [
    0xf0 | (cp >> 18),
    0x80 | ((cp >> 12) & 0x3f),
    0x80 | ((cp >> 6) & 0x3f),
    0x80 | (cp & 0x3f),
  ];
}
