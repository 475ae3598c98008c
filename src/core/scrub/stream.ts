import { Transform } from 'node:stream';
import { replaceSpans, type ScanHints, type Scrubber } from './scrubber.js';

/**
 * Scrubbing a stream, chunk-safe. Each push scans what is held back plus the new chunk and
 * releases everything up to `HOLDBACK` bytes from the end: a window of a value, in the most
 * verbose encoding the views decode, spans fewer source bytes than that, so every match that
 * starts in the released part is complete in the scanned buffer. The last `HOLDBACK` bytes
 * already released are kept as context, so an escape or a base64 group cut by the release
 * point is decoded whole on the next push.
 */

/** Source bytes a matched window can span, at most (see above). */
export const HOLDBACK = 1024;

export interface ScrubberState {
  /** Scrubs a chunk; returns what may be released now (possibly empty). */
  push(chunk: Uint8Array): Buffer;
  /** Releases the rest. */
  end(): Buffer;
  /** Replacements made so far. */
  readonly count: number;
}

export interface StreamOptions {
  /**
   * Release complete lines at once (program output read line by line, such as an MCP server
   * over stdio), unless the trailing lines could continue an encoded value: base64 lines, a
   * quoted-printable soft break, a backslash at the end of the line. A value with line breaks
   * in it is then found line by line (each line of it is a run of the value).
   */
  lines?: boolean;
  hints?: Omit<ScanHints, 'offset'>;
}

/** Creates a chunk-safe scrubbing state over `scrubber`. */
export function createScrubState(scrubber: Scrubber, options: StreamOptions = {}): ScrubberState {
  let held: Buffer = Buffer.alloc(0);
  /** Bytes of `held` already released (context only). */
  let released = 0;
  /** Offset of `held[0]` in the whole stream. */
  let offset = 0;
  let count = 0;

  function run(final: boolean): Buffer {
    if (scrubber.size === 0) {
      const out = held.subarray(released);
      offset += held.length;
      held = Buffer.alloc(0);
      released = 0;
      return Buffer.from(out);
    }
    let safe = final ? held.length : Math.max(released, held.length - HOLDBACK);
    let atLine = false;
    if (!final && options.lines === true) {
      const line = lineRelease(held, released);
      if (line > safe) {
        safe = line;
        atLine = true;
      }
    }
    // Scan only once there is a whole HOLDBACK to release (or a line, or the end): a body sent
    // a byte at a time must not cost a scan of the held bytes per byte.
    if (!final && !atLine && safe - released < HOLDBACK) return Buffer.alloc(0);
    if (safe <= released) return Buffer.alloc(0);
    const spans = scrubber.find(held, { ...options.hints, offset });
    // Spans that start before \`safe\` are released whole (placeholder), even past \`safe\`.
    let end = safe;
    const used: number[] = [];
    for (let k = 0; k < spans.length; k += 2) {
      const s = spans[k]!;
      const e = spans[k + 1]!;
      if (e <= released) continue;
      if (s >= end) break;
      used.push(Math.max(s, released), e);
      if (e > end) end = e;
    }
    count += used.length / 2;
    const out = replaceSpans(held, used, released, end);
    // Keep HOLDBACK bytes before the release point as context for the next scan; at a line
    // boundary nothing encoded continues across it (lineRelease holds lines that could), so
    // no context is needed and a line at a time costs only its own scan.
    const keepFrom = atLine && end === safe ? end : Math.max(0, end - HOLDBACK);
    offset += keepFrom;
    held = held.subarray(keepFrom);
    released = end - keepFrom;
    return out;
  }

  return {
    push(chunk) {
      held = held.length === 0 ? Buffer.from(chunk) : Buffer.concat([held, chunk]);
      return run(false);
    },
    end() {
      const out = run(true);
      held = Buffer.alloc(0);
      released = 0;
      return out;
    },
    get count() {
      return count;
    },
  };
}

/**
 * Scrubs a whole body in one call, giving the same bytes and count as a scrub state fed it in
 * one push and then ended, where that is one scan of the whole: a body shorter than two
 * HOLDBACKs (a push scans nothing before that) and not released by lines. Undefined
 * otherwise: the caller then runs a scrub state. Nothing is copied when nothing is found.
 */
export function scrubWhole(
  scrubber: Scrubber,
  bytes: Buffer,
  options: StreamOptions = {},
): { bytes: Buffer; count: number } | undefined {
  if (scrubber.size === 0) return { bytes, count: 0 };
  if (options.lines === true || bytes.length >= 2 * HOLDBACK) return undefined;
  const spans = scrubber.find(bytes, wholeHints(options.hints));
  if (spans.length === 0) return { bytes, count: 0 };
  return { bytes: replaceSpans(bytes, spans, 0, bytes.length), count: spans.length / 2 };
}

const AT_START: ScanHints = { offset: 0 };
const UTF16_AT_START = {
  le: { utf16: 'le', offset: 0 } as ScanHints,
  be: { utf16: 'be', offset: 0 } as ScanHints,
};

// The hints a stream may be given are exactly these (a new one must be passed on above too).
const ONLY_UTF16: [keyof Omit<ScanHints, 'offset'>] extends ['utf16'] ? true : never = true;
void ONLY_UTF16;

/** The hints of a scan from the start of a body (shared, never changed: find only reads them). */
function wholeHints(hints: StreamOptions['hints']): ScanHints {
  const utf16 = hints?.utf16;
  return utf16 === undefined ? AT_START : UTF16_AT_START[utf16];
}

const BASE64_LINE = /^[A-Za-z0-9+/_=-]{8,}\r?$/;

/** How far complete lines may be released early (see StreamOptions.lines). */
function lineRelease(buf: Buffer, from: number): number {
  let end = buf.lastIndexOf(0x0a) + 1;
  while (end > from) {
    const start = buf.lastIndexOf(0x0a, end - 2) + 1;
    const line = buf.subarray(Math.max(start, from), end - 1).toString('latin1');
    const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line;
    if (BASE64_LINE.test(trimmed) || trimmed.endsWith('=') || trimmed.endsWith('\\')) end = start;
    else break;
  }
  return end;
}

export interface ScrubStreamOptions extends StreamOptions {
  /** Fail the stream once more than this many bytes have come in. */
  maxBytes?: number;
  /** The error to fail with when `maxBytes` is passed. */
  tooLarge?: () => Error;
}

/** A Transform that scrubs every value `scrubber` knows, across chunk boundaries too. */
export function createScrubStream(
  scrubber: Scrubber,
  options: ScrubStreamOptions = {},
): Transform & { readonly redactions: number } {
  const state = createScrubState(scrubber, options);
  const max = options.maxBytes ?? Infinity;
  let seen = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > max) {
        callback(options.tooLarge?.() ?? new Error('stream larger than allowed'));
        return;
      }
      const out = state.push(chunk);
      callback(null, out.length > 0 ? out : undefined);
    },
    flush(callback) {
      const out = state.end();
      callback(null, out.length > 0 ? out : undefined);
    },
  });
  return Object.defineProperty(stream, 'redactions', { get: () => state.count }) as Transform & {
    readonly redactions: number;
  };
}
