import { crc32, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';

/**
 * The forms a hostile upstream serves a stored value in: the encodings of issue 10, stacked
 * and undeclared compression, archives, UTF-16 and Latin-1. One entry per table row.
 */

/** What a form serves: headers and body bytes. */
export interface Served {
  headers?: Record<string, string>;
  body: Buffer;
  /** Transfer-Encoding besides chunked (written as `<coding>, chunked`). */
  transfer?: string;
}

/** A plain response of `type`. */
export const text = (body: string | Buffer, type = 'text/plain'): Served => ({
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
  // Beyond the issue's list: variants a real decoder accepts.
  'percent-twice': (v) => text(encodeURIComponent(encodeURIComponent(v))),
  'html-decimal-no-semicolon': (v) =>
    text([...v].map((c) => `&#${c.codePointAt(0)}`).join(''), 'text/html'),
  'html-hex-leading-zeros': (v) =>
    text([...v].map((c) => `&#x000${c.codePointAt(0)!.toString(16)};`).join(''), 'text/html'),
  'qp-lowercase-hex': (v) =>
    text(
      bytesOf(v)
        .map((b) => `=${b.toString(16).padStart(2, '0')}`)
        .join(''),
      'message/rfc822',
    ),
  'base64-of-utf16le': (v) => text(Buffer.from(v, 'utf16le').toString('base64')),
  'hex-of-utf16le': (v) => text(Buffer.from(v, 'utf16le').toString('hex')),
  // Both forms in one body: the first, once decoded, must not hide the second.
  'percent-base64-then-base64-of-utf16le': (v) =>
    text(
      `${encodeURIComponent(Buffer.from(v).toString('base64'))}\n${Buffer.from(v, 'utf16le').toString('base64')}\n`,
    ),
  'base64-in-json-escaped-breaks': (v) =>
    text(
      JSON.stringify({ blob: wrap(Buffer.from(`x${v}`).toString('base64'), 8) }),
      'application/json',
    ),
  'js-hex-escape': (v) =>
    text(
      `var t = "${bytesOf(v)
        .map((b) => `\\x${b.toString(16).padStart(2, '0')}`)
        .join('')}";`,
      'application/javascript',
    ),
  'gzip-two-declared-layers': (v) => ({
    headers: { 'content-encoding': 'gzip, gzip', 'content-type': 'application/json' },
    body: gzipSync(gzipSync(`{"t":"${v}"}`)),
  }),
  'x-gzip-declared': (v) => ({
    headers: { 'content-encoding': 'x-gzip', 'content-type': 'application/json' },
    body: gzipSync(`{"t":"${v}"}`),
  }),
  'deflate-raw-declared': (v) => ({
    headers: { 'content-encoding': 'deflate', 'content-type': 'application/json' },
    body: deflateRawSync(`{"t":"${v}"}`),
  }),
  'gzip-second-member-declared': (v) => ({
    headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' },
    body: Buffer.concat([gzipSync('{"clean":true}\n'), gzipSync(`{"t":"${v}"}`)]),
  }),
  'gzip-second-member-undeclared': (v) =>
    text(
      Buffer.concat([gzipSync('{"clean":true}\n'), gzipSync(`{"t":"${v}"}`)]),
      'application/octet-stream',
    ),
  'gzip-of-zip-undeclared': (v) =>
    text(gzipSync(zipArchive([['k.txt', v, true]])), 'application/octet-stream'),
  'transfer-encoding-deflate': (v) => ({
    headers: { 'content-type': 'application/json' },
    body: deflateSync(`{"t":"${v}"}`),
    transfer: 'deflate',
  }),
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
