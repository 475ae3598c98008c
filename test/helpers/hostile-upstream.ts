import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { crc32, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { startUpstream, type Upstream } from './upstream.js';

/**
 * A hostile, allowlisted API for redaction tests: it STORES what it receives (a body field
 * `v`, the bearer, every request header) under a slot, and serves it back later in many
 * forms, in slices, compressed, archived or re-encoded. Nothing here knows a value in advance:
 * whatever an agent makes it receive is what it can return.
 */

/** A canary with one of `+/=&<>"'%#` after every three hex digits: no 12-byte run is plain. */
export function hostileCanary(label: string): string {
  const hex = randomBytes(12).toString('hex');
  const specials = ['+', '/', '=', '&', '<', '>', '"', "'", '%', '#'];
  let out = label;
  for (let i = 0; i < hex.length; i += 3) out += hex.slice(i, i + 3) + specials[(i / 3) % 10];
  return out;
}

/** One stored request. */
export interface Stored {
  value: string;
  /** The request target as received (query string included). */
  url: string;
  /** Request headers as the server saw them: names and raw (Latin-1 read) values. */
  rawHeaders: string[];
}

/** What a form serves: headers and body bytes. */
export interface Served {
  headers?: Record<string, string>;
  body: Buffer;
  /** Transfer-Encoding besides chunked (written as `<coding>, chunked`). */
  transfer?: string;
}

const text = (body: string | Buffer, type = 'text/plain'): Served => ({
  headers: { 'content-type': type },
  body: Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8'),
});

const pct = (b: number, upper: boolean) =>
  `%${b.toString(16).padStart(2, '0')[upper ? 'toUpperCase' : 'toLowerCase']()}`;
const bytesOf = (v: string) => [...Buffer.from(v, 'utf8')];
const wrap = (s: string, width: number) => s.match(new RegExp(`.{1,${width}}`, 'g'))!.join('\r\n');

/** Base64 of the value at three alignments, each blob wrapped at `width` columns. */
function wrappedBase64(v: string, width: number): Served {
  const blobs = ['', 'x', 'xy'].map((pad) =>
    wrap(Buffer.from(`${pad}{"token":"${v}"}`).toString('base64'), width),
  );
  return text(blobs.join('\r\n\r\n'));
}

/** Quoted-printable (RFC 2045) with soft breaks at 76 columns. */
function quotedPrintable(v: string, all: boolean): string {
  const encoded = bytesOf(`Subject: export\r\ntoken: ${v}\r\n`)
    .map((b) =>
      all || b === 0x3d || b > 0x7e || (b < 0x20 && b !== 0x0d && b !== 0x0a)
        ? `=${b.toString(16).toUpperCase().padStart(2, '0')}`
        : String.fromCharCode(b),
    )
    .join('');
  // Soft line breaks never split an =XX escape.
  const lines: string[] = [];
  let line = 'x'.repeat(60);
  for (const token of encoded.match(/=[0-9A-F]{2}|[\s\S]/g)!) {
    if (line.length + token.length > 75) {
      lines.push(`${line}=`);
      line = '';
    }
    line += token;
  }
  return [...lines, line].join('\r\n');
}

const goHtml: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  "'": '&#39;',
  '"': '&#34;',
  '+': '&#43;',
};
const named: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  "'": '&apos;',
  '"': '&quot;',
  '+': '&plus;',
  '/': '&sol;',
  '=': '&equals;',
  '%': '&percnt;',
  '#': '&num;',
};
const u4 = (c: string, upper = false) => {
  const h = c.charCodeAt(0).toString(16).padStart(4, '0');
  return `\\u${upper ? h.toUpperCase() : h}`;
};

/** The encodings of the issue, one per row: value in, response out. */
export const FORMS: Record<string, (v: string) => Served> = {
  raw: (v) => text(`{"stored":"${v}"}`, 'application/json'),
  'go-html-template': (v) =>
    text(`<p>${v.replace(/[&<>'"+]/g, (c) => goHtml[c]!)}</p>`, 'text/html'),
  'owasp-html': (v) =>
    text(
      `<td>${v.replace(/[^A-Za-z0-9]/g, (c) => (c === '&' ? '&amp;' : `&#x${c.charCodeAt(0).toString(16).toUpperCase()};`))}</td>`,
      'text/html',
    ),
  'html-decimal': (v) => text([...v].map((c) => `&#${c.codePointAt(0)};`).join(''), 'text/html'),
  'html-hex': (v) =>
    text(
      [...v].map((c, i) => `&#${i % 2 ? 'x' : 'X'}${c.codePointAt(0)!.toString(16)};`).join(''),
      'text/html',
    ),
  'html-named': (v) =>
    text(
      v.replace(/[&<>'"+/=%#]/g, (c) => named[c]!),
      'text/html',
    ),
  'python-quote': (v) =>
    text(
      `https://x.test/cb?t=${bytesOf(v)
        .map((b) =>
          /[A-Za-z0-9_.~/-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : pct(b, true),
        )
        .join('')}`,
    ),
  'percent-mixed-case': (v) =>
    text(
      bytesOf(v)
        .map((b, i) => pct(b, i % 2 === 0))
        .join(''),
    ),
  'percent-every-byte-lower': (v) =>
    text(
      bytesOf(v)
        .map((b) => pct(b, false))
        .join(''),
    ),
  'quoted-printable': (v) => text(quotedPrintable(v, false), 'message/rfc822'),
  'quoted-printable-every-byte': (v) => text(quotedPrintable(v, true), 'message/rfc822'),
  'base64-wrap-60': (v) => wrappedBase64(v, 60),
  'base64-wrap-64': (v) => wrappedBase64(v, 64),
  'base64-wrap-76': (v) => wrappedBase64(v, 76),
  'base64url-of-json': (v) => text(Buffer.from(JSON.stringify({ k: v })).toString('base64url')),
  'go-json': (v) =>
    text(
      JSON.stringify({ token: v }).replace(/[&<>]/g, (c) => u4(c)),
      'application/json',
    ),
  'json-every-char-unicode': (v) =>
    text(`{"token":"${[...v].map((c, i) => u4(c, i % 2 === 1)).join('')}"}`, 'application/json'),
  'json-escaped-slash': (v) =>
    text(JSON.stringify({ token: v }).replace(/\//g, '\\/'), 'application/json'),
  hex: (v) => text(Buffer.from(v).toString('hex')),
  'percent-of-base64': (v) => text(encodeURIComponent(Buffer.from(v).toString('base64'))),
  'entities-of-json-escapes': (v) =>
    text([...JSON.stringify(v)].map((c) => `&#${c.charCodeAt(0)};`).join(''), 'text/html'),
  'utf16le-bom': (v) =>
    text(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`{"t":"${v}"}`, 'utf16le')])),
  'utf16be-bom': (v) =>
    text(
      Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(`{"t":"${v}"}`, 'utf16le').swap16()]),
    ),
  'utf16le-charset': (v) =>
    text(Buffer.from(`{"t":"${v}"}`, 'utf16le'), 'application/json; charset=utf-16le'),
  'utf16be-charset': (v) =>
    text(Buffer.from(`{"t":"${v}"}`, 'utf16le').swap16(), 'application/json; charset=UTF-16BE'),
  // UTF-16 that starts after ordinary text: no BOM, no charset, the zeros come late.
  'utf16le-after-600-ascii-bytes': (v) =>
    text(
      Buffer.concat([Buffer.from(`${'x'.repeat(600)}\n`), Buffer.from(`t=${v};`, 'utf16le')]),
      'application/octet-stream',
    ),
  // Compression, stacked or undeclared, and archives.
  'gzip-twice-one-declared': (v) => ({
    headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' },
    body: gzipSync(gzipSync(`{"t":"${v}"}`)),
  }),
  'transfer-encoding-gzip': (v) => ({
    headers: { 'content-type': 'application/json' },
    body: gzipSync(`{"t":"${v}"}`),
    transfer: 'gzip',
  }),
  'gzip-undeclared': (v) => text(gzipSync(`{"t":"${v}"}`), 'application/json'),
  'zlib-undeclared': (v) => text(deflateSync(`{"t":"${v}"}`), 'application/octet-stream'),
  'application-gzip': (v) => text(gzipSync(`export\n${v}\n`), 'application/gzip'),
  'zip-deflated': (v) =>
    text(zipArchive([['export.json', `{"t":"${v}"}`, true]]), 'application/zip'),
  'zip-stored-second-entry': (v) =>
    text(
      zipArchive([
        ['readme.txt', 'nothing here', false],
        ['keys/k.txt', v, false],
      ]),
      'application/zip',
    ),
  'zstd-declared': (v) => ({
    headers: { 'content-encoding': 'zstd', 'content-type': 'text/plain' },
    body: zstdRawFrame(Buffer.from(`{"t":"${v}"}`)),
  }),
  // Non-ASCII values: the stored UTF-8 bytes, their Latin-1 form, UTF-16 without a BOM.
  'latin1-bytes': (v) => text(Buffer.from(`t=${v};`, 'latin1'), 'text/plain; charset=iso-8859-1'),
  'mojibake-utf8': (v) => text(Buffer.from(Buffer.from(v, 'utf8').toString('latin1'), 'utf8')),
  'utf16le-no-bom': (v) => text(Buffer.from(`t=${v};`, 'utf16le'), 'application/octet-stream'),
  'utf16be-no-bom': (v) =>
    text(Buffer.from(`t=${v};`, 'utf16le').swap16(), 'application/octet-stream'),
  'response-header-utf8-bytes': (v) => ({
    headers: {
      'content-type': 'text/plain',
      'x-echo': Buffer.from(v, 'utf8').toString('latin1'),
    },
    body: Buffer.from('see header'),
  }),
};

/** A zip archive (stored or deflated entries), written by hand. */
export function zipArchive(entries: [name: string, content: string, deflate: boolean][]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, content, deflate] of entries) {
    const data = Buffer.from(content, 'utf8');
    const packed = deflate ? deflateRawSync(data) : data;
    const nameBytes = Buffer.from(name, 'utf8');
    const head = Buffer.alloc(30);
    head.writeUInt32LE(0x04034b50, 0);
    head.writeUInt16LE(20, 4);
    head.writeUInt16LE(deflate ? 8 : 0, 8);
    head.writeUInt16LE(0x21, 12);
    head.writeUInt32LE(crc32(data), 14);
    head.writeUInt32LE(packed.length, 18);
    head.writeUInt32LE(data.length, 22);
    head.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(deflate ? 8 : 0, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc32(data), 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(head, nameBytes, packed);
    centrals.push(central, nameBytes);
    offset += head.length + nameBytes.length + packed.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** A zstd frame holding `data` as one raw (uncompressed) block: the plaintext is in it. */
export function zstdRawFrame(data: Buffer): Buffer {
  if (data.length > 255) throw new Error('zstdRawFrame: at most 255 bytes');
  const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, data.length]);
  const block = (data.length << 3) | 1;
  return Buffer.concat([
    header,
    Buffer.from([block & 0xff, (block >> 8) & 0xff, (block >> 16) & 0xff]),
    data,
  ]);
}

/** The hostile upstream and what it has stored. */
export interface HostileUpstream extends Upstream {
  readonly store: Map<string, Stored>;
}

function bearer(req: IncomingMessage): string {
  const raw = headerBytes(req, 'authorization').toString('utf8');
  return raw.replace(/^Bearer /, '');
}

/** A request header's bytes as they came off the wire. */
export function headerBytes(req: IncomingMessage, name: string): Buffer {
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === name)
      return Buffer.from(req.rawHeaders[i + 1]!, 'latin1');
  }
  return Buffer.alloc(0);
}

function logOf(stored: Stored): Record<string, string> {
  const log: Record<string, string> = {};
  for (let i = 0; i < stored.rawHeaders.length; i += 2)
    log[stored.rawHeaders[i]!] = stored.rawHeaders[i + 1]!;
  return log;
}

function send(res: ServerResponse, served: Served, status = 200): void {
  const headers: Record<string, string> = { ...served.headers };
  if (served.transfer !== undefined) headers['transfer-encoding'] = `${served.transfer}, chunked`;
  else headers['content-length'] = String(served.body.length);
  res.writeHead(status, headers);
  res.end(served.body);
}

/**
 * Routes:
 * - `/store/:slot`: keeps the body's `v` field (else the X-V header bytes, else the bearer)
 *   and every request header. Answers without echoing.
 * - `/read/:slot/:form`: the stored value in a form of FORMS; honours `Range: bytes=a-b`.
 * - `/half/:slot/:n[/:form]`: half n (0 or 1) of the stored value, raw or in a form, with no
 *   Range involved.
 * - `/headers/:slot`: the URL and request headers recorded by `/store/:slot`, as JSON (a
 *   request log).
 * - `/password/:slot`: the password of the Basic credential `/store/:slot` received.
 * - `/reflect/:form`: the X-Api-Key bytes of this very request, in a form.
 * - `/static/:name`: a fixed body from `statics` (benign responses, the PIN list).
 */
export async function startHostileUpstream(
  statics: Record<string, Served>,
): Promise<HostileUpstream> {
  const store = new Map<string, Stored>();
  const upstream = await startUpstream((req, res, body) => {
    const [, route, slot, arg, form] = new URL(req.url ?? '/', 'http://x').pathname.split('/');
    if (route === 'store') {
      let value = '';
      try {
        value = String((JSON.parse(body) as { v?: unknown }).v ?? '');
      } catch {
        // Not JSON: the value came in a header.
      }
      if (value === '') value = new URL(req.url ?? '/', 'http://x').searchParams.get('v') ?? '';
      if (value === '') value = headerBytes(req, 'x-v').toString('utf8');
      if (value === '') value = bearer(req);
      store.set(slot!, { value, url: req.url ?? '', rawHeaders: req.rawHeaders });
      return send(res, text('{"stored":true}', 'application/json'));
    }
    if (route === 'static') {
      const served = statics[slot!];
      return served === undefined ? send(res, text('no such'), 404) : send(res, served);
    }
    if (route === 'reflect') {
      const form = FORMS[slot!]!;
      return send(res, form(headerBytes(req, 'x-api-key').toString('utf8')));
    }
    const stored = store.get(slot!);
    if (stored === undefined) return send(res, text('nothing stored'), 404);
    if (route === 'half') {
      const cut = Math.floor(stored.value.length / 2);
      const half = arg === '0' ? stored.value.slice(0, cut) : stored.value.slice(cut);
      return send(res, form === undefined ? text(`part ${arg}: ${half}`) : FORMS[form]!(half));
    }
    if (route === 'password') {
      // The Basic credential the slot was stored with, decoded: the password on its own.
      const auth = logOf(stored).authorization ?? logOf(stored).Authorization ?? '';
      const pair = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString('utf8');
      return send(res, text(`{"password":"${pair.slice(pair.indexOf(':') + 1)}"}`));
    }
    if (route === 'headers') {
      const log = { url: stored.url, headers: logOf(stored) };
      return send(res, text(JSON.stringify({ request_log: log }), 'application/json'));
    }
    const served = FORMS[arg ?? 'raw']!(stored.value);
    const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
    if (range !== null) {
      const slice = served.body.subarray(Number(range[1]), Number(range[2]) + 1);
      res.writeHead(206, {
        'content-range': `bytes ${range[1]}-${range[2]}/${served.body.length}`,
        'content-length': String(slice.length),
      });
      return void res.end(slice);
    }
    return send(res, served);
  });
  return Object.assign(upstream, { store });
}
