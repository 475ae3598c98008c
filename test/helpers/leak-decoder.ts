import { constants as zlibConstants, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

/**
 * An independent leak finder for hostile-upstream tests: it decodes what an agent saw in every
 * way an attacker could have encoded a value (percent in any case, HTML entities, JSON escapes,
 * quoted-printable, base64 and base64url wrapped at any column and at every alignment, hex,
 * UTF-16, gzip/zlib/zip) and stacks of them, then looks for any run of `window` consecutive bytes of a value.
 * It shares no code with src/core/scrub: a bug there cannot hide a leak here.
 */

/** The byte forms a value can take on the wire. */
export function needleForms(value: string): { name: string; bytes: Buffer }[] {
  const utf8 = Buffer.from(value, 'utf8');
  const forms = [{ name: 'utf8', bytes: utf8 }];
  const points = [...value].map((c) => c.codePointAt(0)!);
  if (points.some((p) => p > 0x7f)) {
    if (points.every((p) => p <= 0xff))
      forms.push({ name: 'latin1', bytes: Buffer.from(value, 'latin1') });
    forms.push({ name: 'mojibake', bytes: Buffer.from(utf8.toString('latin1'), 'utf8') });
  }
  return forms;
}

const NAMED: Record<string, string> = {
  amp: '&',
  lt: '<',
  gt: '>',
  quot: '"',
  apos: "'",
  plus: '+',
  sol: '/',
  equals: '=',
  num: '#',
  percnt: '%',
  excl: '!',
  colon: ':',
  semi: ';',
  lowbar: '_',
  hyphen: '-',
  period: '.',
  comma: ',',
  nbsp: '\u00a0',
};

const fromCodePoints = (text: string) => Buffer.from(text, 'utf8');

function percentDecode(b: Buffer): Buffer | null {
  const s = b.toString('latin1');
  if (!/%[0-9a-f]{2}/i.test(s)) return null;
  return Buffer.from(
    s.replace(/%([0-9a-f]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  );
}

function entityDecode(b: Buffer): Buffer | null {
  const s = b.toString('utf8');
  if (!/&(#x?[0-9a-f]+|[a-z]+);?/i.test(s)) return null;
  return fromCodePoints(
    s.replace(/&(#[xX][0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);?/g, (m, e: string) => {
      if (e.startsWith('#x') || e.startsWith('#X'))
        return String.fromCodePoint(parseInt(e.slice(2), 16) % 0x110000);
      if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10) % 0x110000);
      return NAMED[e.toLowerCase()] ?? m;
    }),
  );
}

function jsonUnescape(b: Buffer): Buffer | null {
  const s = b.toString('utf8');
  if (!s.includes('\\')) return null;
  const out = s
    .replace(/\\u([0-9a-fA-F]{4})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)))
    .replace(/\\x([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)))
    .replace(/\\([\\/"'bfnrt])/g, (_m, c: string) =>
      c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c === 'b' || c === 'f' ? '' : c,
    );
  return Buffer.from(out, 'utf8');
}

function quotedPrintable(b: Buffer): Buffer | null {
  const s = b.toString('latin1');
  if (!/=(\r?\n|[0-9A-Fa-f]{2})/.test(s)) return null;
  return Buffer.from(
    s
      .replace(/=\r?\n/g, '')
      .replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
    'latin1',
  );
}

function base64Decode(b: Buffer): Buffer | null {
  // Line breaks (real or JSON-escaped) removed first: blobs wrapped at any column join up.
  const s = b
    .toString('latin1')
    .replace(/\\[rn]/g, '')
    .replace(/\s+/g, '');
  const parts: Buffer[] = [];
  for (const run of s.match(/[A-Za-z0-9+/_-]{16,}/g) ?? []) {
    const std = run.replace(/-/g, '+').replace(/_/g, '/');
    for (let k = 0; k < 4; k++) {
      const piece = std.slice(k, k + Math.floor((std.length - k) / 4) * 4);
      if (piece.length >= 16) parts.push(Buffer.from(piece, 'base64'), Buffer.from([0x0a]));
    }
  }
  return parts.length === 0 ? null : Buffer.concat(parts);
}

function hexDecode(b: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  for (const run of b.toString('latin1').match(/[0-9a-fA-F]{24,}/g) ?? []) {
    for (const k of [0, 1]) {
      const piece = run.slice(k, k + Math.floor((run.length - k) / 2) * 2);
      parts.push(Buffer.from(piece, 'hex'), Buffer.from([0x0a]));
    }
  }
  return parts.length === 0 ? null : Buffer.concat(parts);
}

function utf16Decode(b: Buffer): Buffer | null {
  if (b.length < 8) return null;
  const parts: Buffer[] = [];
  for (const k of [0, 1]) {
    const slice = Buffer.from(b.subarray(k, k + Math.floor((b.length - k) / 2) * 2));
    parts.push(Buffer.from(slice.toString('utf16le'), 'utf8'), Buffer.from([0x0a]));
    parts.push(Buffer.from(slice.swap16().toString('utf16le'), 'utf8'), Buffer.from([0x0a]));
  }
  return Buffer.concat(parts);
}

/** Every offset of `magic` in `b`. */
function offsetsOf(b: Buffer, magic: number[]): number[] {
  const out: number[] = [];
  for (let i = b.indexOf(magic[0]!); i !== -1 && i < b.length; i = b.indexOf(magic[0]!, i + 1)) {
    if (magic.every((m, k) => b[i + k] === m)) out.push(i);
  }
  return out;
}

const lenient = { finishFlush: zlibConstants.Z_SYNC_FLUSH };
const attempt = (f: () => Buffer): Buffer[] => {
  try {
    return [f(), Buffer.from([0x0a])];
  } catch {
    return [];
  }
};

/** gzip members, zlib streams and zip entries, wherever their magic bytes stand. */
function decompress(b: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  for (const at of offsetsOf(b, [0x1f, 0x8b, 0x08]))
    parts.push(...attempt(() => gunzipSync(b.subarray(at), lenient)));
  for (const second of [0x01, 0x5e, 0x9c, 0xda]) {
    for (const at of offsetsOf(b, [0x78, second]))
      parts.push(...attempt(() => inflateSync(b.subarray(at), lenient)));
  }
  // Raw deflate has no magic: try the whole input and what follows an HTTP header block.
  const bodyAt = b.indexOf('\r\n\r\n');
  for (const at of bodyAt === -1 ? [0] : [0, bodyAt + 4])
    parts.push(...attempt(() => inflateRawSync(b.subarray(at), lenient)));
  for (const at of offsetsOf(b, [0x50, 0x4b, 0x03, 0x04])) {
    if (at + 30 > b.length) continue;
    const method = b.readUInt16LE(at + 8);
    const size = b.readUInt32LE(at + 18);
    const start = at + 30 + b.readUInt16LE(at + 26) + b.readUInt16LE(at + 28);
    const data = b.subarray(start, start + size);
    parts.push(...attempt(() => (method === 8 ? inflateRawSync(data, lenient) : data)));
  }
  return parts.length === 0 ? null : Buffer.concat(parts);
}

const DECODERS: [string, (b: Buffer) => Buffer | null][] = [
  ['decompress', decompress],
  ['percent', percentDecode],
  ['entities', entityDecode],
  ['json', jsonUnescape],
  ['qp', quotedPrintable],
  ['base64', base64Decode],
  ['hex', hexDecode],
  ['utf16', utf16Decode],
];

/** Every decoded view of `input`, up to `depth` stacked layers, with how it was reached. */
export function decodedViews(input: Buffer, depth = 3): { path: string; bytes: Buffer }[] {
  const views = [{ path: 'raw', bytes: input }];
  const seen = new Set([input.toString('latin1')]);
  let frontier = views;
  for (let d = 0; d < depth; d++) {
    const next: { path: string; bytes: Buffer }[] = [];
    for (const view of frontier) {
      for (const [name, decode] of DECODERS) {
        // UTF-16 only as the first or second layer: its output of random bytes is noise.
        if (name === 'utf16' && d > 1) continue;
        const out = decode(view.bytes);
        if (out === null || out.length < 8) continue;
        const key = out.toString('latin1');
        if (seen.has(key)) continue;
        seen.add(key);
        next.push({ path: `${view.path}>${name}`, bytes: out });
      }
    }
    views.push(...next);
    frontier = next;
  }
  return views;
}

/**
 * Where a run of at least `window` consecutive bytes of a value (any of its wire forms) shows
 * in `haystack` under any stack of decodings. Empty: no form of any value is recoverable.
 */
export function recover(
  haystack: Buffer | string,
  values: string | readonly string[],
  window = 12,
): string[] {
  const input = Buffer.isBuffer(haystack) ? haystack : Buffer.from(haystack, 'utf8');
  const windows = new Map<string, string>();
  for (const value of typeof values === 'string' ? [values] : values) {
    for (const form of needleForms(value)) {
      const text = form.bytes.toString('latin1');
      const w = Math.min(window, text.length);
      for (let i = 0; i + w <= text.length; i++)
        windows.set(text.slice(i, i + w), `${value.slice(0, 4)}… ${form.name}`);
    }
  }
  const sizes = [...new Set([...windows.keys()].map((k) => k.length))];
  const hits: string[] = [];
  for (const view of decodedViews(input)) {
    const text = view.bytes.toString('latin1');
    search: for (const size of sizes) {
      for (let i = 0; i + size <= text.length; i++) {
        const form = windows.get(text.slice(i, i + size));
        if (form !== undefined) {
          hits.push(`${view.path} (${form} @${i})`);
          break search;
        }
      }
    }
  }
  return hits;
}
