import { describe, expect, it } from 'vitest';
import { createRedactor, PLACEHOLDER, redactAll } from '../../src/core/redactor.js';
import { redactionNeedles } from '../../src/proxy/encodings.js';

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
  { name: '3-character value', value: 'x/7', basic: false },
];

/** The parts of a Basic pair that are long enough to be scrubbed on their own. */
function longParts(secret: Secret): string[] {
  if (!secret.basic) return [];
  const colon = secret.value.indexOf(':');
  return [secret.value.slice(0, colon), secret.value.slice(colon + 1)].filter(
    (part) => part.length >= 8,
  );
}

function needlesOf(secret: Secret): string[] {
  return redactionNeedles(secret.value, { basic: secret.basic });
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
  ];
  const found: string[] = [];
  for (const [name, view] of views) {
    if (view.includes(want)) found.push(name);
    const latin = view.toString('latin1');
    for (const [run] of latin.matchAll(/[A-Za-z0-9+/_-]{4,}/g)) {
      const standard = run.replaceAll('-', '+').replaceAll('_', '/');
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
];

/** Every (secret, echo) pair that the needles promise to scrub, as [title, row] for full titles. */
const ROWS = SECRETS.flatMap((secret) =>
  ECHOES.flatMap((echo) => {
    if (echo.base64 === true && Buffer.byteLength(secret.value) < 4) return [];
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

function stream(chunks: readonly Uint8Array[], needles: readonly string[]): Buffer {
  const redactor = createRedactor(needles);
  const parts = chunks.map((chunk) => redactor.push(chunk));
  parts.push(redactor.end());
  return Buffer.concat(parts);
}

describe('redactionNeedles scrubs every echo end to end', () => {
  it.each(ROWS)('%s', (_title, { secret, echoed, body }) => {
    // The oracle must see the echo before redaction, or its silence afterwards proves nothing.
    expect(reveal(body, echoed)).not.toEqual([]);
    const { output, count } = redactAll(body, needlesOf(secret));
    expect(count).toBeGreaterThan(0);
    expect(output.toString('utf8')).toContain(R);
    for (const target of [secret.value, ...longParts(secret)]) {
      expect(reveal(output, target), target).toEqual([]);
    }
  });

  it.each(ROWS)('%s, split into chunks at every position', (_title, { secret, body }) => {
    const needles = needlesOf(secret);
    const whole = redactAll(body, needles).output;
    for (let at = 0; at <= body.length; at++) {
      expect(
        stream([body.subarray(0, at), body.subarray(at)], needles).equals(whole),
        `${at}`,
      ).toBe(true);
    }
    const bytes = Array.from(body, (byte) => Uint8Array.of(byte));
    expect(stream(bytes, needles).equals(whole)).toBe(true);
  });
});

describe('base64 at every alignment inside a longer blob', () => {
  const long = SECRETS.filter((secret) => Buffer.byteLength(secret.value) >= 4);
  const rows = long.flatMap((secret, s) =>
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
    const { output, count } = redactAll(full, needlesOf(secret));
    const text = output.toString('utf8');
    expect(count).toBe(1);
    const at = text.indexOf(R);
    const head = text.slice(0, at);
    const tail = text.slice(at + R.length);
    expect(full.startsWith(head) && full.endsWith(tail)).toBe(true);
    // Characters that carry any of the value's bits: [first, end). Only the one character at
    // each edge that also carries a neighbour's bits may survive (at most 4 bits of the value).
    const first = Math.floor((8 * offset) / 6);
    const end = Math.ceil((8 * (offset + value.length)) / 6);
    expect(head.length - first).toBeLessThanOrEqual(1);
    expect(end - (full.length - tail.length)).toBeLessThanOrEqual(1);
    expect(reveal(output, secret.value)).toEqual([]);
  });
});

describe('redactionNeedles', () => {
  it.each(SECRETS)('$name: no empty needles, no duplicates, longest first', (secret) => {
    const needles = needlesOf(secret);
    expect(needles.length).toBeGreaterThan(0);
    expect(needles).not.toContain('');
    expect(new Set(needles).size).toBe(needles.length);
    const lengths = needles.map((needle) => Buffer.byteLength(needle));
    expect(lengths).toEqual([...lengths].sort((a, b) => b - a));
    expect(needles).toContain(secret.value);
  });

  it('returns nothing for an empty value', () => {
    expect(redactionNeedles('')).toEqual([]);
    expect(redactionNeedles('', { basic: true })).toEqual([]);
  });

  it('gives a value under 4 bytes raw, URL, form, JSON and hex forms, and no base64', () => {
    expect([...redactionNeedles('x/7')].sort()).toEqual(
      ['x/7', 'x%2F7', 'x%2f7', 'x\\/7', 'x\\u002f7', 'x\\u002F7', '782f37', '782F37'].sort(),
    );
    expect(redactAll(`{"echo":"${b64('x/7')}"}`, redactionNeedles('x/7')).count).toBe(0);
  });

  it('gives a 4-byte value its base64 forms and a core at each alignment', () => {
    const needles = redactionNeedles('abcd');
    // base64('abcd') = YWJjZA==, base64('\0abcd') = AGFiY2Q=, base64('\0\0abcd') = AABhYmNk.
    for (const form of ['YWJjZA==', 'YWJjZA', 'YWJjZ', 'FiY2', 'hYmNk']) {
      expect(needles).toContain(form);
    }
  });

  it.each(['sk_live_abc', 'p@ss w/rd"é€', "a-_.!~*'()z", 'tab\there+plus&amp=1', '🔑 key'])(
    'matches encodeURIComponent and URLSearchParams for %j',
    (value) => {
      const needles = redactionNeedles(value);
      expect(needles).toContain(encodeURIComponent(value));
      expect(needles).toContain(lowerHex(encodeURIComponent(value)));
      expect(needles).toContain(new URLSearchParams({ k: value }).toString().slice(2));
      expect(needles).toContain(JSON.stringify(value).slice(1, -1));
    },
  );

  it('does not throw on a lone surrogate', () => {
    expect(redactionNeedles('abc\ud800def').length).toBeGreaterThan(0);
  });

  it.each([
    { pair: 'api:supersecretpassword', kept: ['supersecretpassword'], dropped: ['api'] },
    { pair: 'longusername:short', kept: ['longusername'], dropped: ['short'] },
    { pair: 'exactly8:1234567', kept: ['exactly8'], dropped: ['1234567'] },
    { pair: 'user:pa:ss:word12', kept: ['pa:ss:word12'], dropped: ['user', 'pa', 'ss:word12'] },
    { pair: 'sk_test_abc123def456:', kept: ['sk_test_abc123def456'], dropped: [] },
  ])('Basic $pair: parts of 8+ characters are scrubbed alone', ({ pair, kept, dropped }) => {
    const needles = redactionNeedles(pair, { basic: true });
    for (const part of kept) {
      expect(needles).toContain(part);
      expect(needles).toContain(b64(part));
      expect(needles).toContain(Buffer.from(part).toString('hex'));
      expect(redactionNeedles(pair)).not.toContain(part);
    }
    for (const part of dropped) {
      expect(needles).not.toContain(part);
      expect(needles).not.toContain(Buffer.from(part).toString('hex'));
    }
    expect(needles).not.toContain('');
  });

  it('leaves a short Basic user name alone in unrelated text', () => {
    const needles = redactionNeedles('api:supersecretpassword', { basic: true });
    const text = 'GET /api/v1/items?api=1 api version';
    expect(redactAll(text, needles)).toEqual({ output: Buffer.from(text), count: 0 });
  });
});
