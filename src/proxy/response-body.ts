import { type Readable, PassThrough, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { AgentSecretsError } from '../core/errors.js';
import type { Scrubber } from '../core/scrub/scrubber.js';
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
      throw undecodable(options.url, `it is ${coding}-encoded`);
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
            ? undecodable(options.url, `its ${codings.join(', ')} encoding is corrupt`)
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

function charsetUtf16(headers: [string, string][]): 'le' | 'be' | undefined {
  const type = headers.find(([n]) => n.toLowerCase() === 'content-type')?.[1] ?? '';
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
  // zlib: deflate with a window of up to 32 KiB, no preset dictionary, a valid check.
  if (b0 === 0x78 && b1 !== undefined && ((b0 << 8) | b1) % 31 === 0 && (b1 & 0x20) === 0) {
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

/**
 * Passes a plain body through untouched; holds a compressed or archived one whole, looks
 * inside it, and passes it on only if no layer holds a secret.
 */
function createInspector(options: BodyOptions): Transform {
  let mode: 'sniff' | 'pass' | 'hold' = 'sniff';
  let chunks: Buffer[] = [];
  let size = 0;
  const decide = (stream: Transform) => {
    const head = Buffer.concat(chunks);
    mode = sniff(head) === 'plain' ? 'pass' : 'hold';
    if (mode === 'pass') {
      stream.push(head);
      chunks = [];
    }
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > options.maxBytes) {
        callback(options.tooLarge());
        return;
      }
      if (mode === 'pass') {
        callback(null, chunk);
        return;
      }
      chunks.push(chunk);
      if (mode === 'sniff' && size >= SNIFF_BYTES) decide(this);
      callback();
    },
    flush(callback) {
      if (mode === 'sniff') decide(this);
      if (mode === 'pass') {
        callback();
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

/** Opens every layer of a compressed or archived payload; throws if any holds a secret. */
async function inspectPayload(payload: Buffer, options: BodyOptions): Promise<void> {
  let budget = options.maxBytes;
  const visit = async (bytes: Buffer, depth: number): Promise<void> => {
    if (options.scrubber.contains(bytes)) throw withheld(options.url);
    const kind = sniff(bytes);
    if (kind === 'plain') return;
    if (depth >= MAX_DEPTH) throw undecodable(options.url, 'it nests too many compressed layers');
    if (kind === 'opaque')
      throw undecodable(options.url, 'it is in a compressed format we cannot open');
    if (kind === 'zip') {
      let entries: Buffer[];
      try {
        entries = unzipEntries(bytes, budget);
      } catch (err) {
        if (err instanceof RangeError) throw options.tooLarge();
        throw undecodable(
          options.url,
          `its zip archive cannot be opened (${(err as Error).message})`,
        );
      }
      for (const entry of entries) {
        budget -= entry.length;
        await visit(entry, depth + 1);
      }
      return;
    }
    const inner = await inflate(bytes, kind, budget, options);
    budget -= inner.length;
    await visit(inner, depth + 1);
  };
  await visit(payload, 0);
}

/**
 * Inflates one layer. A layer that breaks off (truncated or corrupt) still yields what came
 * before the break, and that part is inspected too: an agent could decode it as well.
 */
async function inflate(
  bytes: Buffer,
  kind: 'gzip' | 'zlib' | 'zstd',
  budget: number,
  options: BodyOptions,
): Promise<Buffer> {
  const stage = decoderFor(kind === 'zlib' ? 'deflate' : kind);
  if (stage === undefined) throw undecodable(options.url, `it is ${kind}-compressed`);
  const out: Buffer[] = [];
  let size = 0;
  let failed = false;
  await new Promise<void>((resolve) => {
    stage.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > budget) {
        failed = true;
        stage.destroy();
        resolve();
        return;
      }
      out.push(chunk);
    });
    stage.once('end', resolve);
    stage.once('error', () => {
      failed = true;
      resolve();
    });
    stage.end(bytes);
  });
  const inner = Buffer.concat(out);
  if (size > budget) throw options.tooLarge();
  if (failed) {
    if (options.scrubber.contains(inner)) throw withheld(options.url);
    throw undecodable(options.url, `its ${kind} data is corrupt or truncated`);
  }
  return inner;
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
