// PRE-CHANGE REFERENCE (issue 17): a verbatim copy of src/core/scrub/views.ts at main 16904fa,
// kept only so test/core/scrub/differential.test.ts and bench/scrub-body.mjs can compare the
// optimised scrubber against it. Test-only: never import this from src/.
/**
 * Decoded views of a byte string, each mapped back to the bytes it came from. Pure.
 *
 * A secret can come back percent-encoded, as HTML entities, JSON-escaped, quoted-printable,
 * inside base64 wrapped at any column, as hex, in UTF-16, or as any stack of these. Rather
 * than enumerate every encoded form of every value, the scrubber decodes the text into views
 * like these and looks for the plain value in each. A view can map any run of its bytes back
 * to the source span it was decoded from, so a match is replaced where it stands in the
 * source, covering the whole encoded run.
 *
 * Views are built for speed on large bodies: plain stretches are copied in bulk and mapped by
 * one segment each, and base64 and hex map arithmetically, so a view costs about one pass.
 */

/** A decoded view: its bytes, and how a run of them maps back to the source. */
export interface View {
  bytes: Uint8Array;
  /** The [start, end) source span that view bytes [from, to) were decoded from. */
  toSource(from: number, to: number): [number, number];
  /**
   * Where the view differs from its parent (flat [start, end) pairs, in order); absent when
   * all of it does. A match that touches none of these is in the parent too.
   */
  changed?: readonly number[];
}

/** The identity view of a source. */
export function sourceView(bytes: Uint8Array): View {
  return { bytes, toSource: (from, to) => [from, to] };
}

/**
 * Collects a view as segments: a stretch copied from the parent (stride 1), a stretch where
 * each byte stands for `stride` parent bytes, or decoded bytes that all stand for one parent
 * span (stride 0).
 */
class Builder {
  bytes: Uint8Array;
  length = 0;
  #segView: number[] = [];
  #segFrom: number[] = [];
  #segTo: number[] = [];
  #segStride: number[] = [];
  #changed: number[] = [];

  constructor(capacity: number) {
    this.bytes = new Uint8Array(Math.max(64, capacity));
  }

  /** Appends parent bytes [from, to) unchanged. */
  copy(parent: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    this.#reserve(to - from);
    this.bytes.set(parent.subarray(from, to), this.length);
    this.#segment(from, to, 1);
    this.length += to - from;
  }

  /** Appends one byte that stands for parent bytes [from, to) (a stretch of `stride` = to - from). */
  byte(value: number, from: number, to: number, stride = 0): void {
    this.#reserve(1);
    const last = this.#segView.length - 1;
    // Consecutive bytes of the same stride extend one segment.
    if (
      stride > 0 &&
      last >= 0 &&
      this.#segStride[last] === stride &&
      this.#segTo[last] === from &&
      this.#segView[last]! + (this.#segTo[last]! - this.#segFrom[last]!) / stride === this.length
    ) {
      this.#segTo[last] = to;
    } else {
      this.#segment(from, to, stride);
    }
    this.#mark(this.length, this.length + 1);
    this.bytes[this.length++] = value;
  }

  /** Appends the UTF-8 bytes of a code point decoded from parent bytes [from, to). */
  codePoint(cp: number, from: number, to: number): void {
    this.#segment(from, to, 0);
    this.#reserve(4);
    const first = this.length;
    if (cp < 0x80) this.bytes[this.length++] = cp;
    else if (cp < 0x800) {
      this.bytes[this.length++] = 0xc0 | (cp >> 6);
      this.bytes[this.length++] = 0x80 | (cp & 0x3f);
    } else if (cp < 0x10000) {
      this.bytes[this.length++] = 0xe0 | (cp >> 12);
      this.bytes[this.length++] = 0x80 | ((cp >> 6) & 0x3f);
      this.bytes[this.length++] = 0x80 | (cp & 0x3f);
    } else {
      this.bytes[this.length++] = 0xf0 | (cp >> 18);
      this.bytes[this.length++] = 0x80 | ((cp >> 12) & 0x3f);
      this.bytes[this.length++] = 0x80 | ((cp >> 6) & 0x3f);
      this.bytes[this.length++] = 0x80 | (cp & 0x3f);
    }
    this.#mark(first, this.length);
  }

  /** Records that parent bytes were dropped here (a soft line break): the join is a change. */
  gap(): void {
    this.#mark(this.length, this.length);
  }

  /** The view over `parent`; `whole` when every byte differs from the parent (no ranges). */
  finish(parent: View, whole = false): View {
    const segView = Int32Array.from(this.#segView);
    const segFrom = Int32Array.from(this.#segFrom);
    const segTo = Int32Array.from(this.#segTo);
    const segStride = Int32Array.from(this.#segStride);
    const locate = (at: number, end: boolean): number => {
      // The last segment that starts at or before `at`.
      let lo = 0;
      let hi = segView.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (segView[mid]! <= at) lo = mid;
        else hi = mid - 1;
      }
      const stride = segStride[lo]!;
      if (stride === 0) return end ? segTo[lo]! : segFrom[lo]!;
      const from = segFrom[lo]! + (at - segView[lo]!) * stride;
      return end ? from + stride : from;
    };
    return {
      bytes: this.bytes.subarray(0, this.length),
      toSource: (from, to) => parent.toSource(locate(from, false), locate(to - 1, true)),
      ...(whole ? {} : { changed: this.#changed }),
    };
  }

  #mark(from: number, to: number): void {
    const last = this.#changed.length - 1;
    if (last > 0 && this.#changed[last] === from) this.#changed[last] = to;
    else this.#changed.push(from, to);
  }

  #segment(from: number, to: number, stride: number): void {
    this.#segView.push(this.length);
    this.#segFrom.push(from);
    this.#segTo.push(to);
    this.#segStride.push(stride);
  }

  #reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const bytes = new Uint8Array(Math.max(this.bytes.length * 2, this.length + extra));
    bytes.set(this.bytes.subarray(0, this.length));
    this.bytes = bytes;
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

/** 1 for the bytes the unescaper acts on: % & \ */
const ESCAPE = (() => {
  const table = new Uint8Array(256);
  table[0x25] = 1;
  table[0x26] = 1;
  table[0x5c] = 1;
  return table;
})();

/** Whether `bytes` holds any byte the unescaper would act on. */
export function hasEscapes(bytes: Uint8Array): boolean {
  return bytes.indexOf(0x25) !== -1 || bytes.indexOf(0x26) !== -1 || bytes.indexOf(0x5c) !== -1;
}

/** A decoded view, and whether decoding produced new escape characters (worth another pass). */
export interface Unescaped {
  view: View;
  nested: boolean;
}

/**
 * Percent-escapes (any case, and %uXXXX), HTML character references (decimal, hex, named)
 * and backslash escapes (JSON \uXXXX with surrogate pairs, \xHH, \n \/ \" and the rest),
 * decoded in one pass. Null when nothing was decoded.
 */
export function unescapeView(view: View): Unescaped | null {
  const src = view.bytes;
  const n = src.length;
  let out: Builder | undefined;
  let copied = 0;
  let nested = false;
  let i = 0;
  while (i < n) {
    while (i < n && ESCAPE[src[i]!] === 0) i++;
    if (i >= n) break;
    const b = src[i]!;
    const found = b === 0x25 ? percent(src, i) : b === 0x26 ? entity(src, i) : slash(src, i);
    if (found === null) {
      i++;
      continue;
    }
    out ??= new Builder(n);
    out.copy(src, copied, i);
    const mark = out.length;
    if (found.byte) out.byte(found.value, i, i + found.taken);
    else out.codePoint(found.value, i, i + found.taken);
    for (let k = mark; k < out.length; k++) if (ESCAPE[out.bytes[k]!] === 1) nested = true;
    i += found.taken;
    copied = i;
  }
  if (out === undefined) return null;
  out.copy(src, copied, n);
  return { view: out.finish(view), nested };
}

/** One escape found: how many source bytes it takes, and the byte or code point it stands for. */
interface Escape {
  taken: number;
  value: number;
  byte: boolean;
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

function percent(src: Uint8Array, i: number): Escape | null {
  const byte = hexAt(src, i + 1, 2);
  if (byte >= 0) return { taken: 3, value: byte, byte: true };
  if (src[i + 1] === 0x75 || src[i + 1] === 0x55) {
    const unit = hexAt(src, i + 2, 4);
    if (unit >= 0) return { taken: 6, value: unit, byte: false };
  }
  return null;
}

function entity(src: Uint8Array, i: number): Escape | null {
  let j = i + 1;
  if (src[j] === 0x23) {
    j++;
    const hex = src[j] === 0x78 || src[j] === 0x58;
    if (hex) j++;
    const digitsFrom = j;
    let cp = 0;
    // Leading zeros are allowed in any number; a reference past U+10FFFF is not one.
    while (j < src.length && j - digitsFrom < 32) {
      const c = src[j]!;
      const d = hex ? HEX[c]! : c >= 0x30 && c <= 0x39 ? c - 0x30 : -1;
      if (d < 0) break;
      cp = cp * (hex ? 16 : 10) + d;
      if (cp > 0x10ffff) return null;
      j++;
    }
    if (j === digitsFrom || cp > 0x10ffff) return null;
    if (src[j] === 0x3b) j++;
    return { taken: j - i, value: cp, byte: false };
  }
  const nameFrom = j;
  while (j < src.length && j - nameFrom < 8 && isAlpha(src[j]!)) j++;
  if (src[j] !== 0x3b || j === nameFrom) return null;
  const cp = NAMED[String.fromCharCode(...src.subarray(nameFrom, j)).toLowerCase()];
  return cp === undefined ? null : { taken: j + 1 - i, value: cp, byte: false };
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

function slash(src: Uint8Array, i: number): Escape | null {
  const next = src[i + 1];
  if (next === undefined) return null;
  // Rust, Ruby, Swift and ES2015: \u{1F511}.
  if (next === 0x75 && src[i + 2] === 0x7b) {
    let cp = 0;
    let j = i + 3;
    while (j < src.length && j - i < 12 && HEX[src[j]!]! >= 0) cp = cp * 16 + HEX[src[j++]!]!;
    if (src[j] !== 0x7d || j === i + 3 || cp > 0x10ffff) return null;
    return { taken: j + 1 - i, value: cp, byte: false };
  }
  if (next === 0x75 || next === 0x55) {
    const unit = hexAt(src, i + 2, 4);
    if (unit < 0) return null;
    // A surrogate pair written as two escapes is one code point.
    if (
      unit >= 0xd800 &&
      unit <= 0xdbff &&
      src[i + 6] === 0x5c &&
      ((src[i + 7] ?? 0) | 0x20) === 0x75
    ) {
      const low = hexAt(src, i + 8, 4);
      if (low >= 0xdc00 && low <= 0xdfff) {
        return {
          taken: 12,
          value: 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00),
          byte: false,
        };
      }
    }
    return { taken: 6, value: unit, byte: false };
  }
  if (next === 0x78) {
    const byte = hexAt(src, i + 2, 2);
    return byte < 0 ? null : { taken: 4, value: byte, byte: true };
  }
  const simple = SIMPLE[next];
  if (simple !== undefined) return { taken: 2, value: simple, byte: true };
  // Any other punctuation stands for itself (regex escaping, Markdown, shell quoting).
  if (isPunctuation(next)) return { taken: 2, value: next, byte: true };
  return null;
}

/** Quoted-printable: =XX escapes and soft line breaks removed. Null when there are none. */
export function quotedPrintableView(view: View): View | null {
  const src = view.bytes;
  const n = src.length;
  let out: Builder | undefined;
  let copied = 0;
  for (let i = src.indexOf(0x3d); i !== -1 && i < n; i = src.indexOf(0x3d, i)) {
    const byte = hexAt(src, i + 1, 2);
    const soft = src[i + 1] === 0x0a ? 2 : src[i + 1] === 0x0d && src[i + 2] === 0x0a ? 3 : 0;
    if (byte < 0 && soft === 0) {
      i++;
      continue;
    }
    out ??= new Builder(n);
    out.copy(src, copied, i);
    if (byte >= 0) {
      out.byte(byte, i, i + 3);
      i += 3;
    } else {
      out.gap();
      i += soft;
    }
    copied = i;
  }
  if (out === undefined) return null;
  out.copy(src, copied, n);
  return out.finish(view);
}

/** Standard and URL-safe base64 digits, one table: -1 for anything else. */
const B64 = (() => {
  const table = new Int8Array(256).fill(-1);
  const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  for (let i = 0; i < digits.length; i++) table[digits.charCodeAt(i)] = i;
  table[0x2b] = 62; // +
  table[0x2d] = 62; // -
  table[0x2f] = 63; // /
  table[0x5f] = 63; // _
  return table;
})();

/** The base64 runs of a view with at least `minChars` digits. */
export function base64Runs(view: View, minChars: number): Run[] {
  return findRuns(view.bytes, B64, B64_GAPS, minChars);
}

/** A run of digits: where it is, and its digits' positions when line breaks interrupt it. */
export interface Run {
  start: number;
  digits: number;
  /** Positions of the digits, only when the run has gaps (else start + index). */
  positions: Int32Array | null;
}

/**
 * Gap characters inside base64: line breaks (MIME, PEM). Not spaces: with them every sentence
 * of plain words would be a base64 run to decode four ways.
 */
const B64_GAPS = gapTable('\r\n');
/** Gap characters inside hex: line breaks, and the separators of fingerprints and dumps. */
const HEX_GAPS = gapTable('\r\n :-');
/**
 * At most this many gap characters in a row: a run of digits spread wider is not one value
 * (and a bound keeps a matched window within the stream's HOLDBACK).
 */
const MAX_GAP = 4;

function gapTable(chars: string): Uint8Array {
  const table = new Uint8Array(256);
  for (const c of chars) table[c.charCodeAt(0)] = 1;
  return table;
}

/**
 * Maximal runs of digits (per `table`), possibly broken by gap characters (at most MAX_GAP in
 * a row), with at least `minDigits` digits.
 */
function findRuns(src: Uint8Array, table: Int8Array, gaps: Uint8Array, minDigits: number): Run[] {
  const runs: Run[] = [];
  const n = src.length;
  let i = 0;
  while (i < n) {
    while (i < n && table[src[i]!]! < 0) i++;
    const start = i;
    let digits = 0;
    let broken = false;
    let end = i;
    let gap = 0;
    while (i < n) {
      const b = src[i]!;
      if (table[b]! >= 0) {
        digits++;
        i++;
        end = i;
        gap = 0;
      } else if (gaps[b] === 1 && gap < MAX_GAP) {
        gap++;
        i++;
      } else break;
    }
    if (end - start > digits) broken = true;
    i = Math.max(end, i);
    if (digits >= minDigits) {
      let positions: Int32Array | null = null;
      if (broken) {
        positions = new Int32Array(digits);
        let k = 0;
        for (let at = start; at < end; at++) if (table[src[at]!]! >= 0) positions[k++] = at;
      }
      runs.push({ start, digits, positions });
    }
  }
  return runs;
}

/** The first `digits` digits of a base64 run, decoded at its first alignment. */
export function decodeRun(src: Uint8Array, run: Run, digits: number): Buffer {
  let text = '';
  for (let k = 0; k < Math.min(digits, run.digits); k++) {
    text += String.fromCharCode(src[position(run, k)]!);
  }
  return Buffer.from(text.replaceAll('-', '+').replaceAll('_', '/'), 'base64');
}

const position = (run: Run, index: number): number =>
  run.positions === null ? run.start + index : run.positions[index]!;

/**
 * Base64 (standard or URL-safe, wrapped at any column with LF or CRLF), decoded at each of the
 * four alignments a run may start at; one view per alignment, the decoded runs one after the
 * other. Only runs of at least `minChars` digits are decoded.
 */
export function base64Views(
  view: View,
  minChars: number,
  runs: readonly Run[] = base64Runs(view, minChars),
): View[] {
  const src = view.bytes;
  if (runs.length === 0) return [];
  const views: View[] = [];
  for (let align = 0; align < 4; align++) {
    const bytes = new Uint8Array(
      runs.reduce((sum, r) => sum + Math.ceil(((r.digits - align) * 3) / 4), 0),
    );
    const starts: number[] = [];
    let length = 0;
    for (const run of runs) {
      starts.push(length);
      const n = run.digits;
      for (let s = align; s + 1 < n; s += 4) {
        const d0 = B64[src[position(run, s)]!]!;
        const d1 = B64[src[position(run, s + 1)]!]!;
        bytes[length++] = ((d0 << 2) | (d1 >> 4)) & 0xff;
        if (s + 2 >= n) break;
        const d2 = B64[src[position(run, s + 2)]!]!;
        bytes[length++] = ((d1 << 4) | (d2 >> 2)) & 0xff;
        if (s + 3 >= n) break;
        bytes[length++] = ((d2 << 6) | B64[src[position(run, s + 3)]!]!) & 0xff;
      }
    }
    if (length === 0) continue;
    // Decoded byte k of a run, at alignment a, comes from digits a + 4q + r and the next one.
    const locate = (at: number): [Run, number] => {
      let lo = 0;
      let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid]! <= at) lo = mid;
        else hi = mid - 1;
      }
      const local = at - starts[lo]!;
      return [runs[lo]!, align + 4 * Math.floor(local / 3) + (local % 3)];
    };
    views.push({
      bytes: bytes.subarray(0, length),
      toSource(from, to) {
        const [first, a] = locate(from);
        const [last, b] = locate(to - 1);
        return view.toSource(position(first, a), position(last, b + 1) + 1);
      },
    });
  }
  return views;
}

const HEX_DIGITS = (() => {
  const table = new Int8Array(256).fill(-1);
  for (let b = 0; b < 256; b++) if (HEX[b]! >= 0) table[b] = HEX[b]!;
  return table;
})();

/** Hex (either case), decoded at both alignments; runs of at least `minChars` digits. */
export function hexViews(view: View, minChars: number): View[] {
  const src = view.bytes;
  const runs = findRuns(src, HEX_DIGITS, HEX_GAPS, minChars);
  if (runs.length === 0) return [];
  const views: View[] = [];
  for (let align = 0; align < 2; align++) {
    const out = new Builder(runs.reduce((sum, r) => sum + (r.digits >> 1), 0));
    for (const run of runs) {
      for (let k = align; k + 1 < run.digits; k += 2) {
        const hi = position(run, k);
        const lo = position(run, k + 1);
        if (run.positions === null) out.byte((HEX[src[hi]!]! << 4) | HEX[src[lo]!]!, hi, lo + 1, 2);
        else out.byte((HEX[src[hi]!]! << 4) | HEX[src[lo]!]!, hi, lo + 1);
      }
    }
    if (out.length > 0) views.push(out.finish(view, true));
  }
  return views;
}

/**
 * UTF-16 (by the given byte order) transcoded to UTF-8, each code unit mapped to its two
 * bytes. `from` is where the first whole code unit starts.
 */
export function utf16View(parent: View, order: 'le' | 'be', from = 0): View {
  const src = parent.bytes;
  const out = new Builder(src.length >> 1);
  const lo = order === 'le' ? 0 : 1;
  const hi = 1 - lo;
  let i = from;
  while (i + 1 < src.length) {
    const unit = src[i + lo]! | (src[i + hi]! << 8);
    if (unit < 0x80) {
      out.byte(unit, i, i + 2, 2);
      i += 2;
      continue;
    }
    if (unit >= 0xd800 && unit <= 0xdbff && i + 3 < src.length) {
      const low = src[i + 2 + lo]! | (src[i + 2 + hi]! << 8);
      if (low >= 0xdc00 && low <= 0xdfff) {
        out.codePoint(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00), i, i + 4);
        i += 4;
        continue;
      }
    }
    out.codePoint(unit, i, i + 2);
    i += 2;
  }
  return out.finish(parent, true);
}

/** Whether most of `bytes` is printable text (tab, line breaks, ASCII 32-126, UTF-8 lead/tail). */
export function mostlyText(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  const n = Math.min(bytes.length, 4096);
  let text = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if ((b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d || b >= 0x80) text++;
  }
  return text * 10 >= n * 9;
}

function isPunctuation(b: number): boolean {
  return (
    (b >= 0x21 && b <= 0x2f) ||
    (b >= 0x3a && b <= 0x40) ||
    (b >= 0x5b && b <= 0x60) ||
    (b >= 0x7b && b <= 0x7e) ||
    b === 0x20
  );
}

function isAlpha(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}
