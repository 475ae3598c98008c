/**
 * A streaming, chunk-safe redactor. Pure: bytes in, bytes out, no I/O.
 *
 * Every occurrence of any needle is replaced by the placeholder, including occurrences that
 * straddle chunk boundaries. Matching is leftmost, then longest, without overlaps. To stay
 * chunk-safe it holds back the last `maxNeedle - 1` bytes of each chunk until it knows they
 * cannot start a match; `end()` releases them.
 */

/** What replaces a secret in any output. */
export const PLACEHOLDER = '[REDACTED_BY_AGENTSECRETS]';

export interface Redactor {
  /** Redacts a chunk; returns what may be emitted now (possibly empty). */
  push(chunk: Uint8Array): Buffer;
  /** Flushes the held-back tail. The redactor must not be used afterwards. */
  end(): Buffer;
  /** Number of replacements made so far. */
  readonly count: number;
}

/** A needle set prepared once (deduplicated bytes) and reusable by any number of redactors. */
export interface CompiledNeedles {
  readonly list: readonly Buffer[];
  readonly maxLen: number;
  /** The needles as text, for a cheap "does this string contain any?" test. */
  readonly text: readonly string[];
}

/** Prepares needles for reuse: empty ones dropped, duplicates merged. */
export function compileNeedles(needles: readonly (Uint8Array | string)[]): CompiledNeedles {
  const list = uniqueNeedles(needles);
  return {
    list,
    maxLen: list.reduce((max, n) => Math.max(max, n.length), 0),
    text: list.map((n) => n.toString('utf8')),
  };
}

function isCompiled(value: unknown): value is CompiledNeedles {
  return typeof value === 'object' && value !== null && 'maxLen' in value && 'list' in value;
}

/** Creates a redactor for `needles` (empty needles are ignored, duplicates merged). */
export function createRedactor(
  needles: readonly (Uint8Array | string)[] | CompiledNeedles,
  placeholder: string = PLACEHOLDER,
): Redactor {
  const { list, maxLen } = isCompiled(needles) ? needles : compileNeedles(needles);
  const newlineFree = list.every((needle) => !needle.includes(0x0a));
  const replacement = Buffer.from(placeholder, 'utf8');
  let pending: Buffer = Buffer.alloc(0);
  let count = 0;

  function run(buf: Buffer, final: boolean): Buffer {
    if (list.length === 0) {
      pending = Buffer.alloc(0);
      return buf;
    }
    // Matches must start before `limit`: a later start might be the prefix of a longer
    // needle that is not complete yet. When no needle contains a newline, nothing before the
    // last newline can be such a prefix, so a line is released as soon as it is complete
    // (line-based programs, such as an MCP server over stdio, are not held up).
    let limit = final ? buf.length : buf.length - (maxLen - 1);
    if (!final && newlineFree) limit = Math.max(limit, buf.lastIndexOf(0x0a) + 1);
    const next = list.map((needle) => buf.indexOf(needle, 0));
    const parts: Buffer[] = [];
    let pos = 0;
    for (;;) {
      let best = -1;
      let bestLen = 0;
      for (let i = 0; i < list.length; i++) {
        let at = next[i]!;
        if (at !== -1 && at < pos) {
          at = buf.indexOf(list[i]!, pos);
          next[i] = at;
        }
        if (at === -1) continue;
        const len = list[i]!.length;
        if (best === -1 || at < best || (at === best && len > bestLen)) {
          best = at;
          bestLen = len;
        }
      }
      if (best === -1 || best >= limit) break;
      parts.push(buf.subarray(pos, best), replacement);
      count++;
      pos = best + bestLen;
    }
    const safeEnd = final ? buf.length : Math.max(pos, limit);
    parts.push(buf.subarray(pos, safeEnd));
    pending = Buffer.from(buf.subarray(safeEnd));
    return Buffer.concat(parts);
  }

  return {
    push(chunk) {
      const buf = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
      return run(buf, false);
    },
    end() {
      const out = run(pending, true);
      pending = Buffer.alloc(0);
      return out;
    },
    get count() {
      return count;
    },
  };
}

/** Redacts a whole buffer at once. */
export function redactAll(
  data: Uint8Array | string,
  needles: readonly (Uint8Array | string)[] | CompiledNeedles,
  placeholder: string = PLACEHOLDER,
): { output: Buffer; count: number } {
  // Most strings (header values, URLs) contain no needle at all: say so without buffers.
  if (
    typeof data === 'string' &&
    isCompiled(needles) &&
    !needles.text.some((n) => data.includes(n))
  ) {
    return { output: Buffer.from(data, 'utf8'), count: 0 };
  }
  const redactor = createRedactor(needles, placeholder);
  const output = Buffer.concat([redactor.push(Buffer.from(data)), redactor.end()]);
  return { output, count: redactor.count };
}

function uniqueNeedles(needles: readonly (Uint8Array | string)[]): Buffer[] {
  const seen = new Set<string>();
  const out: Buffer[] = [];
  for (const needle of needles) {
    const buf = Buffer.from(needle);
    if (buf.length === 0) continue;
    const id = buf.toString('hex');
    if (seen.has(id)) continue;
    seen.add(id);
    out.push(buf);
  }
  return out;
}
