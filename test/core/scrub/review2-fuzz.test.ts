import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compileScrubber, type Scrubber } from '../../../src/core/scrub/scrubber.js';
import { createScrubState } from '../../../src/core/scrub/stream.js';
import { compileScrubber as compileReference } from '../scrub-reference/scrubber.js';
import { compileMatcher } from '../../../src/core/scrub/matcher.js';
import { compileMatcher as compileReferenceMatcher } from '../scrub-reference/matcher.js';
import * as views from '../../../src/core/scrub/views.js';
import * as referenceViews from '../scrub-reference/views.js';

const ITER = Number(process.env.FUZZ_ITER ?? '1');
const SEED = Number(process.env.FUZZ_SEED ?? '1');

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
const token = (r: Rand, n: number, alphabet: string) =>
  Array.from({ length: n }, () => alphabet[int(r, alphabet.length)]).join('');
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const ALPHABETS = ['a', 'ab', 'aA', 'aA+ ', 'abab+', 'xyz01', 'AAAAB', ALNUM, ALNUM + '+/=-_:%&\\'];

function value(r: Rand): string {
  const len = pick(r, [4, 5, 6, 7, 8, 8, 9, 10, 11, 12, 13, 15, 16, 17, 20, 24, 33, 64]);
  switch (int(r, 5)) {
    case 0:
      return token(r, len, pick(r, ALPHABETS));
    case 1: {
      // repeated unit
      const unit = token(r, 1 + int(r, 4), pick(r, ALPHABETS));
      return unit.repeat(Math.ceil(len / unit.length)).slice(0, len);
    }
    case 2:
      return token(r, len, ALNUM);
    case 3:
      return `${token(r, 4 + int(r, 8), ALNUM)}:${token(r, 4 + int(r, 12), ALNUM)}`;
    default:
      return token(r, len, 'é漢aB+/ ');
  }
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const wrap = (text: string, width: number, eol: string) =>
  text.match(new RegExp(`.{1,${width}}`, 'gs'))?.join(eol) ?? text;

const ENC: ((r: Rand, v: string) => string | Buffer)[] = [
  (_r, v) => v,
  (_r, v) => v.toUpperCase(),
  (_r, v) => encodeURIComponent(v),
  (_r, v) => JSON.stringify(v).slice(1, -1),
  (_r, v) => v.replace(/[\s\S]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')),
  (_r, v) => b64(v),
  (_r, v) => b64(v).replace(/=+$/, ''),
  (_r, v) => Buffer.from(v).toString('base64url'),
  (r, v) => b64(token(r, 1 + int(r, 2), ALNUM) + v),
  (r, v) => b64(token(r, int(r, 70), ALNUM) + v + token(r, int(r, 70), ALNUM)),
  (r, v) =>
    wrap(
      b64(token(r, int(r, 5), ALNUM) + v),
      pick(r, [1, 2, 3, 4, 5, 8, 60, 64, 76]),
      pick(r, ['\n', '\r\n', '\n\n\n\n', '\r\n\r\n']),
    ),
  (r, v) => wrap(b64(v), pick(r, [4, 8, 16]), pick(r, ['\\n', '\\r\\n'])),
  (_r, v) => Buffer.from(v).toString('hex'),
  (_r, v) => Buffer.from(v).toString('hex').toUpperCase(),
  (r, v) =>
    [...Buffer.from(v).toString('hex')].map((c) => (r() < 0.5 ? c.toUpperCase() : c)).join(''),
  (r, v) =>
    Buffer.from(v)
      .toString('hex')
      .match(/../g)!
      .join(pick(r, [':', '-', ' ', '\n', '\r\n', ' : ', '-- '])),
  (r, v) =>
    Buffer.from(v)
      .toString('hex')
      .match(/./g)!
      .join(pick(r, [':', ' ', '\n'])),
  (_r, v) => '\\x' + Buffer.from(v).toString('hex'),
  (_r, v) => Buffer.from(v, 'utf16le'),
  (_r, v) => Buffer.from(Buffer.from(v, 'utf16le')).swap16(),
  (_r, v) => b64(gzipSync(Buffer.from(v))),
  (r, v) => wrap(b64(gzipSync(Buffer.from(`x ${v} y`))), pick(r, [60, 64, 76]), '\n'),
  (_r, v) => [...Buffer.from(v)].map((b) => '%' + b.toString(16).padStart(2, '0')).join(''),
  (_r, v) => [...v].map((c) => `&#${c.codePointAt(0)};`).join(''),
  // escapes spaced so stretches between them are 63/64/65 bytes
  (r, v) => {
    const pad = token(r, pick(r, [62, 63, 64, 65, 66, 127, 128, 129]), ALNUM);
    return `\\n${pad}\\n${v}\\t${pad}\\u0041`;
  },
  (r, v) => `${'\\/'.repeat(int(r, 3))}${token(r, pick(r, [63, 64, 65]), ALNUM)}${v}`,
];

function encode(r: Rand, v: string): Buffer {
  let out: string | Buffer = v;
  if (r() < 0.2) {
    const from = int(r, Math.max(1, v.length - 4));
    out = v.slice(from, from + 4 + int(r, 16));
  }
  const layers = 1 + int(r, 3);
  for (let l = 0; l < layers; l++) {
    out = pick(r, ENC)(r, typeof out === 'string' ? out : out.toString('latin1'));
  }
  return typeof out === 'string' ? Buffer.from(out, 'utf8') : out;
}

function filler(r: Rand, n: number): Buffer {
  const alphabet = pick(r, [
    ALNUM,
    ALNUM + '+/=',
    'abcdef0123456789',
    'ABCDEF0123456789:- \n',
    ALNUM + '\n\r',
    ' "{}:,',
    '\\nu0%&#;',
    'aA+ ',
  ]);
  if (r() < 0.1) return Buffer.from(Array.from({ length: n }, () => int(r, 256)));
  return Buffer.from(token(r, n, alphabet), 'latin1');
}

function body(r: Rand, values: string[]): Buffer {
  const parts: Buffer[] = [];
  const pieces = int(r, 6);
  for (let k = 0; k < pieces; k++) {
    if (r() < 0.7) parts.push(filler(r, pick(r, [0, 0, 1, 2, 3, 5, 20, 63, 64, 65, 200, 1500])));
    parts.push(encode(r, pick(r, values)));
  }
  if (r() < 0.5) parts.push(filler(r, int(r, 40)));
  return Buffer.concat(parts);
}

function streamed(s: Scrubber, b: Buffer, cuts: number[], lines: boolean): Buffer {
  const state = createScrubState(s, { lines });
  const out: Buffer[] = [];
  let at = 0;
  for (const cut of cuts) {
    out.push(state.push(b.subarray(at, cut)));
    at = cut;
  }
  out.push(state.push(b.subarray(at)));
  out.push(state.end());
  return Buffer.concat(out);
}

const fails: string[] = [];
function record(kind: string, detail: object): void {
  fails.push(`${kind} ${JSON.stringify(detail)}`);
}

describe('review2 fuzz', () => {
  it('scrubber find/redact/stream vs reference (short and mixed values)', () => {
    fails.length = 0;
    const r = rng(SEED);
    for (let round = 0; round < 40 * ITER; round++) {
      const count = pick(r, [1, 1, 2, 3, 8, 30]);
      const values = Array.from({ length: count }, () => value(r));
      const window = pick(r, [8, 8, 9, 12, 16]);
      const cur = compileScrubber(values, { window });
      const ref = compileReference(values, { window });
      for (let t = 0; t < 25; t++) {
        const b = body(r, values);
        const want = ref.find(b);
        const got = cur.find(b);
        if (JSON.stringify(want) !== JSON.stringify(got)) {
          record('find', { values, window, body: b.toString('base64'), want, got });
          continue;
        }
        if (t % 5 === 0) {
          const cuts: number[] = [];
          for (let at = int(r, 300); at < b.length; at += 1 + int(r, pick(r, [3, 50, 1100, 2100])))
            cuts.push(at);
          const lines = r() < 0.3;
          const w = streamed(ref, b, cuts, lines);
          const g = streamed(cur, b, cuts, lines);
          if (!w.equals(g))
            record('stream', { values, window, body: b.toString('base64'), cuts, lines });
        }
      }
    }
    expect(fails.slice(0, 5)).toEqual([]);
  }, 3_600_000);

  it('scrubber: 1,000 values of mixed lengths', () => {
    fails.length = 0;
    const r = rng(SEED + 100);
    for (let round = 0; round < 2 * ITER; round++) {
      const values = Array.from({ length: 1000 }, () => value(r));
      const cur = compileScrubber(values);
      const ref = compileReference(values);
      for (let t = 0; t < 20; t++) {
        const b = body(r, values);
        const want = ref.find(b);
        const got = cur.find(b);
        if (JSON.stringify(want) !== JSON.stringify(got))
          record('find1000', { round, t, want, got });
      }
    }
    expect(fails.slice(0, 5)).toEqual([]);
  }, 3_600_000);

  it('matcher scan vs reference', () => {
    fails.length = 0;
    const r = rng(SEED + 200);
    for (let round = 0; round < 300 * ITER; round++) {
      const alphabet = pick(r, ALPHABETS);
      const sources = Array.from({ length: pick(r, [1, 2, 5, 40, 400]) }, () => ({
        bytes: Buffer.from(
          token(r, pick(r, [4, 7, 8, 9, 10, 11, 12, 16, 23, 64]) + int(r, 3), alphabet),
          'latin1',
        ),
        window: pick(r, [4, 7, 8, 9, 10, 12, 16, 1000]),
      }));
      const cur = compileMatcher(sources);
      const ref = compileReferenceMatcher(sources);
      for (let t = 0; t < 5; t++) {
        let text = token(r, int(r, 200), alphabet);
        for (let k = int(r, 5); k > 0; k--) {
          const at = r() < 0.3 ? 0 : r() < 0.3 ? text.length : int(r, text.length + 1);
          const s = pick(r, sources).bytes.toString('latin1');
          const piece = r() < 0.5 ? s : s.toUpperCase();
          text = text.slice(0, at) + piece + text.slice(at);
        }
        const bytes = Buffer.from(text, 'latin1');
        for (const sub of [
          bytes,
          bytes.subarray(int(r, 3)),
          bytes.subarray(0, Math.max(0, bytes.length - int(r, 3))),
        ]) {
          const want: number[] = [];
          const got: number[] = [];
          ref.scan(sub, want);
          cur.scan(sub, got);
          if (JSON.stringify(want) !== JSON.stringify(got))
            record('scan', {
              sources: sources.map((s) => [s.bytes.toString('latin1'), s.window]),
              text: sub.toString('latin1'),
              want,
              got,
            });
        }
      }
    }
    expect(fails.slice(0, 5)).toEqual([]);
  }, 3_600_000);

  it('runs and views vs reference', () => {
    fails.length = 0;
    const r = rng(SEED + 300);
    const alphabets = [
      'aB\n',
      'a-_+/',
      'A0f-\r\n :x',
      '0f\n\n\n\n\n.',
      ALNUM + '=',
      'aF3- :',
      'Zz\r\n!',
      'a:',
    ];
    for (let round = 0; round < 3000 * ITER; round++) {
      let text = '';
      const length = int(r, pick(r, [20, 80, 300]));
      while (text.length < length) text += token(r, int(r, 40), pick(r, alphabets));
      const bytes = Buffer.from(text, 'latin1');
      const minChars = 2 + int(r, 40);
      const want = referenceViews.base64Runs(referenceViews.sourceView(bytes), minChars);
      const got = views.base64Runs(views.sourceView(bytes), minChars);
      if (JSON.stringify(got) !== JSON.stringify(want)) record('runs', { text, minChars });
      const gv = views.base64Views(views.sourceView(bytes), minChars, got);
      const wv = referenceViews.base64Views(referenceViews.sourceView(bytes), minChars, want);
      const hg = views.hexViews(views.sourceView(bytes), minChars);
      const hw = referenceViews.hexViews(referenceViews.sourceView(bytes), minChars);
      const all = [
        ...gv.map((v, k) => [v, wv[k]] as const),
        ...hg.map((v, k) => [v, hw[k]] as const),
      ];
      if (gv.length !== wv.length || hg.length !== hw.length)
        record('viewcount', { text, minChars });
      for (const [g, w] of all) {
        if (w === undefined || !Buffer.from(g.bytes).equals(Buffer.from(w.bytes))) {
          record('viewbytes', { text, minChars });
          continue;
        }
        for (let from = 0; from < g.bytes.length; from++) {
          const to = from + 1 + int(r, g.bytes.length - from);
          if (JSON.stringify(g.toSource(from, to)) !== JSON.stringify(w.toSource(from, to)))
            record('toSource', { text, minChars, from, to });
        }
      }
      // unescape views (short-copy boundary)
      const u = views.unescapeView(views.sourceView(bytes));
      const uw = referenceViews.unescapeView(referenceViews.sourceView(bytes));
      if (
        (u === null) !== (uw === null) ||
        (u && uw && !Buffer.from(u.view.bytes).equals(Buffer.from(uw.view.bytes)))
      )
        record('unescape', { text });
    }
    expect(fails.slice(0, 5)).toEqual([]);
  }, 3_600_000);
});
