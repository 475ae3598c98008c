import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compileScrubber, type Scrubber } from '../../../src/core/scrub/scrubber.js';
import { createScrubState } from '../../../src/core/scrub/stream.js';
import { compileScrubber as compileReference } from '../scrub-reference/scrubber.js';
import { compileMatcher } from '../../../src/core/scrub/matcher.js';
import { compileMatcher as compileReferenceMatcher } from '../scrub-reference/matcher.js';
import * as views from '../../../src/core/scrub/views.js';
import * as referenceViews from '../scrub-reference/views.js';

/**
 * Differential test for the scrubber's speed work (issue 17): on a large seeded-random corpus
 * of bodies (JSON API answers, HTML, form bodies, server-sent events, binary bytes, base64 and
 * hex blobs) with secret values planted in every encoding the scrubber decodes, and in stacks
 * of them, and with none planted, the scrubber in src/ must report exactly the spans the
 * pre-change copy in test/core/scrub-reference/ reports, redact to the same bytes, and stream
 * (any chunking) to the same bytes. Any change in what is found, in either direction, fails.
 */

/** Mulberry32: a small seeded generator, so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, items: readonly T[]): T => items[int(r, items.length)]!;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const token = (r: Rand, n: number, alphabet = ALNUM) =>
  Array.from({ length: n }, () => alphabet[int(r, alphabet.length)]).join('');

/** Secret values of the shapes seen in practice, plus awkward ones. */
function secretValue(r: Rand): string {
  switch (int(r, 9)) {
    case 0:
      return `sk_live_${token(r, 24 + int(r, 16))}`;
    case 1:
      return `ghp_${token(r, 36)}`;
    case 2:
      return token(r, 10 + int(r, 40));
    case 3:
      return `${token(r, 8 + int(r, 6))}:${token(r, 8 + int(r, 12))}`; // user:password
    case 4:
      return `${token(r, 6)}/+=&<>"' %${token(r, 10)}`; // characters every encoder touches
    case 5:
      return `clé-secrète-${token(r, 8)}-ünï-Ω-漢字`; // non-ASCII
    case 6:
      return `AKIA${token(r, 16, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`;
    case 7:
      return Buffer.from(token(r, 20)).toString('hex'); // a hex-looking secret
    default:
      return `eyJ${token(r, 30, ALNUM + '-_')}.${token(r, 20)}`; // JWT-ish
  }
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');
const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');
const wrap = (text: string, width: number, eol: string) =>
  text.match(new RegExp(`.{1,${width}}`, 'g'))!.join(eol);
const percentAll = (text: string, upper: boolean) =>
  [...Buffer.from(text)]
    .map((b) => {
      const hex = b.toString(16).padStart(2, '0');
      return '%' + (upper ? hex.toUpperCase() : hex);
    })
    .join('');
const percentSome = (r: Rand, text: string) =>
  [...Buffer.from(text)]
    .map((b) =>
      r() < 0.4 ? '%' + b.toString(16).padStart(2, '0').toUpperCase() : String.fromCharCode(b),
    )
    .join('');
const uEscape = (text: string, all: boolean, upper: boolean) =>
  text.replace(all ? /[\s\S]/g : /[^A-Za-z0-9]/g, (c) => {
    const d = c.charCodeAt(0).toString(16).padStart(4, '0');
    return '\\u' + (upper ? d.toUpperCase() : d);
  });
const entities = (r: Rand, text: string) =>
  [...text]
    .map((c) => {
      const cp = c.codePointAt(0)!;
      switch (int(r, 5)) {
        case 0:
          return `&#${cp};`;
        case 1:
          return `&#x${cp.toString(16)};`;
        case 2:
          return `&#${cp}`; // no semicolon
        case 3:
          return c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '"' ? '&quot;' : c;
        default:
          return c;
      }
    })
    .join('');
const qpEncode = (text: string) => {
  const encoded = [...Buffer.from(text)]
    .map((b) =>
      b >= 0x21 && b <= 0x7e && b !== 0x3d
        ? String.fromCharCode(b)
        : '=' + b.toString(16).toUpperCase().padStart(2, '0'),
    )
    .join('');
  return wrap(encoded, 10, '=\r\n');
};
const hexSep = (text: string, sep: string, upper: boolean) => {
  const hex = Buffer.from(text).toString('hex');
  const pairs = hex.match(/../g)!.join(sep);
  return upper ? pairs.toUpperCase() : pairs;
};
const utf16 = (text: string, be: boolean) => {
  const le = Buffer.from(text, 'utf16le');
  return be ? Buffer.from(le).swap16() : le;
};

/** An encoder: from the value (or an encoded layer of it) to bytes that carry it. */
type Encoder = (r: Rand, text: string) => string | Buffer;

/** Every encoding the scrubber handles today (see views.ts and the encodings table). */
const ENCODERS: Record<string, Encoder> = {
  raw: (_r, v) => v,
  'upper case': (_r, v) => v.toUpperCase(),
  'form (+ for space)': (_r, v) => encodeURIComponent(v).replace(/%20/g, '+'),
  encodeURIComponent: (_r, v) => encodeURIComponent(v),
  'percent all, upper': (_r, v) => percentAll(v, true),
  'percent all, lower': (_r, v) => percentAll(v, false),
  'percent partial': (r, v) => percentSome(r, v),
  '%u escapes': (_r, v) =>
    v.replace(/[^A-Za-z0-9]/g, (c) => '%u' + c.charCodeAt(0).toString(16).padStart(4, '0')),
  'JSON.stringify': (_r, v) => JSON.stringify(v),
  '\\u non-alnum, lower': (_r, v) => uEscape(v, false, false),
  '\\u all, upper': (_r, v) => uEscape(v, true, true),
  '\\u{}': (_r, v) => [...v].map((c) => `\\u{${c.codePointAt(0)!.toString(16)}}`).join(''),
  '\\x bytes': (_r, v) =>
    [...Buffer.from(v)].map((b) => '\\x' + b.toString(16).padStart(2, '0')).join(''),
  'backslash punctuation': (_r, v) => v.replace(/[^A-Za-z0-9]/g, (c) => '\\' + c),
  'HTML entities': (r, v) => entities(r, v),
  'quoted-printable': (_r, v) => qpEncode(v),
  base64: (_r, v) => b64(v),
  'base64 unpadded': (_r, v) => b64(v).replace(/=+$/, ''),
  base64url: (_r, v) => b64url(v),
  'base64 offset 1': (r, v) => b64(Buffer.concat([Buffer.from(token(r, 1)), Buffer.from(v)])),
  'base64 offset 2': (r, v) => b64(Buffer.concat([Buffer.from(token(r, 2)), Buffer.from(v)])),
  'base64 of Bearer': (_r, v) => b64(`Bearer ${v}`),
  'base64url JWT payload': (_r, v) => b64url(JSON.stringify({ sub: 'a', key: v })),
  'base64 wrapped 60 LF': (r, v) =>
    wrap(b64(`${token(r, int(r, 3))}${v}${token(r, 30)}`), 60, '\n'),
  'base64 wrapped 64 LF': (r, v) => wrap(b64(`${token(r, 40)}${v}`), 64, '\n'),
  'base64 wrapped 76 CRLF': (r, v) => wrap(b64(`${token(r, 50)}${v}${token(r, 50)}`), 76, '\r\n'),
  'base64 wrapped, JSON-escaped CRLF': (r, v) => wrap(b64(`${token(r, 7)}${v}`), 20, '\\r\\n'),
  'base64 wrapped narrow': (_r, v) => wrap(b64(v), 4, '\r\n\r\n'),
  'Basic header': (_r, v) => `Basic ${b64(v.includes(':') ? v : `user:${v}`)}`,
  'hex lower': (_r, v) => Buffer.from(v).toString('hex'),
  'hex upper': (_r, v) => Buffer.from(v).toString('hex').toUpperCase(),
  'hex colon': (_r, v) => hexSep(v, ':', true),
  'hex space': (_r, v) => hexSep(v, ' ', false),
  'hex dash': (_r, v) => hexSep(v, '-', false),
  'hex bytea \\x': (_r, v) => '\\x' + Buffer.from(v).toString('hex'),
  'UTF-16LE': (_r, v) => utf16(v, false),
  'UTF-16BE': (_r, v) => utf16(v, true),
  'gzip in base64': (r, v) => b64(gzipSync(Buffer.from(`{"log":"${token(r, 20)} ${v} end"}`))),
  'gzip in base64 wrapped': (_r, v) => wrap(b64(gzipSync(Buffer.from(`x ${v} y`))), 76, '\n'),
  'user part': (_r, v) => v.split(':')[0]!,
  'password part': (_r, v) => v.split(':').slice(1).join(':') || v,
  'password part, base64': (_r, v) => b64(v.split(':').slice(1).join(':') || v),
};
const ENCODER_NAMES = Object.keys(ENCODERS);
/** Encoders that yield text a further layer can take (UTF-16 is bytes, kept to the outside). */
const TEXTUAL = ENCODER_NAMES.filter((n) => !n.startsWith('UTF-16'));

/** Encodes a value (or part of it) by one to three random layers. */
function encodeSecret(r: Rand, value: string): { bytes: Buffer; how: string } {
  let text = value;
  const how: string[] = [];
  // A partial run: a slice of the value at least a window long (often shorter: not a match).
  if (r() < 0.15) {
    const from = int(r, Math.max(1, value.length - 8));
    text = value.slice(from, from + 8 + int(r, 12));
    how.push(`slice ${from}`);
  }
  const layers = r() < 0.55 ? 1 : r() < 0.7 ? 2 : 3;
  let out: string | Buffer = text;
  for (let l = 0; l < layers; l++) {
    const name = l === layers - 1 ? pick(r, ENCODER_NAMES) : pick(r, TEXTUAL);
    how.push(name);
    out = ENCODERS[name]!(r, typeof out === 'string' ? out : out.toString('latin1'));
  }
  return { bytes: typeof out === 'string' ? Buffer.from(out, 'utf8') : out, how: how.join(' > ') };
}

/** Realistic bodies with no secret in them. */
function fillerBody(r: Rand, size: number): Buffer {
  const kind = int(r, 8);
  const parts: string[] = [];
  let length = 0;
  const push = (s: string) => {
    parts.push(s);
    length += s.length;
  };
  switch (kind) {
    case 0: // JSON list
      push('{"object":"list","data":[');
      for (let i = 0; length < size; i++) {
        push(
          (i ? ',' : '') +
            JSON.stringify({
              id: `cus_${token(r, 16)}`,
              email: `${token(r, 8).toLowerCase()}@example.com`,
              name: `Jane "${token(r, 5)}" Doe`,
              created: 1700000000 + i,
              url: `https://api.example.com/v1/customers/${token(r, 10)}?expand[]=a&x=%20y`,
              note: 'line one\nline two\té',
            }),
        );
      }
      push('],"has_more":false}');
      break;
    case 1: // HTML
      push('<!doctype html><html><body>');
      while (length < size)
        push(
          `<p class="x">Hello &amp; welcome, ${token(r, 6)} &lt;b&gt; &#169; <a href="/a?b=1&amp;c=${token(r, 8)}">link</a></p>\n`,
        );
      push('</body></html>');
      break;
    case 2: // form
      while (length < size) push(`${token(r, 5)}=${encodeURIComponent(`${token(r, 9)} +/&=`)}&`);
      break;
    case 3: // SSE
      while (length < size)
        push(`event: delta\ndata: {"text":"${token(r, 12)} \\u00e9\\n","i":${int(r, 999)}}\n\n`);
      break;
    case 4: // base64 blobs and hex digests (decoded, no secret)
      while (length < size)
        push(
          `{"blob":"${b64(Buffer.from(token(r, 30 + int(r, 60))))}","sha":"${token(r, 40, '0123456789abcdef')}","pem":"${wrap(b64(Buffer.from(token(r, 90))), 64, '\\n')}"}\n`,
        );
      break;
    case 5: // binary
      return Buffer.from(Array.from({ length: size }, () => int(r, 256)));
    case 6: // UTF-16LE text with a BOM-less start
      return Buffer.concat([
        Buffer.from('{"a":"'),
        Buffer.from(token(r, size >> 2), 'utf16le'),
        Buffer.from('"}'),
      ]);
    default: // mixed escapes
      while (length < size)
        push(`q=${token(r, 4)}%2525%41&x=\\u0041\\x41=3D=\r\n&#x41;${b64(token(r, 12))} `);
  }
  return Buffer.from(parts.join(''), 'utf8').subarray(0, Math.max(size, 0) + 64);
}

function plant(r: Rand, body: Buffer, pieces: Buffer[]): Buffer {
  let out = body;
  for (const piece of pieces) {
    const at = int(r, out.length + 1);
    // Often set apart (a JSON string, a word): an encoded run then has exactly its own length.
    const [open, close] = pick(r, [
      ['', ''],
      ['', ''],
      ['"', '"'],
      [' ', ' '],
      ['\n', ','],
    ]);
    out = Buffer.concat([
      out.subarray(0, at),
      Buffer.from(open!),
      piece,
      Buffer.from(close!),
      out.subarray(at),
    ]);
  }
  return out;
}

function streamed(scrubber: Scrubber, body: Buffer, cuts: number[], lines: boolean): Buffer {
  const state = createScrubState(scrubber, { lines });
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of cuts) {
    out.push(state.push(body.subarray(at, cut)));
    at = cut;
  }
  out.push(state.push(body.subarray(at)));
  out.push(state.end());
  return Buffer.concat(out);
}

interface Case {
  label: string;
  body: Buffer;
}

function corpus(seed: number, count: number, values: string[]): Case[] {
  const r = rng(seed);
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const size = pick(r, [0, 16, 200, 1600, 1600, 4000, 10_240]);
    const body = fillerBody(r, size);
    const planted: Buffer[] = [];
    const how: string[] = [];
    const secrets = r() < 0.3 ? 0 : 1 + int(r, 3);
    for (let s = 0; s < secrets; s++) {
      const e = encodeSecret(r, pick(r, values));
      planted.push(e.bytes);
      how.push(e.how);
    }
    cases.push({
      label: `seed ${seed} case ${i}: ${size} B, ${how.length ? how.join(' | ') : 'no secret'}`,
      body: plant(r, body, planted),
    });
  }
  return cases;
}

function scopes(seed: number): { values: string[]; window: number }[] {
  const r = rng(seed);
  return [
    { values: Array.from({ length: 6 }, () => secretValue(r)), window: 12 },
    { values: Array.from({ length: 6 }, () => secretValue(r)), window: 8 },
    { values: Array.from({ length: 40 }, () => secretValue(r)), window: 20 },
    { values: [secretValue(r)], window: 12 },
    // Values a human let through with --allow-short (4-15 bytes), some of one repeated byte or
    // unit, beside ordinary ones: the matcher's plain scan below 8 bytes and its sampled scan
    // at the shortest strides, and base64 runs shorter than the sampled run finder's floor.
    {
      values: [
        ...[4, 6, 7, 11, 15].map((length) => shortValue(r, length)),
        ...Array.from({ length: 2 }, () => secretValue(r)),
      ],
      window: 8,
    },
    // The shortest values the sampled scan takes (8 bytes: a sample every 5 bytes).
    { values: [8, 8, 9, 13].map((length) => shortValue(r, length)), window: 12 },
  ];
}

/** A value of `length` (4-15) bytes (as `secrets set --allow-short` admits), often of few distinct bytes. */
function shortValue(r: Rand, length: number): string {
  switch (int(r, 4)) {
    case 0:
      return pick(r, ['a', '7', 'Z', '+']).repeat(length);
    case 1: {
      const unit = token(r, 1 + int(r, 3));
      return unit.repeat(length).slice(0, length);
    }
    case 2:
      return token(r, length, 'aAbB+ ');
    default:
      return token(r, length);
  }
}

describe('the scrubber against its pre-change reference', () => {
  for (const [s, scope] of scopes(17).entries()) {
    it(`finds and redacts exactly as before (scope ${s}, window ${scope.window})`, () => {
      const current = compileScrubber(scope.values, { window: scope.window });
      const reference = compileReference(scope.values, { window: scope.window });
      let planted = 0;
      let found = 0;
      for (const c of corpus(1000 + s, 300, scope.values)) {
        const expected = reference.find(c.body);
        const got = current.find(c.body);
        if (JSON.stringify(got) !== JSON.stringify(expected)) {
          expect.fail(`${c.label}: spans ${JSON.stringify(got)} != ${JSON.stringify(expected)}`);
        }
        if (!c.label.endsWith('no secret')) planted++;
        if (expected.length > 0) found++;
        for (const hints of [{ utf16: 'le' as const }, { utf16: 'be' as const, offset: 1 }]) {
          const e = reference.find(c.body, hints);
          const g = current.find(c.body, hints);
          if (JSON.stringify(g) !== JSON.stringify(e))
            expect.fail(`${c.label} ${JSON.stringify(hints)}`);
        }
        expect(current.redact(c.body).output.equals(reference.redact(c.body).output), c.label).toBe(
          true,
        );
      }
      // The corpus does exercise finding: most planted bodies hold a match.
      expect(found).toBeGreaterThan(planted / 2);
    });

    it(`streams to the same bytes under random chunking (scope ${s})`, () => {
      const current = compileScrubber(scope.values, { window: scope.window });
      const reference = compileReference(scope.values, { window: scope.window });
      const r = rng(5000 + s);
      for (const c of corpus(2000 + s, 80, scope.values)) {
        const cuts: number[] = [];
        for (let at = int(r, 700); at < c.body.length; at += 1 + int(r, 1500)) cuts.push(at);
        const lines = r() < 0.3;
        const want = streamed(reference, c.body, cuts, lines);
        const got = streamed(current, c.body, cuts, lines);
        expect(got.equals(want), c.label).toBe(true);
      }
    });

    it(`header names and values as before (scope ${s})`, () => {
      const current = compileScrubber(scope.values, { window: scope.window });
      const reference = compileReference(scope.values, { window: scope.window });
      for (const c of corpus(3000 + s, 150, scope.values)) {
        const text = c.body.subarray(0, 300).toString('latin1');
        expect(current.redactLatin1(text), c.label).toEqual(reference.redactLatin1(text));
        const name = text.toLowerCase().replace(/[^a-z0-9_+/=-]/g, '');
        expect(current.nameContains(name), c.label).toBe(reference.nameContains(name));
        expect(current.contains(c.body), c.label).toBe(reference.contains(c.body));
      }
    });
  }

  it('a scope of 1,000 values, bodies of 1 MiB', () => {
    const r = rng(99);
    const values = Array.from({ length: 1000 }, () => secretValue(r));
    const current = compileScrubber(values);
    const reference = compileReference(values);
    for (const c of corpus(4000, 6, values)) {
      const body = Buffer.concat([c.body, fillerBody(r, 1 << 20), c.body]);
      expect(JSON.stringify(current.find(body)), c.label).toBe(
        JSON.stringify(reference.find(body)),
      );
    }
  });

  it('the matcher scans as before on dense texts (small alphabets, many hits and near misses)', () => {
    const r = rng(7);
    for (let round = 0; round < 150; round++) {
      const alphabet = pick(r, ['ab', 'abC+ ', 'abcd', 'xyzXYZ01', ALNUM]);
      const sources = Array.from({ length: 1 + int(r, 30) }, () => {
        const bytes = Buffer.from(token(r, 1 + int(r, 60), alphabet));
        return { bytes, window: pick(r, [1, 3, 5, 8, 9, 12, 16, 24, 70]) };
      });
      const current = compileMatcher(sources);
      const reference = compileReferenceMatcher(sources);
      for (let t = 0; t < 5; t++) {
        let text = token(r, int(r, 3000), alphabet);
        for (let k = int(r, 4); k > 0; k--) {
          const at = int(r, text.length + 1);
          text = text.slice(0, at) + pick(r, sources).bytes.toString('latin1') + text.slice(at);
        }
        const bytes = Buffer.from(text, 'latin1');
        const want: number[] = [];
        const got: number[] = [];
        reference.scan(bytes, want);
        current.scan(bytes, got);
        expect(got, `round ${round} text ${t}`).toEqual(want);
      }
    }
  });

  it('base64 and hex runs and views as before (digits, gaps and other bytes mixed densely)', () => {
    const r = rng(11);
    const alphabets = [
      'ab\n:',
      'A0f-\r\n :x',
      'abcdef0123\n',
      ALNUM + '+/=_-\r\n :"',
      'Zz9\n\n\n\n\n ',
      'aF3- :',
    ];
    for (let round = 0; round < 3000; round++) {
      const alphabet = pick(r, alphabets);
      // Stretches of one alphabet between stretches of another: long and short runs.
      let text = '';
      const length = r() < 0.5 ? int(r, 60) : int(r, 1500);
      while (text.length < length) {
        text += token(r, int(r, 80), r() < 0.5 ? alphabet : pick(r, alphabets));
      }
      const bytes = Buffer.from(text, 'latin1');
      const minChars = pick(r, [2, 3, 7, 8, 9, 11, 16, 17, 24, 27, 40]);
      const want = referenceViews.base64Runs(referenceViews.sourceView(bytes), minChars);
      const got = views.base64Runs(views.sourceView(bytes), minChars);
      expect(got, `round ${round}, base64 runs`).toEqual(want);
      const bytesOf = (list: { bytes: Uint8Array }[]) => list.map((v) => Buffer.from(v.bytes));
      expect(
        bytesOf(views.base64Views(views.sourceView(bytes), minChars, got)),
        `round ${round}, base64 views`,
      ).toEqual(
        bytesOf(referenceViews.base64Views(referenceViews.sourceView(bytes), minChars, want)),
      );
      const hexGot = views.hexViews(views.sourceView(bytes), minChars);
      const hexWant = referenceViews.hexViews(referenceViews.sourceView(bytes), minChars);
      expect(bytesOf(hexGot), `round ${round}, hex views`).toEqual(bytesOf(hexWant));
      // And each view maps back to the same source spans.
      for (const [g, w] of [
        ...views
          .base64Views(views.sourceView(bytes), minChars, got)
          .map(
            (v, k) =>
              [
                v,
                referenceViews.base64Views(referenceViews.sourceView(bytes), minChars, want)[k]!,
              ] as const,
          ),
        ...hexGot.map((v, k) => [v, hexWant[k]!] as const),
      ]) {
        for (let t = 0; t < 5 && g.bytes.length > 0; t++) {
          const from = int(r, g.bytes.length);
          const to = from + 1 + int(r, g.bytes.length - from);
          expect(g.toSource(from, to)).toEqual(w.toSource(from, to));
        }
      }
    }
  });
});
