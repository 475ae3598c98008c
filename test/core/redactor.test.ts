import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createRedactStream } from '../../src/core/redact-stream.js';
import { createRedactor, PLACEHOLDER, redactAll } from '../../src/core/redactor.js';

const R = PLACEHOLDER;

type Needle = string | Uint8Array;

/** Streams `chunks` through a fresh redactor and returns everything it emitted. */
function stream(
  chunks: readonly Uint8Array[],
  needles: readonly Needle[],
): {
  output: Buffer;
  count: number;
} {
  const redactor = createRedactor(needles);
  const parts = chunks.map((chunk) => redactor.push(chunk));
  parts.push(redactor.end());
  return { output: Buffer.concat(parts), count: redactor.count };
}

/** The needles (as bytes) that still occur in `output`. */
function survivors(output: Buffer, needles: readonly Needle[]): string[] {
  return needles
    .map((n) => Buffer.from(n))
    .filter((n) => n.length > 0 && output.includes(n))
    .map((n) => n.toString('utf8'));
}

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

describe('redactAll', () => {
  it.each<{ name: string; text: string; needles: Needle[]; expected: string; count: number }>([
    {
      name: 'single needle',
      text: 'token=abc123;',
      needles: ['abc123'],
      expected: `token=${R};`,
      count: 1,
    },
    {
      name: 'needle absent',
      text: 'nothing here',
      needles: ['abc123'],
      expected: 'nothing here',
      count: 0,
    },
    { name: 'empty text', text: '', needles: ['abc'], expected: '', count: 0 },
    {
      name: 'several needles, several times',
      text: 'a=s3cr3t b=t0k3n c=s3cr3t',
      needles: ['s3cr3t', 't0k3n'],
      expected: `a=${R} b=${R} c=${R}`,
      count: 3,
    },
    {
      name: 'needle at the start',
      text: 'secret and more',
      needles: ['secret'],
      expected: `${R} and more`,
      count: 1,
    },
    {
      name: 'needle at the end',
      text: 'more and secret',
      needles: ['secret'],
      expected: `more and ${R}`,
      count: 1,
    },
    {
      name: 'text is exactly the needle',
      text: 'secret',
      needles: ['secret'],
      expected: R,
      count: 1,
    },
    {
      name: 'adjacent occurrences',
      text: 'abcabcabc',
      needles: ['abc'],
      expected: `${R}${R}${R}`,
      count: 3,
    },
    {
      name: 'adjacent different needles',
      text: 'xxyy',
      needles: ['xx', 'yy'],
      expected: `${R}${R}`,
      count: 2,
    },
    { name: 'self-overlapping needle', text: 'aaa', needles: ['aa'], expected: `${R}a`, count: 1 },
    {
      name: 'self-overlapping needle, even run',
      text: 'aaaa',
      needles: ['aa'],
      expected: `${R}${R}`,
      count: 2,
    },
    {
      name: 'overlapping needles: leftmost wins',
      text: '-abcd-',
      needles: ['bcd', 'abc'],
      expected: `-${R}d-`,
      count: 1,
    },
    {
      name: 'overlapping needles: leftmost wins even when shorter',
      text: 'xabcdefy',
      needles: ['bcdef', 'abc'],
      expected: `x${R}defy`,
      count: 1,
    },
    {
      name: 'prefix needle: longest wins at the same start',
      text: 'pw=password123',
      needles: ['pass', 'password'],
      expected: `pw=${R}123`,
      count: 1,
    },
    {
      name: 'prefix needle: longest wins whatever the order',
      text: 'pw=password123',
      needles: ['password', 'pass'],
      expected: `pw=${R}123`,
      count: 1,
    },
    {
      name: 'prefix needle: the short one still matches alone',
      text: 'pass, password, passw',
      needles: ['pass', 'password'],
      expected: `${R}, ${R}, ${R}w`,
      count: 3,
    },
    {
      name: 'suffix needle',
      text: 'password',
      needles: ['word', 'password'],
      expected: R,
      count: 1,
    },
    {
      name: 'needle inside another needle',
      text: 'abcde bcd',
      needles: ['bcd', 'abcde'],
      expected: `${R} ${R}`,
      count: 2,
    },
    { name: 'empty needle ignored', text: 'abc', needles: ['', 'b'], expected: `a${R}c`, count: 1 },
    {
      name: 'only empty needles',
      text: 'abc',
      needles: ['', new Uint8Array(0)],
      expected: 'abc',
      count: 0,
    },
    { name: 'no needles', text: 'abc', needles: [], expected: 'abc', count: 0 },
    {
      name: 'duplicate needles',
      text: 'k1 k1',
      needles: ['k1', 'k1', Buffer.from('k1')],
      expected: `${R} ${R}`,
      count: 2,
    },
    {
      name: 'non-ASCII UTF-8 needle',
      text: 'pässwörd=Ünïcødé✓ done',
      needles: ['Ünïcødé✓'],
      expected: `pässwörd=${R} done`,
      count: 1,
    },
    {
      name: 'emoji needle',
      text: 'key 🔑🔐 end',
      needles: ['🔑🔐'],
      expected: `key ${R} end`,
      count: 1,
    },
    {
      name: 'composed and decomposed forms are different bytes',
      text: 'caf\u00e9 cafe\u0301',
      needles: ['caf\u00e9'],
      expected: `${R} cafe\u0301`,
      count: 1,
    },
    {
      name: 'case-sensitive',
      text: 'Secret secret',
      needles: ['secret'],
      expected: `Secret ${R}`,
      count: 1,
    },
    { name: 'one-byte needle', text: 'a-b-c', needles: ['-'], expected: `a${R}b${R}c`, count: 2 },
    {
      name: 'binary needle with NUL and 0xff',
      text: 'x\u0000\u00ffy',
      needles: [Buffer.from('\u0000\u00ffy', 'utf8')],
      expected: `x${R}`,
      count: 1,
    },
  ])('$name', ({ text, needles, expected, count }) => {
    const result = redactAll(text, needles);
    expect(result.output.toString('utf8')).toBe(expected);
    expect(result.count).toBe(count);
  });

  it('uses a custom placeholder when given one', () => {
    const result = redactAll('a secret b secret', ['secret'], '***');
    expect(result.output.toString()).toBe('a *** b ***');
    expect(result.count).toBe(2);
  });

  it('does not re-scan the placeholder it inserted', () => {
    const result = redactAll('XsecretX', ['secret', 'REDACTED'], '[REDACTED]');
    expect(result.output.toString()).toBe('X[REDACTED]X');
    expect(result.count).toBe(1);
  });

  it('accepts bytes as input and matches bytes that are not valid UTF-8', () => {
    const data = Buffer.from([0x41, 0xc3, 0x28, 0xff, 0x42]);
    const result = redactAll(data, [Buffer.from([0xc3, 0x28, 0xff])], '_');
    expect(result.output.equals(Buffer.from('A_B'))).toBe(true);
  });
});

describe('createRedactor', () => {
  it('passes text through immediately when there are no needles', () => {
    const redactor = createRedactor([]);
    expect(redactor.push(Buffer.from('hello')).toString()).toBe('hello');
    expect(redactor.end()).toHaveLength(0);
    expect(redactor.count).toBe(0);
  });

  it('holds back no more than the longest needle minus one byte', () => {
    const redactor = createRedactor(['a-needle-of-16-b', 'short']);
    const text = Buffer.from('x'.repeat(1000));
    const first = redactor.push(text);
    expect(first.length).toBeGreaterThanOrEqual(1000 - 15);
    expect(Buffer.concat([first, redactor.end()]).equals(text)).toBe(true);
  });

  it('emits a match as soon as every longer candidate is ruled out', () => {
    const redactor = createRedactor(['abc']);
    expect(redactor.push(Buffer.from('--abc')).toString()).toBe(`--${R}`);
    expect(redactor.count).toBe(1);
  });

  it('redacts a needle split across pushes', () => {
    const redactor = createRedactor(['secret']);
    const out = [
      redactor.push(Buffer.from('a sec')),
      redactor.push(Buffer.from('ret b')),
      redactor.end(),
    ];
    expect(Buffer.concat(out).toString()).toBe(`a ${R} b`);
    expect(redactor.count).toBe(1);
  });

  it('accepts empty chunks', () => {
    const redactor = createRedactor(['secret']);
    const out = [
      redactor.push(new Uint8Array(0)),
      redactor.push(Buffer.from('secr')),
      redactor.push(new Uint8Array(0)),
      redactor.push(Buffer.from('et')),
      redactor.end(),
    ];
    expect(Buffer.concat(out).toString()).toBe(R);
  });

  it('does not retain the caller’s chunk buffer', () => {
    const redactor = createRedactor(['secret']);
    const chunk = Buffer.from('xx sec');
    const first = redactor.push(chunk);
    chunk.fill(0x7a); // the caller reuses its buffer
    const out = Buffer.concat([first, redactor.push(Buffer.from('ret')), redactor.end()]);
    expect(out.toString()).toBe(`xx ${R}`);
  });
});

describe('chunk safety', () => {
  const CASES: { name: string; text: string; needles: Needle[] }[] = [
    {
      name: 'one needle',
      text: 'Authorization: Bearer sk_live_123456 ok',
      needles: ['sk_live_123456'],
    },
    {
      name: 'prefix needles',
      text: 'pass password passwor password1 pass',
      needles: ['pass', 'password', 'password1'],
    },
    { name: 'overlapping needles', text: 'abcdabcdbcd', needles: ['abc', 'bcd', 'cda'] },
    { name: 'self-overlapping runs', text: 'aaaaaaaabaaab', needles: ['aa', 'aaab'] },
    { name: 'adjacent occurrences', text: 'tokentokentoken', needles: ['token'] },
    {
      name: 'multi-byte UTF-8',
      text: 'x=Ünïcødé✓ y=🔑🔐 z=Ünï',
      needles: ['Ünïcødé✓', '🔑🔐', 'Ünï'],
    },
    { name: 'needle at both ends', text: 'T0PS3CR3T middle T0PS3CR3T', needles: ['T0PS3CR3T'] },
  ];

  function check(chunks: Uint8Array[], text: string, needles: Needle[]): void {
    const whole = redactAll(text, needles);
    const streamed = stream(chunks, needles);
    expect(streamed.output.toString('hex')).toBe(whole.output.toString('hex'));
    expect(streamed.count).toBe(whole.count);
    expect(survivors(streamed.output, needles)).toEqual([]);
  }

  it.each(CASES)('$name: every split into two chunks matches redactAll', ({ text, needles }) => {
    const bytes = Buffer.from(text);
    for (let i = 0; i <= bytes.length; i++) {
      check([bytes.subarray(0, i), bytes.subarray(i)], text, needles);
    }
  });

  it.each(CASES)('$name: every split into three chunks matches redactAll', ({ text, needles }) => {
    const bytes = Buffer.from(text);
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        check([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)], text, needles);
      }
    }
  });

  it.each(CASES)('$name: one-byte chunks match redactAll', ({ text, needles }) => {
    const bytes = Buffer.from(text);
    const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    check(chunks, text, needles);
  });

  it('agrees with redactAll on random needles and random chunking (seeded)', () => {
    const random = prng(0x5eed);
    const int = (n: number): number => Math.floor(random() * n);
    // A small alphabet forces overlaps and prefixes; é and 🔑 add multi-byte characters.
    // None of it occurs in the placeholder, so any needle left in the output is a leak.
    const alphabet = ['a', 'b', 'c', 'é', '🔑', '\u0000'];
    const word = (length: number): string =>
      Array.from({ length }, () => alphabet[int(alphabet.length)]).join('');
    let redactions = 0;
    for (let round = 0; round < 400; round++) {
      const needles: string[] = [];
      const needleCount = 1 + int(4);
      for (let k = 0; k < needleCount; k++) needles.push(word(1 + int(6)));
      // Prefixes of another needle, so that "longest at the same start" is exercised.
      if (random() < 0.6) {
        const base = needles[int(needles.length)]!;
        needles.push(base.slice(0, Math.max(1, int(base.length))));
      }
      if (random() < 0.3) needles.push(word(1 + int(3)) + needles[0]!);
      if (random() < 0.1) needles.push('');
      let text = '';
      const pieces = int(12);
      for (let k = 0; k < pieces; k++) {
        text += random() < 0.5 ? needles[int(needles.length)]! : word(int(5));
      }
      const bytes = Buffer.from(text);
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length;) {
        const size = int(8); // includes empty chunks
        chunks.push(bytes.subarray(at, at + size));
        at += size;
      }
      const whole = redactAll(bytes, needles);
      const streamed = stream(chunks, needles);
      const context = JSON.stringify({ round, needles, text, sizes: chunks.map((c) => c.length) });
      expect(streamed.output.toString('hex'), context).toBe(whole.output.toString('hex'));
      expect(streamed.count, context).toBe(whole.count);
      expect(survivors(streamed.output, needles), context).toEqual([]);
      expect(survivors(whole.output, needles), context).toEqual([]);
      redactions += whole.count;
    }
    // The generator really produced matches to redact.
    expect(redactions).toBeGreaterThan(400);
  });
});

describe('createRedactStream', () => {
  async function pipe(
    chunks: readonly (string | Buffer)[],
    needles: Needle[],
    placeholder?: string,
  ) {
    const redact = createRedactStream(needles, placeholder);
    const out: Buffer[] = [];
    redact.on('data', (chunk: Buffer) => out.push(chunk));
    for (const chunk of chunks) redact.write(chunk);
    redact.end();
    await once(redact, 'end');
    return { output: Buffer.concat(out).toString('utf8'), redactions: redact.redactions };
  }

  it('redacts needles written in separate chunks, across boundaries, and counts them', async () => {
    const secret = 'sk_live_0123456789abcdef';
    const text = `{"key":"${secret}","again":"${secret}","other":"tok_XYZ"}`;
    const chunks = text.match(/.{1,5}/gs)!;
    const result = await pipe(chunks, [secret, 'tok_XYZ']);
    expect(result.output).toBe(`{"key":"${R}","again":"${R}","other":"${R}"}`);
    expect(result.output).not.toContain(secret);
    expect(result.redactions).toBe(3);
  });

  it('works inside a pipeline, with a needle spread over many chunks', async () => {
    const secret = 'ghp_0123456789abcdefghijklmnopqrstuvwxyz';
    const body = Buffer.from(`token: ${secret}\nagain: ${secret}\n`.repeat(50));
    const chunks = Array.from({ length: Math.ceil(body.length / 7) }, (_, i) =>
      body.subarray(i * 7, i * 7 + 7),
    );
    const redact = createRedactStream([secret]);
    const out: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    });
    await pipeline(Readable.from(chunks), redact, sink);
    const output = Buffer.concat(out).toString('utf8');
    expect(output).toBe(`token: ${R}\nagain: ${R}\n`.repeat(50));
    expect(output).not.toContain(secret);
    expect(redact.redactions).toBe(100);
  });

  it('flushes the held-back tail at the end', async () => {
    const result = await pipe(['hello sec', 're'], ['secret']);
    expect(result.output).toBe('hello secre');
    expect(result.redactions).toBe(0);
  });

  it('splits a multi-byte needle between chunks', async () => {
    const needle = Buffer.from('pässwörd');
    const result = await pipe(
      [needle.subarray(0, 2), needle.subarray(2, 7), needle.subarray(7)],
      ['pässwörd'],
    );
    expect(result.output).toBe(R);
    expect(result.redactions).toBe(1);
  });

  it('uses a custom placeholder', async () => {
    const result = await pipe(['a=xyz', 'zy b'], ['xyzzy'], '<hidden>');
    expect(result.output).toBe('a=<hidden> b');
    expect(result.redactions).toBe(1);
  });

  it('passes data through untouched when there is nothing to redact', async () => {
    const result = await pipe(['line 1\n', 'line 2\n'], ['absent']);
    expect(result.output).toBe('line 1\nline 2\n');
    expect(result.redactions).toBe(0);
  });

  it('ends cleanly with no input', async () => {
    const result = await pipe([], ['secret']);
    expect(result.output).toBe('');
    expect(result.redactions).toBe(0);
  });
});

describe('line release', () => {
  it('releases a complete line at once when no needle contains a newline', () => {
    const redactor = createRedactor(['SECRETVALUE']);
    // Without the rule the last 10 bytes would wait for more input.
    expect(redactor.push(Buffer.from('{"jsonrpc":"2.0","id":1}\n')).toString()).toBe(
      '{"jsonrpc":"2.0","id":1}\n',
    );
    // A partial line keeps back only what could still start the needle.
    expect(redactor.push(Buffer.from('token SECRET')).toString()).toBe('to');
    expect(redactor.push(Buffer.from('VALUE done\n')).toString()).toBe(
      'ken [REDACTED_BY_AGENTSECRETS] done\n',
    );
  });

  it('still holds back across a newline when a needle spans lines', () => {
    const redactor = createRedactor(['BEGIN\nKEY']);
    const first = redactor.push(Buffer.from('xx BEGIN\n'));
    const rest = Buffer.concat([redactor.push(Buffer.from('KEY yy\n')), redactor.end()]);
    expect(Buffer.concat([first, rest]).toString()).toBe('xx [REDACTED_BY_AGENTSECRETS] yy\n');
  });
});
