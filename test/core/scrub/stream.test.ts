import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { compileScrubber, PLACEHOLDER as R } from '../../../src/core/scrub/scrubber.js';
import {
  createScrubState,
  createScrubStream,
  HOLDBACK,
  scrubWhole,
} from '../../../src/core/scrub/stream.js';

async function pipe(chunks: readonly (string | Buffer)[], values: string[]) {
  const scrub = createScrubStream(compileScrubber(values));
  const out: Buffer[] = [];
  scrub.on('data', (chunk: Buffer) => out.push(chunk));
  for (const chunk of chunks) scrub.write(chunk);
  scrub.end();
  await once(scrub, 'end');
  return { output: Buffer.concat(out).toString('utf8'), redactions: scrub.redactions };
}

describe('createScrubStream', () => {
  it('scrubs values written in separate chunks, across boundaries, and counts them', async () => {
    const secret = 'sk_live_0123456789abcdef';
    const other = 'tok_XYZ_other_value_123';
    const text = `{"key":"${secret}","again":"${secret}","other":"${other}"}`;
    const result = await pipe(text.match(/.{1,5}/gs)!, [secret, other]);
    expect(result.output).toBe(`{"key":"${R}","again":"${R}","other":"${R}"}`);
    expect(result.redactions).toBe(3);
  });

  it('works inside a pipeline, with a value spread over many chunks', async () => {
    const secret = 'ghp_0123456789abcdefghijklmnopqrstuvwxyz';
    const body = Buffer.from(`token: ${secret}\nagain: ${secret}\n`.repeat(50));
    const chunks = Array.from({ length: Math.ceil(body.length / 7) }, (_, i) =>
      body.subarray(i * 7, i * 7 + 7),
    );
    const scrub = createScrubStream(compileScrubber([secret]));
    const out: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    });
    await pipeline(Readable.from(chunks), scrub, sink);
    expect(Buffer.concat(out).toString('utf8')).toBe(`token: ${R}\nagain: ${R}\n`.repeat(50));
    expect(scrub.redactions).toBe(100);
  });

  it('splits a multi-byte value between chunks', async () => {
    const value = 'pässwörd-länger-als-zwölf';
    const bytes = Buffer.from(value);
    const result = await pipe(
      [bytes.subarray(0, 2), bytes.subarray(2, 7), bytes.subarray(7)],
      [value],
    );
    expect(result.output).toBe(R);
  });

  it('passes data through untouched when there is nothing to scrub, and ends cleanly empty', async () => {
    expect(await pipe(['line 1\n', 'line 2\n'], ['absent-value-xyz-123'])).toEqual({
      output: 'line 1\nline 2\n',
      redactions: 0,
    });
    expect(await pipe([], ['absent-value-xyz-123'])).toEqual({ output: '', redactions: 0 });
  });

  it('fails once more than maxBytes came in', async () => {
    const scrub = createScrubStream(compileScrubber(['absent-value-xyz-123']), {
      maxBytes: 10,
      tooLarge: () => new Error('too large'),
    });
    const done = once(scrub, 'error');
    scrub.write('0123456789abc');
    const [err] = (await done) as [Error];
    expect(err.message).toBe('too large');
  });

  it('holds back only HOLDBACK bytes of a long body', () => {
    const state = createScrubState(compileScrubber(['absent-value-xyz-123']));
    const out = state.push(Buffer.alloc(HOLDBACK * 4, 0x61));
    expect(out.length).toBe(HOLDBACK * 3);
    expect(state.end().length).toBe(HOLDBACK);
  });
});

describe('line release (program output)', () => {
  it('releases a complete line at once, and holds a partial one', () => {
    const state = createScrubState(compileScrubber(['SECRETVALUE-0123']), { lines: true });
    expect(state.push(Buffer.from('{"jsonrpc":"2.0","id":1}\n')).toString()).toBe(
      '{"jsonrpc":"2.0","id":1}\n',
    );
    expect(state.push(Buffer.from('token SECRET')).toString()).toBe('');
    expect(state.push(Buffer.from('VALUE-0123 done\n')).toString()).toBe(`token ${R} done\n`);
  });

  it('holds back lines that could continue a wrapped base64 value', () => {
    const value = 'wrapped-secret-value-0123456789';
    const wrapped = Buffer.from(`prefix ${value} suffix text`)
      .toString('base64')
      .replace(/(.{12})/g, '$1\n');
    const state = createScrubState(compileScrubber([value]), { lines: true });
    const lines = wrapped.split('\n');
    let out = '';
    for (const line of lines) out += state.push(Buffer.from(`${line}\n`)).toString();
    out += state.end().toString();
    // The attack: scrubbed a line at a time (no hold), every line passes unchanged.
    expect(Buffer.from(wrapped.replace(/\n/g, ''), 'base64').toString()).toContain(value);
    const scrubber = compileScrubber([value]);
    expect(lines.map((line) => scrubber.redact(line).count)).toEqual(lines.map(() => 0));
    expect(out).toContain(R);
    expect(
      Buffer.from(out.replace(/\n/g, '').split(R).join(''), 'base64').toString(),
    ).not.toContain(value.slice(0, 12));
  });
});

describe('scrubWhole (the proxy’s small whole answers)', () => {
  // scrubWhole must give exactly what a scrub state gives for a body pushed in one chunk and
  // ended, wherever it answers at all; elsewhere it must decline (undefined).
  const secret = 'sk_live_whole_0123456789abcdef';
  const pair = 'user_name_1234:pa55word_whole_987';
  const scrubber = compileScrubber([secret, pair]);
  const forms = (value: string): string[] => {
    const b64 = Buffer.from(value).toString('base64');
    return [
      value,
      encodeURIComponent(value),
      JSON.stringify({ v: value }),
      b64,
      b64.replace(/=+$/, ''),
      Buffer.from(value).toString('base64url'),
      Buffer.from(value).toString('hex'),
      value.slice(0, 14),
      value.split('').join('\\u0000'),
      `%${Buffer.from(value).toString('hex').match(/../g)!.join('%')}`,
      value.replace(/_/g, '&#95;'),
    ];
  };
  const bodies: Buffer[] = [Buffer.alloc(0), Buffer.from('{"ok":true}')];
  for (const value of [secret, pair, pair.split(':')[1]!]) {
    for (const form of forms(value)) {
      for (const pad of [0, 1, 700, 1000, 2 * HOLDBACK - form.length - 40, 2 * HOLDBACK]) {
        bodies.push(Buffer.from(`{"a":"${'x'.repeat(Math.max(0, pad))}","b":"${form}"}`));
      }
    }
  }
  bodies.push(Buffer.from(secret, 'utf16le'), Buffer.from(`\ufeff${secret}`, 'utf16le'));

  function byState(body: Buffer, options: Parameters<typeof createScrubState>[1]) {
    const state = createScrubState(scrubber, options);
    const first = state.push(body);
    const last = state.end();
    return { bytes: Buffer.concat([first, last]), count: state.count };
  }

  it('gives the bytes and count of a state fed the body in one push, or declines', () => {
    let compared = 0;
    let redacted = 0;
    for (const body of bodies) {
      for (const options of [{}, { hints: { utf16: 'le' as const } }, { lines: false }]) {
        const whole = scrubWhole(scrubber, body, options);
        if (body.length >= 2 * HOLDBACK) {
          expect(whole).toBeUndefined();
          continue;
        }
        const reference = byState(body, options);
        expect(whole).toBeDefined();
        expect(whole!.bytes.equals(reference.bytes)).toBe(true);
        expect(whole!.count).toBe(reference.count);
        compared++;
        if (reference.count > 0) redacted++;
      }
    }
    // Control: most rows held a value the state found, so the comparison is not vacuous.
    expect(compared).toBeGreaterThan(150);
    expect(redacted).toBeGreaterThan(100);
  });

  it('declines where a state would scan more than once: line release, or two HOLDBACKs', () => {
    const lines = Buffer.from(`data: ${secret}\n\ndata: more\n`);
    expect(scrubWhole(scrubber, lines, { lines: true })).toBeUndefined();
    expect(scrubWhole(scrubber, Buffer.alloc(2 * HOLDBACK, 0x61))).toBeUndefined();
  });

  it('hands back the body itself when nothing is found (no copy), and with no values', () => {
    const body = Buffer.from('{"nothing":"here at all"}');
    expect(scrubWhole(scrubber, body)!.bytes).toBe(body);
    expect(scrubWhole(compileScrubber([]), Buffer.from(secret))).toEqual({
      bytes: Buffer.from(secret),
      count: 0,
    });
  });
});
