import { describe, expect, it } from 'vitest';
import { compileScrubber, PLACEHOLDER, type Scrubber } from '../../../src/core/scrub/scrubber.js';
import { createScrubState } from '../../../src/core/scrub/stream.js';

/**
 * The encodings table: every way an API is known to write a value back, one row each. The
 * scrubber does not enumerate these (it decodes views, see src/core/scrub/views.ts); the
 * table is what holds it to that. Each row first shows, with an independent decoder written
 * here, that the echo does reveal the value, so the row can fail.
 */

const R = PLACEHOLDER;

interface Secret {
  name: string;
  value: string;
  basic: boolean;
}

const SECRETS: Secret[] = [
  { name: 'API key', value: 'sk_live_51HxYzQ8vLm2NpR4tW6kJ9aBcD', basic: false },
  // Its base64 has '/' and '+', which URLs and PHP's JSON escape again.
  { name: 'AWS-style secret', value: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCY>>?~', basic: false },
  { name: 'spaces, slash, quote, unicode', value: 'p@ss w/rd"é€', basic: false },
  { name: 'Basic pair', value: 'user_name_long:p4ssw0rd-long', basic: true },
  { name: 'Stripe-style Basic pair', value: 'sk_test_abc123def456:', basic: true },
  {
    name: 'Go html/template and OWASP-style characters',
    value: 'tok+en/with=and&<>:"x"99',
    basic: false,
  },
  { name: 'non-ASCII value', value: 'clé-secrète-ünïcødé-Ω-漢字', basic: false },
];

/** The parts of a Basic pair that are long enough to be scrubbed on their own. */
function longParts(secret: Secret): string[] {
  if (!secret.basic) return [];
  const colon = secret.value.indexOf(':');
  return [secret.value.slice(0, colon), secret.value.slice(colon + 1)].filter(
    (part) => part.length >= 8,
  );
}

const scrubbers = new Map<string, Scrubber>();
function scrubberOf(secret: Secret): Scrubber {
  let scrubber = scrubbers.get(secret.value);
  if (scrubber === undefined)
    scrubbers.set(secret.value, (scrubber = compileScrubber([secret.value])));
  return scrubber;
}

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const lowerHex = (text: string): string => text.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase());
const uEscape = (text: string, pattern: RegExp, upper = false): string =>
  text.replace(pattern, (unit) => {
    const digits = unit.charCodeAt(0).toString(16).padStart(4, '0');
    return '\\u' + (upper ? digits.toUpperCase() : digits);
  });
const percentAll = (text: string): string =>
  [...Buffer.from(text)]
    .map((byte) =>
      /[A-Za-z0-9]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : '%' + byte.toString(16).toUpperCase().padStart(2, '0'),
    )
    .join('');

/** Undoes percent-encoding byte by byte (tolerant of anything that is not an escape). */
function percentDecode(text: string, plusIsSpace: boolean): Buffer {
  const source = plusIsSpace ? text.replaceAll('+', ' ') : text;
  return Buffer.concat(
    source
      .split(/(%[0-9a-fA-F]{2})/)
      .map((part) =>
        /^%[0-9a-fA-F]{2}$/.test(part)
          ? Buffer.from([parseInt(part.slice(1), 16)])
          : Buffer.from(part),
      ),
  );
}

const JSON_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

function jsonUnescape(text: string): string {
  return text.replace(/\\(u[0-9a-fA-F]{4}|["\\/bfnrt])/g, (_, escape: string) =>
    escape.length === 5
      ? String.fromCharCode(parseInt(escape.slice(1), 16))
      : (JSON_ESCAPES[escape] ?? escape),
  );
}

function htmlUnescape(text: string): string {
  const named: Record<string, string> = {
    amp: '&',
    lt: '<',
    gt: '>',
    quot: '"',
    apos: "'",
    sol: '/',
    plus: '+',
    equals: '=',
  };
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, ref: string) => {
    if (ref[0] !== '#') return named[ref.toLowerCase()] ?? m;
    const cp =
      ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
    return String.fromCodePoint(cp);
  });
}

function qpDecode(text: string): Buffer {
  return percentDecode(text.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, '%$1'), false);
}

function fromUtf16be(bytes: Buffer): string {
  const even = Buffer.from(bytes.subarray(0, bytes.length - (bytes.length % 2)));
  return even.swap16().toString('utf16le');
}

/** Quoted-printable as a mail library writes it: =XX for non-printables and '=', lines of 76. */
function qpEncode(text: string): string {
  const encoded = [...Buffer.from(text)]
    .map((b) =>
      b >= 33 && b <= 126 && b !== 61
        ? String.fromCharCode(b)
        : '=' + b.toString(16).toUpperCase().padStart(2, '0'),
    )
    .join('');
  const lines: string[] = [];
  for (let i = 0; i < encoded.length; i += 20) lines.push(encoded.slice(i, i + 20));
  return lines.join('=\r\n');
}

const wrap = (text: string, width: number, eol = '\n'): string =>
  text.replace(new RegExp(`(.{${width}})`, 'g'), `$1${eol}`);

/**
 * How `target` can still be read out of `output`: as is, or after undoing percent, form or JSON
 * escaping, and then base64 (either alphabet, every alignment) or hex decoding of any run.
 */
function reveal(output: Buffer, target: string): string[] {
  const want = Buffer.from(target);
  const text = output.toString('utf8');
  const views: [string, Buffer][] = [
    ['raw', output],
    ['percent', percentDecode(text, false)],
    ['form', percentDecode(text, true)],
    ['json', Buffer.from(jsonUnescape(text))],
    ['html', Buffer.from(htmlUnescape(text))],
    ['quoted-printable', qpDecode(text)],
    ['utf-16le', Buffer.from(output.toString('utf16le'))],
    ['utf-16be', Buffer.from(fromUtf16be(output))],
    ['percent twice', percentDecode(percentDecode(text, false).toString('latin1'), false)],
    ['json twice', Buffer.from(jsonUnescape(jsonUnescape(text)))],
    ['base64 lines joined', Buffer.from(text.replace(/\r?\n/g, ''))],
  ];
  const found: string[] = [];
  for (const [name, view] of views) {
    if (view.includes(want)) found.push(name);
    const latin = view.toString('latin1');
    for (const [run] of latin.matchAll(/[A-Za-z0-9+/_\r\n-]{4,}/g)) {
      const standard = run
        .replace(/[\r\n]/g, '')
        .replaceAll('-', '+')
        .replaceAll('_', '/');
      for (let shift = 0; shift < 4; shift++) {
        const decoded = Buffer.from(standard.slice(shift), 'base64');
        // A base64-encoded JSON document carries the value JSON-escaped.
        const unescaped = Buffer.from(jsonUnescape(decoded.toString('utf8')));
        if (decoded.includes(want) || unescaped.includes(want)) {
          found.push(`base64 after ${name}`);
        }
      }
    }
    for (const [run] of latin.matchAll(/[0-9a-fA-F]{6,}/g)) {
      for (let shift = 0; shift < 2; shift++) {
        if (Buffer.from(run.slice(shift), 'hex').includes(want)) found.push(`hex after ${name}`);
      }
    }
  }
  return found;
}

interface Echo {
  name: string;
  /** Base64 forms are only scrubbed for values of at least 4 bytes. */
  base64?: true;
  /** Which value the upstream echoes: the whole secret unless a Basic part is named. */
  part?: 'user' | 'password';
  body: (value: string) => string;
}

const ECHOES: Echo[] = [
  { name: 'raw in a JSON body', body: (v) => `{"ok":false,"received":"${v}"}` },
  { name: 'raw in a response header', body: (v) => `X-Debug-Auth: ${v}\r\n` },
  { name: 'JSON-escaped in a JSON string', body: (v) => JSON.stringify({ echo: v }) },
  {
    name: '\\u-escaped, every non-alphanumeric, lower hex',
    body: (v) => `{"echo":"${uEscape(v, /[^A-Za-z0-9]/g)}"}`,
  },
  {
    name: '\\u-escaped, every non-alphanumeric, upper hex',
    body: (v) => `{"echo":"${uEscape(v, /[^A-Za-z0-9]/g, true)}"}`,
  },
  {
    name: "'\\/' escaped (PHP json_encode with unescaped unicode)",
    body: (v) => JSON.stringify({ echo: v }).replaceAll('/', '\\/'),
  },
  {
    name: 'Python json.dumps (non-ASCII as \\u)',
    body: (v) => uEscape(JSON.stringify({ echo: v }), /[\u0080-\uffff]/g),
  },
  {
    name: "PHP json_encode defaults ('\\/' and non-ASCII as \\u)",
    body: (v) => uEscape(JSON.stringify({ echo: v }).replaceAll('/', '\\/'), /[\u0080-\uffff]/g),
  },
  {
    name: 'URL-encoded in a query string echo, upper hex',
    body: (v) => `{"url":"https://api.example.com/cb?key=${encodeURIComponent(v)}&x=1"}`,
  },
  {
    name: 'URL-encoded in a query string echo, lower hex',
    body: (v) => `{"url":"https://api.example.com/cb?key=${lowerHex(encodeURIComponent(v))}"}`,
  },
  {
    name: 'URL-encoded in a Location header',
    body: (v) => `Location: https://app.example.com/done?token=${encodeURIComponent(v)}\r\n`,
  },
  { name: 'every non-alphanumeric byte percent-encoded', body: (v) => `q=${percentAll(v)}` },
  {
    name: 'form-encoded echo',
    body: (v) => new URLSearchParams({ key: v, other: 'x y' }).toString(),
  },
  { name: 'base64 alone, padded', base64: true, body: (v) => `{"echo":"${b64(v)}"}` },
  {
    name: 'base64 alone, unpadded',
    base64: true,
    body: (v) => `{"echo":"${b64(v).replace(/=+$/, '')}"}`,
  },
  {
    name: 'base64 alone, URL-safe',
    base64: true,
    body: (v) => `{"echo":"${Buffer.from(v).toString('base64url')}"}`,
  },
  {
    name: 'base64 alone, URL-safe padded',
    base64: true,
    body: (v) => `{"echo":"${b64(v).replaceAll('+', '-').replaceAll('/', '_')}"}`,
  },
  {
    name: 'base64 URL-encoded in a query string',
    base64: true,
    body: (v) => `next=/login?auth=${encodeURIComponent(b64(v))}`,
  },
  {
    name: "base64 inside PHP-style JSON ('\\/')",
    base64: true,
    body: (v) => JSON.stringify({ b: b64(v) }).replaceAll('/', '\\/'),
  },
  {
    name: 'base64 of "Bearer <v>" (offset 7)',
    base64: true,
    body: (v) => `{"authorization_b64":"${b64(`Bearer ${v}`)}"}`,
  },
  {
    name: 'base64 of {"api_token":"<v>"} (offset 14)',
    base64: true,
    body: (v) => `{"data":"${b64(JSON.stringify({ api_token: v }))}"}`,
  },
  {
    name: 'base64url JWT payload {"sub":"a","key":"<v>"} (offset 18)',
    base64: true,
    body: (v) => {
      const payload = Buffer.from(JSON.stringify({ sub: 'a', key: v })).toString('base64url');
      return `{"id_token":"eyJhbGciOiJub25lIn0.${payload}."}`;
    },
  },
  { name: 'hex, lower case', body: (v) => `digest=${Buffer.from(v).toString('hex')}` },
  {
    name: 'hex, upper case',
    body: (v) => `DIGEST=${Buffer.from(v).toString('hex').toUpperCase()}`,
  },
  {
    name: 'Basic base64(user:pass) header echo',
    base64: true,
    body: (v) => `{"headers":{"Authorization":"Basic ${b64(v)}","Host":"httpbin.org"}}`,
  },
  {
    name: 'user part alone',
    part: 'user',
    body: (u) => `{"error":{"message":"Invalid API Key provided: ${u}"}}`,
  },
  {
    name: 'password part alone',
    part: 'password',
    body: (p) => `{"error":"wrong password ${p} for user"}`,
  },
  {
    name: 'password part alone, base64',
    part: 'password',
    base64: true,
    body: (p) => `{"echo":"${b64(p)}"}`,
  },
  {
    name: "Go html/template ('+' as &#43;, quotes as &#34;)",
    body: (v) =>
      `<p>${v.replace(/&/g, '&amp;').replace(/\+/g, '&#43;').replace(/"/g, '&#34;').replace(/</g, '&lt;').replace(/>/g, '&gt;')}</p>`,
  },
  {
    name: "OWASP HTML encoding ('/' as &#x2F;, every non-alphanumeric as hex)",
    body: (v) =>
      `<td>${[...v].map((c) => (/[A-Za-z0-9]/.test(c) ? c : `&#x${c.codePointAt(0)!.toString(16).toUpperCase()};`)).join('')}</td>`,
  },
  {
    name: 'decimal HTML entities for everything',
    body: (v) => [...v].map((c) => `&#${c.codePointAt(0)!};`).join(''),
  },
  {
    name: "Python quote() (keeps '/', encodes '+' and '=')",
    body: (v) => `next=${encodeURIComponent(v).replace(/%2F/g, '/')}`,
  },
  {
    name: 'percent-escapes in mixed case',
    body: (v) =>
      percentAll(v).replace(
        /%([0-9A-F])([0-9A-F])/g,
        (_m, a: string, b: string) => `%${a}${b.toLowerCase()}`,
      ),
  },
  { name: 'quoted-printable with soft line breaks', body: (v) => `Body:\r\n${qpEncode(v)}\r\n` },
  {
    name: 'base64 wrapped at 60 columns',
    base64: true,
    body: (v) => wrap(b64(`x:${v} and some more text to wrap`), 60),
  },
  {
    name: 'base64 wrapped at 64 columns (PEM)',
    base64: true,
    body: (v) => `-----BEGIN X-----\n${wrap(b64(`${v}${v}`), 64)}\n-----END X-----`,
  },
  {
    name: 'base64 wrapped at 76 columns, CRLF (MIME)',
    base64: true,
    body: (v) => wrap(b64(`MIME ${v} body`), 76, '\r\n'),
  },
  {
    name: "Go JSON escaping ('&', '<', '>' as \\u0026…)",
    body: (v) =>
      JSON.stringify({ v })
        .replace(/&/g, '\\u0026')
        .replace(/</g, '\\u003c')
        .replace(/>/g, '\\u003e'),
  },
  { name: 'every character as a JSON \\u escape', body: (v) => `"${uEscape(v, /[\s\S]/g)}"` },
  { name: 'double percent-encoding', body: (v) => encodeURIComponent(encodeURIComponent(v)) },
  {
    name: 'JSON string inside a JSON string',
    body: (v) => JSON.stringify({ inner: JSON.stringify({ v }) }),
  },
];

/** Every (secret, echo) pair, as [title, row] for full titles. */
const ROWS = SECRETS.flatMap((secret) =>
  ECHOES.flatMap((echo) => {
    let echoed = secret.value;
    if (echo.part !== undefined) {
      if (!secret.basic) return [];
      const colon = secret.value.indexOf(':');
      echoed = echo.part === 'user' ? secret.value.slice(0, colon) : secret.value.slice(colon + 1);
      if (echoed.length < 8) return [];
    }
    const body = Buffer.from(echo.body(echoed));
    return [[`${secret.name}: ${echo.name}`, { secret, echoed, body }] as const];
  }),
);

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(next: () => number, length: number): Buffer {
  return Buffer.from(Array.from({ length }, () => Math.floor(next() * 256)));
}

function stream(chunks: readonly Uint8Array[], scrubber: Scrubber): Buffer {
  const state = createScrubState(scrubber);
  const parts = chunks.map((chunk) => state.push(chunk));
  parts.push(state.end());
  return Buffer.concat(parts);
}

describe('the scrubber scrubs every echo in the table', () => {
  it.each(ROWS)('%s', (_title, { secret, echoed, body }) => {
    // The oracle must see the echo before redaction, or its silence afterwards proves nothing.
    expect(reveal(body, echoed)).not.toEqual([]);
    const { output, count } = scrubberOf(secret).redact(body);
    expect(count).toBeGreaterThan(0);
    expect(output.toString('utf8')).toContain(R);
    for (const target of [secret.value, ...longParts(secret)]) {
      expect(reveal(output, target), target).toEqual([]);
    }
  });

  it.each(ROWS)('%s, split into chunks anywhere', (_title, { secret, body }) => {
    const scrubber = scrubberOf(secret);
    const whole = scrubber.redact(body).output;
    const step = Math.max(1, Math.floor(body.length / 40));
    for (let at = 0; at <= body.length; at += step) {
      const out = stream([body.subarray(0, at), body.subarray(at)], scrubber);
      expect(reveal(out, secret.value), `${at}`).toEqual([]);
    }
    const bytes = Array.from(body, (byte) => Uint8Array.of(byte));
    expect(stream(bytes, scrubber).equals(whole)).toBe(true);
  });
});

describe('base64 at every alignment inside a longer blob', () => {
  const rows = SECRETS.flatMap((secret, s) =>
    [0, 1, 2, 3, 4, 5].flatMap((offset) =>
      (['base64', 'base64url'] as const).map((alphabet) => ({
        label: `${secret.name}, offset ${offset}, ${alphabet}`,
        secret,
        offset,
        alphabet,
        seed: s * 100 + offset * 2 + (alphabet === 'base64' ? 0 : 1),
      })),
    ),
  );

  it.each(rows)('$label', ({ secret, offset, alphabet, seed }) => {
    const next = prng(seed);
    const value = Buffer.from(secret.value);
    const blob = Buffer.concat([randomBytes(next, offset), value, randomBytes(next, 7)]);
    const full = blob.toString(alphabet);
    expect(reveal(Buffer.from(full), secret.value)).not.toEqual([]);
    const { output } = scrubberOf(secret).redact(full);
    const text = output.toString('utf8');
    expect(text).toContain(R);
    expect(reveal(output, secret.value)).toEqual([]);
  });
});

describe('partial values (runs of W bytes)', () => {
  const value = 'sk_live_PARTIALabcdefghijklmnopqrstuv0123';
  const scrubber = compileScrubber([value]);

  it.each([
    ['a Range-style first half', value.slice(0, 20)],
    ['a second half', value.slice(20)],
    ['exactly W = 12 bytes from the middle', value.slice(9, 21)],
    ['a middle run, URL-encoded', encodeURIComponent(value.slice(5, 25))],
    ['a middle run, JSON-escaped', JSON.stringify(value.slice(3, 30))],
  ])('scrubs %s', (_name, text) => {
    expect(text.length).toBeGreaterThan(0);
    const { output, count } = scrubber.redact(`{"part":"${text}"}`);
    expect(count).toBe(1);
    expect(output.toString()).not.toContain(value.slice(9, 21));
  });

  it('leaves W-1 bytes of a value alone (near-misses are not mangled)', () => {
    const text = `{"prefix":"${value.slice(0, 11)}","other":"${value.slice(15, 26)}"}`;
    expect(scrubber.redact(text)).toEqual({ output: Buffer.from(text), count: 0 });
  });

  it('never goes below W = 8', () => {
    expect(compileScrubber([value], { window: 3 }).window).toBe(8);
  });
});

describe('benign responses come back byte for byte', () => {
  const secrets = [
    'sk_live_51HxYzQ8vLm2NpR4tW6kJ9aBcD',
    'ghp_16C7e42F292c6912E7710c838347Ae178B4a',
    'AKIAIOSFODNN7EXAMPLEwJalrXUtnFEMI/K7MDENG',
  ];
  const scrubber = compileScrubber(secrets);
  const gzipLike = Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03]);
  it.each([
    [
      'ordinary JSON',
      JSON.stringify({
        id: 'ch_3MmlLrLkdIwHu7ix0snN0B15',
        amount: 2000,
        currency: 'usd',
        livemode: false,
        created: 1680000000,
      }),
    ],
    [
      'the same public prefix',
      JSON.stringify({
        hint: 'keys look like sk_live_… and ghp_…',
        example: 'sk_live_XXXXXXXXXXXXXXXX',
      }),
    ],
    [
      'an HTML page with entities',
      '<!doctype html><p>Tom &amp; Jerry &#8212; &lt;b&gt;bold&lt;/b&gt; &nbsp;%20 \\u0026</p>',
    ],
    ['a first W-1 bytes of each value', secrets.map((v) => v.slice(0, 11)).join(' ')],
    [
      'base64 of unrelated data',
      Buffer.from('hello world, this is not a secret at all').toString('base64'),
    ],
    [
      'a long hex digest',
      'a'.repeat(3) + 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    ],
    ['quoted-printable mail', 'Subject: hi=\r\nthere =3D fine\r\n'],
  ])('%s', (_name, text) => {
    expect(scrubber.redact(text)).toEqual({ output: Buffer.from(text), count: 0 });
  });
  it('binary that is not an archive', () => {
    const bytes = Buffer.concat([gzipLike, Buffer.from(secrets[0]!.slice(0, 10))]);
    expect(scrubber.redact(bytes).count).toBe(0);
  });
});

describe('stream scrubbing agrees with whole-buffer scrubbing', () => {
  it('on random bodies with values planted in random encodings (seeded)', () => {
    const next = prng(7);
    const values = ['sk_live_RANDOMxyz0123456789abcdef', 'another/secret+value=with==pad'];
    const scrubber = compileScrubber(values);
    const forms = [
      (v: string) => v,
      (v: string) => encodeURIComponent(v),
      (v: string) => b64(`  ${v}`),
      (v: string) => JSON.stringify(v),
      (v: string) => Buffer.from(v).toString('hex'),
    ];
    for (let round = 0; round < 40; round++) {
      const parts: string[] = [];
      for (let i = 0; i < 6; i++) {
        parts.push(randomBytes(next, Math.floor(next() * 400)).toString('latin1'));
        const form = forms[Math.floor(next() * forms.length)]!;
        parts.push(form(values[Math.floor(next() * values.length)]!));
      }
      const body = Buffer.from(parts.join(''), 'latin1');
      const chunks: Buffer[] = [];
      for (let at = 0; at < body.length;) {
        const size = 1 + Math.floor(next() * 700);
        chunks.push(body.subarray(at, at + size));
        at += size;
      }
      const out = stream(chunks, scrubber);
      for (const value of values) expect(reveal(out, value), `round ${round}`).toEqual([]);
    }
  });
});
