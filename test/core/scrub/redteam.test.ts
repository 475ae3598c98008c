import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { AgentSecretsError } from '../../../src/core/errors.js';
import { compileScrubber, PLACEHOLDER as R } from '../../../src/core/scrub/scrubber.js';
import { createScrubState, createScrubStream, HOLDBACK } from '../../../src/core/scrub/stream.js';
import { scrubbedValues } from '../../../src/proxy/credential-service.js';
import { redactHeaders } from '../../../src/proxy/engine.js';
import { createLocalCredentialService } from '../../../src/proxy/credential-service.js';
import { decodeResponseBody } from '../../../src/proxy/response-body.js';
import { makeWorkspace } from '../../helpers/proxy-fixture.js';
import { startUpstream } from '../../helpers/upstream.js';

/**
 * Red team: the redaction code attacked as a hostile upstream would (issue 10).
 *
 * `it` rows hold today. `bypass` rows (it.fails) are confirmed leaks: each one scrubs a hostile
 * body with the production code, then recovers the value from what the agent would see with an
 * independent decoder written here, and asserts that it could not. Run with
 * REDTEAM_STRICT=1 to see the bypass rows fail with their evidence.
 */
/**
 * A row whose attack the code now stops. It fails only on an assertion (the value was
 * recovered); the attacker's own decoding failing (the scrub broke the encoding it relied on),
 * or the response being withheld, is the defence working.
 */
function defended(name: string, attack: () => unknown): void {
  it(name, async () => {
    try {
      await attack();
    } catch (err) {
      if (err instanceof Error && err.name === 'AssertionError') throw err;
      const code = (err as { code?: unknown }).code;
      const withheld = code === 'response_withheld' || code === 'undecodable_response';
      const undecodable =
        err instanceof SyntaxError ||
        err instanceof RangeError ||
        (typeof code === 'string' && code.startsWith('Z_'));
      if (!withheld && !undecodable) throw err;
    }
  });
}

/** A confirmed bypass not fixed yet: \`it.fails\` (REDTEAM_STRICT=1 runs it as a plain test). */
const bypass = process.env.REDTEAM_STRICT === '1' ? it : it.fails;

const SECRET = 'sk_live_51HxYzQ8vLm2NpR4tW6kJ9aBcD';

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');
const hex = (b: Buffer | string) => Buffer.from(b).toString('hex');
const unb64 = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'base64');
const unhex = (s: string) => Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex');

/** Scrubs a whole body (what `call` and the MCP tool see after buffering). */
function scrub(body: Buffer | string, values: string[] = [SECRET]): string {
  return compileScrubber(values).redact(body).output.toString('latin1');
}

/** Scrubs as the proxy streams: chunk by chunk through the HOLDBACK state. */
function scrubStream(body: Buffer, chunk: number, values: string[] = [SECRET]): Buffer {
  const state = createScrubState(compileScrubber(values));
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += chunk) out.push(state.push(body.subarray(i, i + chunk)));
  out.push(state.end());
  return Buffer.concat(out);
}

/** The proxy's response path (engine.ts): decodeResponseBody, then the scrub stream. */
async function proxyBody(
  body: Buffer | Buffer[],
  headers: [string, string][] = [],
  values: string[] = [SECRET],
): Promise<Buffer> {
  const scrubber = compileScrubber(values);
  const tooLarge = () => new AgentSecretsError('response_too_large', 'too large');
  const decoded = decodeResponseBody(Readable.from(Array.isArray(body) ? body : [body]), headers, {
    url: new URL('https://api.example.com/export'),
    transferCodings: [],
    maxBytes: 50 * 1024 * 1024,
    scrubber,
    tooLarge,
  });
  const stream = createScrubStream(scrubber, {
    maxBytes: 50 * 1024 * 1024,
    tooLarge,
    ...(decoded.utf16 === undefined ? {} : { hints: { utf16: decoded.utf16 } }),
  });
  decoded.body.on('error', (err) => stream.destroy(err));
  decoded.body.pipe(stream);
  const out: Buffer[] = [];
  for await (const chunk of stream) out.push(chunk as Buffer);
  return Buffer.concat(out);
}

function expectNoLeak(recovered: Buffer | string, value = SECRET): void {
  expect(Buffer.from(recovered).toString('latin1')).not.toContain(
    Buffer.from(value).toString('latin1'),
  );
}

/** No run of `window` consecutive bytes of the value in any of the recovered buffers. */
function expectNoRun(recovered: Buffer[], value = SECRET, window = 12): void {
  const found: string[] = [];
  for (let i = 0; i + window <= value.length; i++) {
    const run = value.slice(i, i + window);
    if (recovered.some((b) => b.toString('latin1').includes(run))) found.push(run);
  }
  expect(found).toEqual([]);
}

// ---------------------------------------------------------------------------------------------
// Minimal container writers (independent of src/proxy/zip.ts)

function zipOf(name: string, content: Buffer): Buffer {
  const data = zlib.deflateRawSync(content);
  const crc = zlib.crc32(content);
  const n = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(content.length, 22);
  local.writeUInt16LE(n.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(content.length, 24);
  central.writeUInt16LE(n.length, 28);
  central.writeUInt32LE(0, 42);
  const cdOffset = 30 + n.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + n.length, 12);
  end.writeUInt32LE(cdOffset, 16);
  return Buffer.concat([local, n, data, central, n, end]);
}

/** Independent unzip: every local header, inflated. */
function unzipAll(archive: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (
    let at = archive.indexOf('PK\x03\x04');
    at !== -1;
    at = archive.indexOf('PK\x03\x04', at + 4)
  ) {
    const size = archive.readUInt32LE(at + 18);
    const start = at + 30 + archive.readUInt16LE(at + 26) + archive.readUInt16LE(at + 28);
    out.push(zlib.inflateRawSync(archive.subarray(start, start + size)));
  }
  return out;
}

function tarOf(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0);
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(content.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0' + '00', 257);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
}

function untar(archive: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 512 <= archive.length;) {
    if (archive[at] === 0) break;
    const size = parseInt(archive.toString('latin1', at + 124, at + 135), 8);
    out.push(archive.subarray(at + 512, at + 512 + size));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('controls: what holds today', () => {
  it('base64 wrapped at 76 with CRLF, JSON-escaped \\r\\n, and mixed alphabets', () => {
    const wrapped = b64('{"token":"' + SECRET + '"}').replace(/.{1,76}/g, '$&\r\n');
    expect(scrub(wrapped)).not.toContain(b64(SECRET).slice(4, 20));
    const json = JSON.stringify({ pem: b64(SECRET).replace(/.{1,8}/g, '$&\n') });
    expect(unb64(JSON.parse(scrub(json)).pem.replace(/\\n/g, '')).toString()).not.toContain(
      SECRET.slice(0, 12),
    );
  });

  it('numeric entities without ";" and mixed-case percent escapes', () => {
    const ent = [...SECRET].map((c) => `&#${c.charCodeAt(0)}`).join('');
    expect(scrub(ent)).toBe(R);
    const pct = [...Buffer.from(SECRET)]
      .map((b, i) => '%' + (i % 2 ? b.toString(16).toUpperCase() : b.toString(16)))
      .join('');
    expect(scrub(pct)).toBe(R);
  });

  it('UTF-16LE without BOM in the middle of an ASCII body, at an odd offset', () => {
    const body = Buffer.concat([
      Buffer.from('x'.repeat(2001) + '{"k":"'),
      Buffer.from(SECRET, 'utf16le'),
      Buffer.from('"}'),
    ]);
    expect(scrub(body)).not.toContain(
      Buffer.from(SECRET.slice(0, 6), 'utf16le').toString('latin1'),
    );
  });

  it('a 70 KiB value, read back from past offset 65535', () => {
    const big = randomBytes(52_500).toString('base64url');
    expect(big.length).toBeGreaterThanOrEqual(70_000);
    const slice = big.slice(68_000, 68_020);
    expect(scrub(`x ${slice} y`, [big])).toBe(`x ${R} y`);
  });

  it('a base64 form in a lower-cased header name is dropped', () => {
    const { headers } = redactHeaders(
      [
        [
          `x-${b64('ab' + SECRET)
            .slice(4, 40)
            .toLowerCase()}`,
          '1',
        ],
      ],
      compileScrubber([SECRET]),
    );
    expect(headers).toEqual([]);
  });

  it('a gzip body with no Content-Encoding is withheld', async () => {
    await expect(proxyBody(zlib.gzipSync(`{"k":"${SECRET}"}`))).rejects.toMatchObject({
      code: 'response_withheld',
    });
  });
});

describe('nested encodings the views do not stack', () => {
  defended('base64 of base64 (a Kubernetes Secret whose value is itself base64)', () => {
    const body = JSON.stringify({ data: { token: b64(b64(SECRET)) } });
    const seen = JSON.parse(scrub(body)).data.token as string;
    expectNoLeak(unb64(unb64(seen).toString()));
  });

  defended('base64 of hex', () => {
    const seen = scrub(`{"blob":"${b64(hex(SECRET))}"}`);
    expectNoLeak(unhex(unb64(JSON.parse(seen).blob).toString()));
  });

  defended('hex of base64', () => {
    const seen = scrub(`{"blob":"${hex(b64(SECRET))}"}`);
    expectNoLeak(unb64(unhex(JSON.parse(seen).blob).toString()));
  });

  defended(
    'base64 of UTF-16LE (PowerShell -EncodedCommand, .NET Convert.ToBase64String(Unicode))',
    () => {
      const seen = scrub(`{"cmd":"${b64(Buffer.from(`$env:KEY='${SECRET}'`, 'utf16le'))}"}`);
      expectNoLeak(unb64(JSON.parse(seen).cmd).toString('utf16le'));
    },
  );

  defended(
    'base64 of gzip inside JSON (CloudWatch Logs, Helm releases): never inflated',
    async () => {
      const body = Buffer.from(JSON.stringify({ export: b64(zlib.gzipSync(`{"k":"${SECRET}"}`)) }));
      const seen = await proxyBody(body);
      expectNoLeak(zlib.gunzipSync(unb64(JSON.parse(seen.toString()).export)));
    },
  );

  defended('quoted-printable inside a JSON string (a MIME message in a webhook)', () => {
    const qp = SECRET.match(/.{1,8}/g)!.join('=\r\n');
    const body = JSON.stringify({
      'body-mime': `Content-Transfer-Encoding: quoted-printable\r\n\r\n${qp}\r\n`,
    });
    const seen = JSON.parse(scrub(body))['body-mime'] as string;
    expectNoLeak(seen.replace(/=\r\n/g, ''));
  });

  defended(
    'base64 cut by quoted-printable soft breaks (base64 is only read from the unescaped view)',
    () => {
      const qp = b64(SECRET)
        .match(/.{1,12}/g)!
        .join('=\r\n');
      const seen = scrub(`Content-Transfer-Encoding: quoted-printable\r\n\r\ntoken=3D${qp}\r\n`);
      expectNoLeak(unb64(seen.split('token=3D')[1]!.replace(/=\r\n/g, '')));
    },
  );

  defended(
    'escapes inside base64 are decoded only if the first 4 KiB of ALL decoded runs look like text',
    () => {
      // An avatar first, then a token whose JSON payload escapes every character.
      const payload = `{"sub":"svc","key":"${[...SECRET].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"}`;
      const body = JSON.stringify({
        avatar: randomBytes(6000).toString('base64'),
        token: Buffer.from(payload).toString('base64url'),
      });
      expect(
        scrub(JSON.stringify({ token: Buffer.from(payload).toString('base64url') })),
      ).not.toContain(Buffer.from(payload).toString('base64url').slice(30, 60));
      const seen = JSON.parse(scrub(body)).token as string;
      expectNoLeak(JSON.parse(Buffer.from(seen, 'base64url').toString()).key as string);
    },
  );

  defended('four levels of percent-encoding (UNESCAPE_DEPTH is 3)', () => {
    let enc = [...Buffer.from(SECRET)].map((b) => '%' + b.toString(16).padStart(2, '0')).join('');
    for (let i = 0; i < 3; i++) enc = enc.replaceAll('%', '%25');
    let seen = scrub(`{"q":"${enc}"}`);
    for (let i = 0; i < 4; i++) seen = decodeURIComponent(seen);
    expectNoLeak(seen);
  });
});

describe('encodings in the issue list, in forms the views do not read', () => {
  defended(
    'backslash before punctuation (Python re.escape, Markdown, shell %q): "\\-" is not decoded',
    () => {
      const value = 'ak-7Hq2xP9w-Lm4zR8tY-bN3vC6dF-Jk5sW1eQ';
      const seen = scrub(`pattern: ${value.replaceAll('-', '\\-')}`, [value]);
      expectNoLeak(seen.replace(/\\(.)/g, '$1'), value);
    },
  );

  defended(
    'PostgreSQL bytea hex output (PostgREST, psql): "\\x" eats the first byte, which stays visible',
    () => {
      const seen = scrub(JSON.stringify({ blob: `\\x${hex(SECRET)}` }));
      // Only the first byte leaks: the hex view runs on the unescaped view, where "\x73" is
      // already 's', so the match starts one byte late. Any byte of a value is a leak.
      const blob = JSON.parse(seen).blob as string; // today: "\\x73[REDACTED_BY_AGENTSECRETS]"
      expectNoLeak(unhex(blob.slice(2).split(R)[0]!), SECRET.slice(0, 1));
    },
  );

  defended('Rust/Ruby/Swift unicode escapes \\u{73}', () => {
    const seen = scrub([...SECRET].map((c) => `\\u{${c.charCodeAt(0).toString(16)}}`).join(''));
    expectNoLeak(
      seen.replace(/\\u\{([0-9a-f]+)\}/gi, (_, d: string) => String.fromCodePoint(parseInt(d, 16))),
    );
  });

  defended('hex entities padded past 6 digits (&#x0000073;), decimal past 7', () => {
    const hexEnt = [...SECRET]
      .map((c) => `&#x${c.charCodeAt(0).toString(16).padStart(7, '0')};`)
      .join('');
    const decEnt = [...SECRET]
      .map((c) => `&#${String(c.charCodeAt(0)).padStart(8, '0')};`)
      .join('');
    const decode = (s: string) =>
      s.replace(/&#(x?)([0-9a-f]+);/gi, (_, x: string, d: string) =>
        String.fromCodePoint(parseInt(d, x ? 16 : 10)),
      );
    expectNoLeak(decode(scrub(hexEnt)) + ' ' + decode(scrub(decEnt)));
  });

  // Found in the issue-17 review (review2): gzip was inflated only where a base64 run began
  // with "H4sI", so base64 digits written before it (an echoed field, an id, the blob's own
  // prefix bytes) hid it.
  for (const [label, encoded] of [
    [
      'after other base64 digits',
      () => `id_${'q'.repeat(5)}${b64(zlib.gzipSync(`x ${SECRET} y`))}`,
    ],
    ['one byte into the blob', () => b64(Buffer.concat([Buffer.from('a'), zlib.gzipSync(SECRET)]))],
    [
      'two bytes into the blob',
      () => b64(Buffer.concat([Buffer.from('ab'), zlib.gzipSync(SECRET)])),
    ],
    // Node's gunzip fails on two or more bytes after a member.
    [
      'followed by other bytes of the blob',
      () => b64(Buffer.concat([zlib.gzipSync(SECRET), Buffer.from('"}\n')])),
    ],
    [
      'after digits, wrapped at 76',
      () => `qq${b64(zlib.gzipSync(`{"log":"${SECRET}"}`))}`.match(/.{1,76}/g)!.join('\r\n'),
    ],
  ] as const) {
    defended(`gzip in base64 ${label}`, () => {
      const body = Buffer.from(`{"blob":"${encoded()}"}`);
      const recover = (seen: string) => {
        const run = /"blob":"([^"]*)"/.exec(seen)?.[1] ?? '';
        const digits = run.replace(/\s+/g, '');
        const out: Buffer[] = [];
        // The attacker knows where the gzip header is: try every start.
        for (let k = 0; k < digits.length; k++) {
          for (let drop = 0; drop < 3; drop++) {
            try {
              const member = unb64(digits.slice(k)).subarray(drop);
              if (member[0] !== 0x1f || member[1] !== 0x8b) continue;
              // A header with no optional fields (as zlib writes it): 10 bytes.
              out.push(zlib.inflateRawSync(member.subarray(10)));
            } catch {
              // not a header here
            }
          }
        }
        return out;
      };
      // Positive control: the attack decodes the value from the unscrubbed body.
      expect(Buffer.concat(recover(body.toString('latin1'))).toString('latin1')).toContain(SECRET);
      expectNoLeak(Buffer.concat(recover(scrub(body))));
      expectNoLeak(Buffer.concat(recover(scrubStream(body, 7).toString('latin1'))));
    });
  }

  // Accepted limit (README): spaces are not read as gaps inside base64.
  bypass('base64 with spaces (xs:base64Binary allows any whitespace)', () => {
    const spaced = b64(SECRET)
      .match(/.{1,4}/g)!
      .join(' ');
    const seen = scrub(`<ds:SignatureValue>${spaced}</ds:SignatureValue>`);
    expectNoLeak(unb64(seen.replace(/<\/?ds:SignatureValue>/g, '')));
  });

  defended('hex with separators (de:ad:be:ef, as fingerprints are written)', () => {
    const seen = scrub(`fingerprint: ${hex(SECRET).match(/../g)!.join(':')}`);
    expectNoLeak(unhex(seen.slice('fingerprint: '.length)));
  });

  defended('hex wrapped below the window (xxd -p -c 11)', () => {
    const seen = scrub(
      hex(SECRET)
        .match(/.{1,22}/g)!
        .join('\n'),
    );
    expectNoLeak(unhex(seen));
  });

  defended('UTF-16BE with a BOM under "charset=utf-16" (RFC 2781: the BOM decides)', async () => {
    const body = Buffer.concat([
      Buffer.from([0xfe, 0xff]),
      Buffer.from(`{"key":"${SECRET}"}`, 'utf16le').swap16(),
    ]);
    const seen = await proxyBody(body, [['content-type', 'application/json; charset=utf-16']]);
    expectNoLeak(Buffer.from(seen.subarray(2)).swap16().toString('utf16le'));
  });
});

describe('error messages and audit details', () => {
  defended(
    'Content-Encoding: <hex of the bearer> comes back in the undecodable_response message and the audit detail',
    async () => {
      const upstream = await startUpstream((req, res) => {
        const bearer = (req.headers.authorization ?? '').replace(/^Bearer /, '');
        res.writeHead(200, { 'content-encoding': hex(bearer), 'content-type': 'text/plain' });
        res.end('x');
      });
      const ws = await makeWorkspace({
        secrets: { API_KEY: SECRET },
        allowlist: [`127.0.0.1:${upstream.port}`],
        env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
      });
      const service = await createLocalCredentialService({
        config: ws.services.config,
        workspaces: ws.services.workspaces,
        vault: ws.services.vault,
        unlock: () => ws.services.vault.unlock(),
      });
      let message = '';
      try {
        await service.call({
          url: `${upstream.url}/x`,
          method: 'GET',
          headers: [],
          body: undefined,
          injections: [{ style: 'bearer', key: 'API_KEY' }],
          target: ws.target,
          identity: { source: 'cli' },
        });
      } catch (err) {
        // What the agent gets: {"error", "message", ...context} (http-server.ts sendError).
        const e = err as AgentSecretsError;
        message = JSON.stringify({ error: e.code, message: e.message, ...e.context });
      } finally {
        await service.close();
        await upstream.close();
      }
      expect(message).toContain('undecodable_response');
      const recovered = [...message.matchAll(/[0-9a-f]{24,}/g)].map((m) => unhex(m[0]));
      expectNoLeak(Buffer.concat(recovered));
    },
  );
});

describe('values in scope', () => {
  defended('a 15-byte value (not --allow-short) is in the vault but never scrubbed', () => {
    const password = 'Tr0ub4dor&3xyz!';
    const values = scrubbedValues({
      values: [
        { value: SECRET, allowShort: false },
        { value: password, allowShort: false },
      ],
    });
    const seen = scrub(`{"database_url":"postgres://app:${password}@db.internal/app"}`, values);
    expectNoLeak(seen, password);
  });
});

describe('user:password pairs', () => {
  defended(
    'the password of a Basic pair, 7 bytes, reflected alone (the pair passes the 16-byte gate)',
    () => {
      const pair = 'service-account-name:hunter2';
      expect(Buffer.byteLength(pair)).toBeGreaterThanOrEqual(16);
      // Not allowed short: the engine refuses to inject it (its password is under 16 bytes),
      // so no upstream gets it from us. Allowed by a human: the password is scrubbed alone.
      const values = scrubbedValues({ values: [{ value: pair, allowShort: true }] });
      expectNoLeak(
        scrub('{"error":"wrong password hunter2 for service-account-name"}', values),
        'hunter2',
      );
    },
  );
});

describe('compression and archives (response-body.ts)', () => {
  defended('undeclared zlib with a small window (CMF 0x28, not 0x78) passes unopened', async () => {
    const body = zlib.deflateSync(`{"k":"${SECRET}"}`, { windowBits: 10 });
    expect(body[0]).toBe(0x28);
    expectNoLeak(zlib.inflateSync(await proxyBody(body)));
  });

  defended('undeclared gzip one byte into the body passes unopened', async () => {
    const body = Buffer.concat([Buffer.from('\n'), zlib.gzipSync(`{"k":"${SECRET}"}`)]);
    const seen = await proxyBody(body);
    expectNoLeak(zlib.gunzipSync(seen.subarray(seen.indexOf('\x1f\x8b', 0, 'latin1'))));
  });

  defended(
    'a zip with a prefix (self-extracting layout; unzip reads it) passes unopened',
    async () => {
      const body = Buffer.concat([
        Buffer.from('#!/bin/sh\nexit 0\n'),
        zipOf('key.txt', Buffer.from(SECRET)),
      ]);
      const seen = await proxyBody(body);
      expectNoLeak(Buffer.concat(unzipAll(seen)));
    },
  );

  defended('a .gz inside a .tar.gz: inner layers are sniffed only at offset 0', async () => {
    const body = zlib.gzipSync(tarOf('secrets.json.gz', zlib.gzipSync(`{"k":"${SECRET}"}`)));
    const seen = await proxyBody(body);
    expectNoLeak(zlib.gunzipSync(untar(zlib.gunzipSync(seen))[0]!));
  });

  defended(
    'data after the end of an undeclared zlib stream is ignored by inflate, then released',
    async () => {
      const body = Buffer.concat([zlib.deflateSync('{"ok":true}'), zlib.gzipSync(SECRET)]);
      const seen = await proxyBody(body);
      expectNoLeak(zlib.gunzipSync(seen.subarray(seen.indexOf('\x1f\x8b', 0, 'latin1'))));
    },
  );
});

describe('streaming (stream.ts)', () => {
  // Accepted limit (README, "What it cannot do"): base64 digits spread by more than four
  // whitespace characters in a row are not read as one run, so this leaks.
  bypass('base64 spread by blank lines (150 line breaks between digits)', () => {
    const spread = b64(SECRET).split('').join('\n'.repeat(150));
    expect(spread.length).toBeGreaterThan(4 * HOLDBACK);
    const seen = scrubStream(Buffer.from(`k: ${spread}\n`), 256).toString('latin1');
    const pieces = seen.slice(3).replace(/\s/g, '').split(R);
    expectNoRun(pieces.flatMap((p) => [0, 1, 2, 3].map((k) => unb64('A'.repeat(k) + p))));
  });

  it('base64 wrapped by blank lines (up to four line-break characters) is one run', () => {
    const spread = b64(SECRET).split('').join('\r\n\r\n');
    const seen = scrubStream(Buffer.from(`k: ${spread}\n`), 64).toString('latin1');
    // The attack: the digits alone decode to the value.
    expect(unb64(spread).toString()).toBe(SECRET);
    const pieces = seen.slice(3).replace(/\s/g, '').split(R);
    expectNoRun(pieces.flatMap((p) => [0, 1, 2, 3].map((k) => unb64('A'.repeat(k) + p))));
  });
});

/** A scrubber that counts what it is asked to scan, to prove work stays bounded. */
function counting(scrubber: ReturnType<typeof compileScrubber>) {
  const stats = { calls: 0, bytes: 0, largest: 0 };
  const note = (bytes: Uint8Array) => {
    stats.calls++;
    stats.bytes += bytes.length;
    stats.largest = Math.max(stats.largest, bytes.length);
  };
  const wrapped: typeof scrubber = {
    size: scrubber.size,
    window: scrubber.window,
    find: (bytes, hints) => (note(bytes), scrubber.find(bytes, hints)),
    contains: (bytes, hints) => (note(bytes), scrubber.contains(bytes, hints)),
    nameContains: (name) => scrubber.nameContains(name),
    redactLatin1: (text) => scrubber.redactLatin1(text),
    redact: (bytes, hints) => scrubber.redact(bytes, hints),
  };
  return { stats, scrubber: wrapped };
}

describe('denial of service', () => {
  it('an undeclared gzip that inflates 600x is scanned in slices of at most 1 MiB', async () => {
    // 4 MiB of "QUJD\0" in under 8 KiB of gzip. Scanned in one synchronous call, it held the
    // event loop for seconds (and 40 s at the 50 MiB cap).
    const body = zlib.gzipSync(Buffer.from('QUJD\0'.repeat((4 * 1024 * 1024) / 5)), { level: 9 });
    expect(body.length).toBeLessThan(8 * 1024);
    const { stats, scrubber } = counting(compileScrubber([SECRET]));
    const decoded = decodeResponseBody(Readable.from([body]), [], {
      url: new URL('https://api.example.com/export'),
      transferCodings: [],
      maxBytes: 50 * 1024 * 1024,
      scrubber,
      tooLarge: () => new AgentSecretsError('response_too_large', 'too large'),
    });
    const out: Buffer[] = [];
    for await (const chunk of decoded.body) out.push(chunk as Buffer);
    expect(zlib.gunzipSync(Buffer.concat(out)).length).toBe(
      4 * 1024 * 1024 - ((4 * 1024 * 1024) % 5),
    );
    expect(stats.bytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(stats.largest).toBeLessThanOrEqual(1024 * 1024 + 2 * HOLDBACK);
  });

  it('an archive that inflates past 16 MiB is withheld, not scanned', async () => {
    const body = zlib.gzipSync(Buffer.alloc(20 * 1024 * 1024, 0x61), { level: 9 });
    await expect(proxyBody(body)).rejects.toMatchObject({ code: 'response_too_large' });
  });

  it('one-byte chunks cost no more scanning than a few times the body', () => {
    const values = [
      SECRET,
      ...Array.from({ length: 200 }, (_, i) => `tok_${i}_${hex(String(i * 7919)).padEnd(24, 'q')}`),
    ];
    const { stats, scrubber } = counting(compileScrubber(values));
    const body = Buffer.from(
      JSON.stringify(
        Array.from({ length: 400 }, (_, i) => ({ id: i, note: 'a&amp;b %20\\n QUJDREVGR0hJ' })),
      ),
    ).subarray(0, 16 * 1024);
    const many = createScrubState(scrubber);
    // Each HTTP chunk ("1\r\nX\r\n") reaches the Transform as its own chunk. Before the fix
    // each byte rescanned ~2 KiB: about 2,000 times the body.
    for (let i = 0; i < body.length; i++) many.push(body.subarray(i, i + 1));
    many.end();
    expect(stats.bytes).toBeLessThanOrEqual(4 * body.length);
  });
});
