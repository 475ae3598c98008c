import { type Readable, PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { AgentSecretsError } from '../core/errors.js';
import type { Scrubber } from '../core/scrub/scrubber.js';
import { createScrubState } from '../core/scrub/stream.js';
import { discard } from './forward.js';
import { unzipEntries } from './zip.js';

/**
 * A response body made scannable (DESIGN §7, "compressed responses are never scanned blind").
 *
 * - Every declared layer of Content-Encoding and Transfer-Encoding is undone, outermost first.
 * - A body that declares nothing but starts like gzip, zlib or zstd, or is a zip archive, is
 *   held whole (up to the size limit) and looked into, layer after layer: if any layer holds a
 *   secret the response is withheld (`response_withheld`); if it is clean, its bytes go on as
 *   they came.
 * - Whatever cannot be decoded fully (an unknown coding, zstd on this Node, an encrypted zip
 *   entry, corrupt data) is withheld (`undecodable_response`): no byte of it reaches the agent.
 */

export interface BodyOptions {
  url: URL;
  /** Transfer codings besides chunked (hop-by-hop, so no longer among the headers). */
  transferCodings: readonly string[];
  /** Decoded bytes allowed, in total (also the cap on what an archive may inflate to). */
  maxBytes: number;
  scrubber: Scrubber;
  tooLarge: () => AgentSecretsError;
}

/** The decoded body, with the encoding headers that no longer apply removed. */
export interface DecodedBody {
  body: Readable;
  headers: [string, string][];
  /** Whether a declared layer was undone (the upstream's length no longer applies). */
  decoded: boolean;
  /** The body's charset says UTF-16 (BOMs are found by the scrubber itself). */
  utf16: 'le' | 'be' | undefined;
}

/** Undoes declared encodings and inspects compressed payloads; see the file TSDoc. */
export function decodeResponseBody(
  raw: Readable,
  headers: [string, string][],
  options: BodyOptions,
): DecodedBody {
  const codings = [...listOf(headers, 'content-encoding'), ...options.transferCodings];
  const stages = codings.reverse().map((coding) => {
    const stage = decoderFor(coding);
    if (stage === undefined) {
      discard(raw);
      throw undecodable(options.url, `it is ${codingName(coding)}-encoded`);
    }
    return stage;
  });
  const inspect = createInspector(options);
  let body: Readable;
  if (stages.length === 0) {
    // The common case: plain pipe(), as pipeline() costs an abort and an error per call.
    raw.on('error', (err) => inspect.destroy(err));
    inspect.once('close', () => {
      if (!raw.readableEnded) discard(raw);
    });
    raw.pipe(inspect);
    body = inspect;
  } else {
    // `out` stays outside the pipeline, so that it fails with the translated error below and
    // not with the decoder's own.
    const out = new PassThrough();
    inspect.pipe(out);
    pipeline([raw, ...stages, inspect]).catch((err: unknown) => {
      const error =
        err instanceof AgentSecretsError
          ? err
          : isZlibError(err)
            ? undecodable(
                options.url,
                `its ${codings.map(codingName).join(', ')} encoding is corrupt`,
              )
            : err;
      out.destroy(error instanceof Error ? error : undefined);
    });
    body = out;
  }
  const dropped = new Set(stages.length > 0 ? ['content-encoding', 'content-length'] : []);
  return {
    body,
    headers: headers.filter(([n]) => {
      const lower = n.toLowerCase();
      return !dropped.has(lower);
    }),
    decoded: stages.length > 0,
    utf16: charsetUtf16(headers),
  };
}

/**
 * A small body read whole that the stream path would pass on unchanged before scrubbing: no
 * content or transfer coding, and nothing in it that starts like a compressed or archived
 * payload (at its start or further in). Undefined when the stream path must look into it.
 */
export function plainBody(
  bytes: Buffer,
  headers: [string, string][],
  transferCodings: readonly string[],
): { utf16: 'le' | 'be' | undefined } | undefined {
  if (transferCodings.length > 0 || hasContentCoding(headers)) return undefined;
  if (sniff(bytes) !== 'plain' || embeddedStart(bytes, 0) !== -1) return undefined;
  return PLAIN[charsetUtf16(headers) ?? 'utf8'];
}

// plainBody's answers, made once (callers only read them).
const PLAIN = {
  utf8: { utf16: undefined },
  le: { utf16: 'le' },
  be: { utf16: 'be' },
} as const;

/** Whether a Content-Encoding header names a coding (other than identity). */
function hasContentCoding(headers: [string, string][]): boolean {
  for (const [name] of headers) {
    if (name.toLowerCase() === 'content-encoding')
      return listOf(headers, 'content-encoding').length > 0;
  }
  return false;
}

function listOf(headers: [string, string][], name: string): string[] {
  return headers
    .filter(([n]) => n.toLowerCase() === name)
    .flatMap(([, v]) => v.split(','))
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
}

function decoderFor(coding: string): Transform | undefined {
  switch (coding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    case 'zstd': {
      const create = (zlib as unknown as { createZstdDecompress?: () => Transform })
        .createZstdDecompress;
      return create?.();
    }
    default:
      return undefined;
  }
}

/** Registered content codings that may be named in a message; anything else is not echoed. */
const KNOWN_CODINGS = new Set([
  'gzip',
  'x-gzip',
  'deflate',
  'br',
  'zstd',
  'compress',
  'x-compress',
  'exi',
  'pack200-gzip',
  'aes128gcm',
  'dcb',
  'dcz',
]);

/**
 * A coding as a message may name it. The name comes from the upstream, which could put a
 * value it received there, so an unknown one is never repeated.
 */
function codingName(coding: string): string {
  return KNOWN_CODINGS.has(coding) ? coding : 'unknown-coding';
}

function charsetUtf16(headers: [string, string][]): 'le' | 'be' | undefined {
  const type = headers.find(([n]) => n.toLowerCase() === 'content-type')?.[1] ?? '';
  // Every UTF-16 charset name has "16" in it (most types have no charset, or UTF-8).
  if (!type.includes('16')) return undefined;
  const charset = /charset\s*=\s*"?([\w-]+)/i.exec(type)?.[1]?.toLowerCase();
  if (charset === 'utf-16be') return 'be';
  if (charset === 'utf-16' || charset === 'utf-16le') return 'le';
  return undefined;
}

/** What the first bytes of a body say it is. */
type Kind = 'gzip' | 'zlib' | 'zstd' | 'zip' | 'opaque' | 'plain';

const SNIFF_BYTES = 6;

/** Recognises compressed and archive formats by their magic bytes. */
export function sniff(head: Uint8Array): Kind {
  const [b0, b1, b2, b3] = [head[0], head[1], head[2], head[3]];
  if (b0 === 0x1f && b1 === 0x8b) return 'gzip';
  // zlib: method 8 with any window size, no preset dictionary, a valid header check.
  if (
    b0 !== undefined &&
    b1 !== undefined &&
    (b0 & 0x0f) === 8 &&
    b0 >> 4 <= 7 &&
    ((b0 << 8) | b1) % 31 === 0 &&
    (b1 & 0x20) === 0
  ) {
    return 'zlib';
  }
  if (b0 === 0x28 && b1 === 0xb5 && b2 === 0x2f && b3 === 0xfd) return 'zstd';
  if (b0 === 0x50 && b1 === 0x4b && (b2 === 0x03 || b2 === 0x05 || b2 === 0x07)) return 'zip';
  // Formats we cannot open: xz, bzip2, 7z, lzip.
  if (b0 === 0xfd && b1 === 0x37 && b2 === 0x7a && b3 === 0x58) return 'opaque';
  if (b0 === 0x42 && b1 === 0x5a && b2 === 0x68 && b3 !== undefined && b3 >= 0x31 && b3 <= 0x39) {
    return 'opaque';
  }
  if (b0 === 0x37 && b1 === 0x7a && b2 === 0xbc && b3 === 0xaf) return 'opaque';
  if (b0 === 0x4c && b1 === 0x5a && b2 === 0x49 && b3 === 0x50) return 'opaque';
  return 'plain';
}

/** Where a gzip member or a zip entry starts inside a body (not at its start), or -1. */
function embeddedStart(bytes: Uint8Array, from: number): number {
  for (let at = from; at < bytes.length; at++) {
    const b = bytes[at];
    if (b === 0x1f && bytes[at + 1] === 0x8b && bytes[at + 2] === 0x08) return at;
    if (b === 0x50 && bytes[at + 1] === 0x4b && bytes[at + 2] === 0x03 && bytes[at + 3] === 0x04) {
      return at;
    }
  }
  return -1;
}

const MAGICS = [Buffer.from([0x1f, 0x8b, 0x08]), Buffer.from([0x50, 0x4b, 0x03, 0x04])];

/** How many bytes at the end of `bytes` could begin a magic number cut off by the chunk end. */
function magicPrefixAtEnd(bytes: Uint8Array): number {
  for (let n = 3; n >= 1; n--) {
    if (bytes.length < n) continue;
    const end = bytes.subarray(bytes.length - n);
    if (MAGICS.some((magic) => n < magic.length && magic.subarray(0, n).equals(end))) return n;
  }
  return 0;
}

/**
 * Passes a plain body through; holds a compressed or archived one whole (from where it
 * starts, at the start or further in), looks inside it, and passes it on only if no layer
 * holds a secret.
 */
function createInspector(options: BodyOptions): Transform {
  let mode: 'sniff' | 'pass' | 'hold' = 'sniff';
  let chunks: Buffer[] = [];
  let size = 0;
  // Bytes at the end of a chunk that could begin a magic number are held back until the next
  // chunk, so that a magic number cut between two chunks is seen before any of it is passed.
  let tail: Buffer = Buffer.alloc(0);
  /** Passes bytes on, unless a compressed member starts in them: then holds from there. */
  const pass = (stream: Transform, bytes: Buffer) => {
    const joined = tail.length === 0 ? bytes : Buffer.concat([tail, bytes]);
    const at = embeddedStart(joined, 0);
    if (at === -1) {
      const keep = joined.length - magicPrefixAtEnd(joined);
      if (keep > 0) stream.push(joined.subarray(0, keep));
      tail = Buffer.from(joined.subarray(keep));
      return;
    }
    if (at > 0) stream.push(joined.subarray(0, at));
    chunks = [joined.subarray(at)];
    tail = Buffer.alloc(0);
    mode = 'hold';
  };
  const decide = (stream: Transform) => {
    const head = Buffer.concat(chunks);
    chunks = [];
    if (sniff(head) === 'plain') {
      mode = 'pass';
      pass(stream, head);
    } else {
      chunks = [head];
      mode = 'hold';
    }
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > options.maxBytes) {
        callback(options.tooLarge());
        return;
      }
      if (mode === 'pass') pass(this, chunk);
      else {
        chunks.push(chunk);
        if (mode === 'sniff' && size >= SNIFF_BYTES) decide(this);
      }
      callback();
    },
    flush(callback) {
      if (mode === 'sniff') decide(this);
      if (mode === 'pass') {
        callback(null, tail.length > 0 ? tail : undefined);
        return;
      }
      const whole = Buffer.concat(chunks);
      inspectPayload(whole, options).then(
        () => callback(null, whole),
        (err: unknown) => callback(err instanceof Error ? err : new Error('inspection failed')),
      );
    },
  });
}

const MAX_DEPTH = 6;
/** What an archive may inflate to, in all, before it is withheld as too large to inspect. */
const MAX_INSPECTED = 16 * 1024 * 1024;
/** Inflated payloads are scanned in slices, yielding between them, so no call blocks the rest. */
const SLICE = 1024 * 1024;
/** Compressed members looked for inside one layer, at most. */
const MAX_EMBEDDED = 32;

/**
 * Opens every layer of a compressed or archived payload; throws if any holds a secret. A
 * layer that declares nothing is opened leniently: what inflates is inspected, and a layer
 * that breaks off is judged by what came out before the break (an agent gets no more). Only a
 * format that cannot be opened at all, found where the payload starts, is withheld as such.
 */
async function inspectPayload(payload: Buffer, options: BodyOptions): Promise<void> {
  let budget = Math.min(options.maxBytes, MAX_INSPECTED);
  const take = (bytes: Buffer) => {
    budget -= bytes.length;
    if (budget < 0) throw options.tooLarge();
  };
  const visit = async (bytes: Buffer, depth: number, atStart: boolean): Promise<void> => {
    if (await holdsSecret(bytes, options.scrubber)) throw withheld(options.url);
    if (depth >= MAX_DEPTH) {
      if (sniff(bytes) !== 'plain') {
        throw undecodable(options.url, 'it nests too many compressed layers');
      }
      return;
    }
    const kind = sniff(bytes);
    if (kind === 'opaque' || (kind === 'zstd' && decoderFor('zstd') === undefined)) {
      if (atStart) throw undecodable(options.url, 'it is in a compressed format we cannot open');
    } else if (kind === 'zip') {
      let entries: Buffer[];
      try {
        entries = unzipEntries(bytes, budget);
      } catch (err) {
        if (err instanceof RangeError) throw options.tooLarge();
        if (atStart) {
          throw undecodable(options.url, 'its zip archive cannot be opened');
        }
        entries = [];
      }
      for (const entry of entries) {
        take(entry);
        await visit(entry, depth + 1, true);
      }
    } else if (kind !== 'plain') {
      const { inner, rest } = await inflate(bytes, kind, budget, options);
      take(inner);
      await visit(inner, depth + 1, false);
      // Another member after the first one ends (a gzip after a zlib stream, say).
      if (rest.length > 0 && rest.length < bytes.length) await visit(rest, depth + 1, false);
    }
    // Members further in: a gzip inside a tar, a zip after a prefix.
    let found = 0;
    for (let at = embeddedStart(bytes, 1); at !== -1 && found < MAX_EMBEDDED; found++) {
      await visit(bytes.subarray(at), depth + 1, false);
      at = embeddedStart(bytes, at + 4);
    }
  };
  await visit(payload, 0, true);
}

/** Whether \`bytes\` holds a value, scanned a slice at a time with a turn of the event loop between. */
async function holdsSecret(bytes: Buffer, scrubber: Scrubber): Promise<boolean> {
  if (bytes.length <= SLICE) return scrubber.contains(bytes);
  const state = createScrubState(scrubber);
  for (let at = 0; at < bytes.length; at += SLICE) {
    state.push(bytes.subarray(at, at + SLICE));
    if (state.count > 0) return true;
    await new Promise((resolve) => setImmediate(resolve));
  }
  state.end();
  return state.count > 0;
}

/**
 * Inflates one layer leniently: what comes out before a break is returned (it is inspected,
 * as an agent could decode it too), with the input left over after the stream ended.
 */
async function inflate(
  bytes: Buffer,
  kind: 'gzip' | 'zlib' | 'zstd',
  budget: number,
  options: BodyOptions,
): Promise<{ inner: Buffer; rest: Buffer }> {
  const stage = decoderFor(kind === 'zlib' ? 'deflate' : kind) as
    (Transform & { bytesWritten?: number }) | undefined;
  if (stage === undefined) return { inner: Buffer.alloc(0), rest: Buffer.alloc(0) };
  const out: Buffer[] = [];
  let size = 0;
  await new Promise<void>((resolve) => {
    stage.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > budget) {
        stage.destroy();
        resolve();
        return;
      }
      out.push(chunk);
    });
    stage.once('end', resolve);
    stage.once('error', () => resolve());
    stage.end(bytes);
  });
  if (size > budget) throw options.tooLarge();
  const consumed = stage.bytesWritten ?? bytes.length;
  return { inner: Buffer.concat(out), rest: bytes.subarray(Math.min(consumed, bytes.length)) };
}

function isZlibError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

function undecodable(url: URL, why: string): AgentSecretsError {
  return new AgentSecretsError(
    'undecodable_response',
    `the response from ${url.hostname} was withheld: ${why}, so it cannot be scanned for leaked secrets`,
    { context: { domain: url.hostname, detail: why } },
  );
}

function withheld(url: URL): AgentSecretsError {
  return new AgentSecretsError(
    'response_withheld',
    `the response from ${url.hostname} was withheld: a compressed or archived part of it holds a secret value, which cannot be scrubbed in place`,
    { context: { domain: url.hostname } },
  );
}
