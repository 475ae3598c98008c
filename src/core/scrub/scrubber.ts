import { gunzipSync, inflateRawSync, constants as zlibConstants } from 'node:zlib';
import { compileMatcher, type Matcher, type MatchSource } from './matcher.js';
import {
  base64Runs,
  base64Views,
  hexViews,
  quotedPrintableView,
  type Run,
  sourceView,
  unescapeView,
  utf16View,
  type View,
} from './views.js';

/**
 * The scrubber: every secret value in scope, compiled once, found in any byte string under
 * any stack of the encodings the views decode, and replaced where it stands. Pure.
 */

/** What replaces a secret in any output. */
export const PLACEHOLDER = '[REDACTED_BY_AGENTSECRETS]';

/** Runs of this many bytes of a value are scrubbed by default (documented; never below 8). */
export const DEFAULT_WINDOW = 12;
/** The floor for the partial-match window. */
export const MIN_WINDOW = 8;
/** A part of a `user:password` pair is scrubbed on its own from this length. */
const MIN_PART = 8;
/** How many times percent/entity/backslash decoding is applied on top of itself, at most. */
const UNESCAPE_DEPTH = 6;
/** How many layers of decoding (base64 in hex in base64…) are looked into. */
const MAX_DEPTH = 4;
/** What gzip found inside base64 may inflate to. */
const MAX_INFLATE = 16 * 1024 * 1024;

export interface ScrubberOptions {
  /** Partial-match window W in bytes (default 12, at least 8). */
  window?: number;
}

/** How the bytes to scan are encoded, when the caller knows more than the bytes say. */
export interface ScanHints {
  /** The text is UTF-16 in this byte order (from a BOM or a charset). */
  utf16?: 'le' | 'be';
  /** Offset of `bytes[0]` in the whole body: UTF-16 code units start at even offsets. */
  offset?: number;
}

/** A compiled set of values. */
export interface Scrubber {
  /** Number of distinct values compiled in. */
  readonly size: number;
  /** The partial-match window in force. */
  readonly window: number;
  /** Merged [start, end) intervals of `bytes` that hold a secret, as flat pairs. */
  find(bytes: Uint8Array, hints?: ScanHints): number[];
  /** Whether `bytes` holds any secret. */
  contains(bytes: Uint8Array, hints?: ScanHints): boolean;
  /**
   * Whether a header name holds a secret. Names reach agents lower-cased, which base64
   * cannot be decoded from, so names are also compared with the values' base64 forms
   * without regard to case.
   */
  nameContains(name: string): boolean;
  /**
   * Scrubs a short string whose characters are bytes (a header value, as HTTP clients hand
   * them over), returning it in the same form. Results are remembered: headers repeat.
   */
  redactLatin1(text: string): { text: string; count: number };
  /** Replaces every interval `find` reports with the placeholder. */
  redact(bytes: Uint8Array | string, hints?: ScanHints): { output: Buffer; count: number };
}

/** Compiles the values to scrub. Empty values are ignored. */
export function compileScrubber(values: Iterable<string>, options: ScrubberOptions = {}): Scrubber {
  const window = Math.max(MIN_WINDOW, Math.floor(options.window ?? DEFAULT_WINDOW));
  // Read once: `values` may be an iterator.
  const unique = [...new Set(values)].filter((v) => v.length > 0);
  const size = unique.length;
  const matcher = compileMatcher(unique.flatMap((value) => sourcesOf(value, window)));
  // Built on first use: most scrubbers never see a suspicious header name.
  let encoded: Matcher | undefined;
  const encodedMatcher = () =>
    (encoded ??= compileMatcher(unique.flatMap((value) => base64Sources(value, window))));
  return scrubberOver(matcher, encodedMatcher, size, window);
}

/**
 * A value's base64 forms at each of the three alignments it can have inside a longer blob:
 * only the characters that depend on the value alone (see views.ts for the decoded side).
 */
function base64Sources(value: string, window: number): MatchSource[] {
  const bytes = Buffer.from(value, 'utf8');
  const chars = Math.ceil((window * 4) / 3);
  const out: MatchSource[] = [];
  for (const k of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(k), bytes]).toString('base64');
    const core = encoded.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + bytes.length)) / 6));
    for (const form of [core, core.replaceAll('+', '-').replaceAll('/', '_')]) {
      if (form.length > 0) out.push({ bytes: Buffer.from(form, 'latin1'), window: chars });
    }
  }
  return out;
}

/** The byte strings a value is looked for as, each with its window. */
function sourcesOf(value: string, window: number): MatchSource[] {
  const utf8 = Buffer.from(value, 'utf8');
  const out: MatchSource[] = [{ bytes: utf8, window }];
  // A user:password pair: each part can come back on its own.
  const colon = value.indexOf(':');
  if (colon !== -1) {
    for (const part of [value.slice(0, colon), value.slice(colon + 1)]) {
      const bytes = Buffer.from(part, 'utf8');
      if (bytes.length >= MIN_PART) out.push({ bytes, window });
    }
  }
  // Non-ASCII values: as Latin-1 bytes, as UTF-8 read as Latin-1 and written again (mojibake),
  // and as UTF-16 in both byte orders (a UTF-16 window covers the same number of characters).
  if (!isAscii(value)) {
    if ([...value].every((c) => c.charCodeAt(0) <= 0xff))
      out.push({ bytes: Buffer.from(value, 'latin1'), window });
    out.push({ bytes: Buffer.from(utf8.toString('latin1'), 'utf8'), window });
    const le = Buffer.from(value, 'utf16le');
    out.push({ bytes: le, window: window * 2 });
    out.push({ bytes: Buffer.from(le).swap16(), window: window * 2 });
  }
  return out;
}

function scrubberOver(
  matcher: Matcher,
  encodedMatcher: () => Matcher,
  size: number,
  window: number,
): Scrubber {
  const minWindow = matcher.minWindow;
  // Header names and values repeat from call to call; the scrubber never changes.
  const names = new Map<string, boolean>();
  const texts = new Map<string, { text: string; count: number }>();

  const scrubberFind = (bytes: Uint8Array, depth: number) => find(bytes, { depth });

  function find(bytes: Uint8Array, hints: ScanHints & { depth?: number } = {}): number[] {
    if (size === 0 || bytes.length < minWindow) return [];
    const spans: number[] = [];
    const scan = (view: View) => {
      const found: number[] = [];
      if (view.changed === undefined) matcher.scan(view.bytes, found);
      else {
        // Only where the view differs from its parent can it hold a match the parent lacks.
        const reach = matcher.maxWindow - 1;
        const ranges = view.changed;
        for (let k = 0; k < ranges.length;) {
          const from = Math.max(0, ranges[k]! - reach);
          let to = ranges[k + 1]! + reach;
          k += 2;
          while (k < ranges.length && ranges[k]! - reach <= to) {
            to = ranges[k + 1]! + reach;
            k += 2;
          }
          to = Math.min(view.bytes.length, to);
          const local: number[] = [];
          matcher.scan(view.bytes.subarray(from, to), local);
          for (const at of local) found.push(at + from);
        }
      }
      for (let k = 0; k < found.length; k += 2) {
        const [s, e] = view.toSource(found[k]!, found[k + 1]!);
        spans.push(s, e);
      }
    };
    // Decoded views cost work; a hostile body cannot make them cost more than this.
    let budget = bytes.length * 8 + 65_536;
    const minB64 = Math.ceil((minWindow * 4) / 3);

    /** Scans a view, then what decodes out of it, down to MAX_DEPTH layers. */
    const explore = (view: View, depth: number): void => {
      scan(view);
      let deepest = view;
      for (let pass = 0; pass < UNESCAPE_DEPTH; pass++) {
        const next = unescapeView(deepest);
        if (next === null) break;
        scan(next.view);
        deepest = next.view;
        // Another pass only finds more when this one made new escapes (%2525, &amp;#43;).
        if (!next.nested) break;
      }
      budget -= view.bytes.length;
      if (depth >= MAX_DEPTH || budget <= 0) return;
      // Quoted-printable, also inside a JSON string (a MIME message in a webhook).
      for (const source of deepest === view ? [view] : [view, deepest]) {
        const qp = quotedPrintableView(source);
        if (qp !== null) explore(qp, depth + 1);
      }
      const runs = base64Runs(deepest, minB64);
      // What base64 and hex decode to is looked into further only where it reads as text (a
      // token, a document); the wrong alignments of a run decode to noise, and are scanned.
      const decodedViews = base64Views(deepest, minB64, runs);
      for (const decoded of decodedViews) deeper(decoded, depth);
      // A gzip header at any offset of a run decodes, at one of the four alignments, to its
      // magic bytes: only then are the runs searched for one.
      if (decodedViews.some((decoded) => holdsGzipMagic(decoded.bytes))) {
        for (const run of runs) inflateRun(deepest, run, depth);
      }
      for (const decoded of hexViews(deepest, minWindow * 2)) deeper(decoded, depth);
      // Hex before unescaping too: \x-prefixed bytea would lose its first byte to the escape.
      if (deepest !== view && hasBackslashX(view.bytes)) {
        for (const decoded of hexViews(view, minWindow * 2)) deeper(decoded, depth);
      }
    };

    /** A decoded view: scanned, and explored when it reads as text or holds UTF-16. */
    const deeper = (view: View, depth: number): void => {
      if (readsAsText(view.bytes, minWindow)) explore(view, depth + 1);
      else scan(view);
      // The runs of one alignment are decoded into one view: text and UTF-16 can sit side by
      // side in it, so UTF-16 is looked for either way.
      if (depth + 1 < MAX_DEPTH && view.bytes.indexOf(0) !== -1 && holdsUtf16(view.bytes)) {
        explore(utf16View(view, 'le', 0), depth + 2);
        explore(utf16View(view, 'le', 1), depth + 2);
      }
    };

    /**
     * Gzip inside base64 (CloudWatch Logs, Helm releases): where a run holds the digits of a gzip
     * header (at any of the three byte offsets a header can have, also after other digits of
     * the same run), the run is inflated from there, and if what comes out holds a value, the
     * whole run is the match.
     */
    const inflateRun = (view: View, run: Run, depth: number): void => {
      if (run.digits < 8 || budget <= 0) return;
      const digits = digitsOf(view.bytes, run);
      for (const [from, skip] of gzipStarts(digits)) {
        budget -= run.digits - from;
        if (budget <= 0) return;
        const member = decodeBase64(digits.slice(from)).subarray(skip);
        const limits = {
          maxOutputLength: Math.max(1024, Math.min(budget, MAX_INFLATE)),
          finishFlush: zlibConstants.Z_SYNC_FLUSH,
        };
        let inner: Buffer;
        try {
          inner = gunzipSync(member, limits);
        } catch {
          // Other bytes after the member (two or more) fail gunzip: inflate the member alone.
          const header = gzipHeaderLength(member);
          if (header < 0) continue;
          try {
            inner = inflateRawSync(member.subarray(header), limits);
          } catch {
            continue;
          }
        }
        budget -= inner.length;
        const found = scrubberFind(inner, depth + 1);
        if (found.length === 0) continue;
        const last =
          run.positions === null ? run.start + run.digits - 1 : run.positions[run.digits - 1]!;
        const [s, e] = view.toSource(run.start, last + 1);
        spans.push(s, e);
        return;
      }
    };

    const source = sourceView(bytes);
    let declared = hints.utf16;
    // A byte-order mark at the start of the body decides over a charset.
    if ((hints.offset ?? 0) === 0 && bytes[0] === 0xfe && bytes[1] === 0xff) declared = 'be';
    if ((hints.offset ?? 0) === 0 && bytes[0] === 0xff && bytes[1] === 0xfe) declared = 'le';
    explore(source, hints.depth ?? 0);
    if (declared !== undefined) {
      // A declared encoding: code units start at even offsets of the whole body.
      explore(utf16View(source, declared, (hints.offset ?? 0) % 2), (hints.depth ?? 0) + 1);
    }
    if (holdsUtf16(bytes)) {
      // Undeclared, possibly after other text: both alignments. Read as little-endian, the
      // odd one also decodes big-endian ASCII.
      explore(utf16View(source, 'le', 0), (hints.depth ?? 0) + 1);
      explore(utf16View(source, 'le', 1), (hints.depth ?? 0) + 1);
    }
    return merge(spans);
  }

  return {
    size,
    window,
    find,
    contains: (bytes, hints) => find(bytes, hints).length > 0,
    nameContains(name) {
      if (size === 0) return false;
      return remember(names, name, () => {
        const bytes = Buffer.from(name, 'latin1');
        if (find(bytes).length > 0) return true;
        const found: number[] = [];
        encodedMatcher().scan(bytes, found);
        return found.length > 0;
      });
    },
    redactLatin1(text) {
      if (size === 0 || text.length < minWindow) return { text, count: 0 };
      return remember(texts, text, () => {
        const bytes = Buffer.from(text, 'latin1');
        const spans = find(bytes);
        if (spans.length === 0) return { text, count: 0 };
        return {
          text: replaceSpans(bytes, spans, 0, bytes.length).toString('latin1'),
          count: spans.length / 2,
        };
      });
    },
    redact(input, hints) {
      const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
      const spans = find(bytes, hints);
      if (spans.length === 0) return { output: Buffer.from(bytes), count: 0 };
      return { output: replaceSpans(bytes, spans, 0, bytes.length), count: spans.length / 2 };
    },
  };
}

const REPLACEMENT = Buffer.from(PLACEHOLDER, 'utf8');

const REMEMBERED = 4096;
const REMEMBERED_LENGTH = 1024;

/** A bounded memo for short inputs. */
function remember<T>(memo: Map<string, T>, key: string, compute: () => T): T {
  if (key.length > REMEMBERED_LENGTH) return compute();
  let value = memo.get(key);
  if (value === undefined) {
    value = compute();
    if (memo.size >= REMEMBERED) memo.clear();
    memo.set(key, value);
  }
  return value;
}

/** `bytes[from, to)` with every span inside it replaced by the placeholder. */
export function replaceSpans(
  bytes: Uint8Array,
  spans: readonly number[],
  from: number,
  to: number,
): Buffer {
  const parts: Uint8Array[] = [];
  let pos = from;
  for (let k = 0; k < spans.length; k += 2) {
    const s = Math.max(spans[k]!, from);
    const e = Math.min(spans[k + 1]!, to);
    if (e <= s) continue;
    if (s > pos) parts.push(bytes.subarray(pos, s));
    parts.push(REPLACEMENT);
    pos = e;
  }
  if (pos < to) parts.push(bytes.subarray(pos, to));
  return Buffer.concat(parts);
}

/** Sorts flat [start, end) pairs and merges those that overlap or touch. */
export function merge(spans: number[]): number[] {
  if (spans.length <= 2) return spans;
  const pairs: [number, number][] = [];
  for (let k = 0; k < spans.length; k += 2) pairs.push([spans[k]!, spans[k + 1]!]);
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const out: number[] = [];
  for (const [s, e] of pairs) {
    const last = out.length - 1;
    if (last > 0 && s <= out[last]!) out[last] = Math.max(out[last]!, e);
    else out.push(s, e);
  }
  return out;
}

/**
 * UTF-16 without a BOM or charset, anywhere in the bytes: ASCII text in UTF-16 is a run of
 * printable bytes each followed (or preceded) by a zero. Four such characters in a row are
 * enough to look; scattered zeros (binary data) are not.
 */
function holdsUtf16(bytes: Uint8Array): boolean {
  let tries = 0;
  for (let z = bytes.indexOf(0); z !== -1 && tries < 4096; z = bytes.indexOf(0, z + 1)) {
    tries++;
    let run = 0;
    for (let at = z; at + 1 < bytes.length && run < 4; at += 2) {
      const next = bytes[at + 1]!;
      if (bytes[at] !== 0 || next < 0x20 || next > 0x7e) break;
      run++;
    }
    if (run >= 4) return true;
  }
  return false;
}

/** At most this many gzip headers are tried per base64 run. */
const MAX_GZIP_TRIES = 8;

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);

/** Whether decoded bytes hold the first bytes of a gzip member. */
function holdsGzipMagic(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).indexOf(GZIP_MAGIC) !== -1;
}

/** A base64 run's digits, without the line breaks inside it. */
function digitsOf(src: Uint8Array, run: Run): string {
  const buffer = Buffer.from(src.buffer, src.byteOffset, src.length);
  if (run.positions === null) return buffer.toString('latin1', run.start, run.start + run.digits);
  const last = run.positions[run.digits - 1]!;
  return buffer.toString('latin1', run.start, last + 1).replace(/[\r\n]/g, '');
}

/** Standard or URL-safe base64 digits, decoded. */
function decodeBase64(digits: string): Buffer {
  return Buffer.from(digits.replaceAll('-', '+').replaceAll('_', '/'), 'base64');
}

/**
 * Where a gzip member (1f 8b 08, then flags with no reserved bit) starts in a base64 run's
 * digits: [digit where its group of four starts, decoded bytes to drop before it], in order.
 * At byte offset 0, 1 or 2 of a group of three, its first bytes read "H4sI", "?+LC" (or
 * "?-LC") or "???fiw".
 */
function gzipStarts(digits: string): [number, number][] {
  const starts: [number, number][] = [];
  for (const [pattern, back, skip] of GZIP_PATTERNS) {
    for (let k = digits.indexOf(pattern); k !== -1; k = digits.indexOf(pattern, k + 1)) {
      const from = k - back;
      if (from < 0) continue;
      const head = decodeBase64(digits.slice(from, from + 12)).subarray(skip);
      if (
        head[0] === 0x1f &&
        head[1] === 0x8b &&
        head[2] === 0x08 &&
        ((head[3] ?? 0) & 0xe0) === 0
      ) {
        starts.push([from, skip]);
      }
      if (starts.length >= MAX_GZIP_TRIES) break;
    }
  }
  // A header at the run's start first, as before.
  return starts.sort((a, b) => a[0] - b[0]).slice(0, MAX_GZIP_TRIES);
}

/** The length of a gzip member's header (RFC 1952), or -1 when it is cut short. */
function gzipHeaderLength(member: Uint8Array): number {
  const flags = member[3] ?? 0;
  let at = 10;
  if ((flags & 0x04) !== 0) at += 2 + ((member[at] ?? 0) | ((member[at + 1] ?? 0) << 8));
  for (const bit of [0x08, 0x10]) {
    if ((flags & bit) === 0) continue;
    while (at < member.length && member[at] !== 0) at++;
    at++;
  }
  if ((flags & 0x02) !== 0) at += 2;
  return at < member.length ? at : -1;
}

const GZIP_PATTERNS: [string, number, number][] = [
  ['H4sI', 0, 0],
  ['+LC', 2, 1],
  ['-LC', 2, 1],
  ['fiw', 3, 2],
];

/** Whether bytes hold the two characters `\x` (an escaped hex byte, as bytea output has). */
function hasBackslashX(bytes: Uint8Array): boolean {
  for (let at = bytes.indexOf(0x5c); at !== -1; at = bytes.indexOf(0x5c, at + 1)) {
    if (bytes[at + 1] === 0x78) return true;
  }
  return false;
}

/**
 * Whether decoded bytes read as text somewhere: a run of at least 16 printable ASCII bytes (or
 * `minWindow`, if longer). Noise from a wrong base64 alignment rarely has one.
 */
function readsAsText(bytes: Uint8Array, minWindow: number): boolean {
  const need = Math.max(16, minWindow);
  let run = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b >= 0x20 && b < 0x7f) {
      if (++run >= need) return true;
    } else run = 0;
  }
  return false;
}

/** Whether a string is all ASCII. */
function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** A scrubber with no values: finds nothing. */
export const EMPTY_SCRUBBER: Scrubber = compileScrubber([]);
