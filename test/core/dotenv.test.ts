import { describe, expect, it } from 'vitest';
import { parseDotenv } from '../../src/core/dotenv.js';
import { canary } from '../helpers/canary.js';

type Entry = { key: string; value: string; line: number };

describe('parseDotenv: well-formed input', () => {
  it.each<{ name: string; text: string; entries: Entry[] }>([
    { name: 'plain', text: 'KEY=value', entries: [{ key: 'KEY', value: 'value', line: 1 }] },
    { name: 'empty file', text: '', entries: [] },
    { name: 'trailing newline', text: 'A=1\n', entries: [{ key: 'A', value: '1', line: 1 }] },
    {
      name: 'lower-case and underscore keys',
      text: '_private=1\nmixed_Case9=2',
      entries: [
        { key: '_private', value: '1', line: 1 },
        { key: 'mixed_Case9', value: '2', line: 2 },
      ],
    },
    {
      name: 'export prefix',
      text: 'export KEY=value',
      entries: [{ key: 'KEY', value: 'value', line: 1 }],
    },
    {
      name: 'export prefix with extra spaces',
      text: '  export   KEY=value',
      entries: [{ key: 'KEY', value: 'value', line: 1 }],
    },
    {
      name: 'a key named export',
      text: 'export=value',
      entries: [{ key: 'export', value: 'value', line: 1 }],
    },
    {
      name: 'comment lines, indented too',
      text: '# comment\nA=1\n   # indented comment\n#B=2',
      entries: [{ key: 'A', value: '1', line: 2 }],
    },
    {
      name: 'blank and whitespace-only lines keep line numbers',
      text: '\n\nA=1\n   \n\t\nB=2\n\n',
      entries: [
        { key: 'A', value: '1', line: 3 },
        { key: 'B', value: '2', line: 6 },
      ],
    },
    {
      name: 'CRLF line endings',
      text: 'A=1\r\nB="two"\r\nC=\'three\'\r\n',
      entries: [
        { key: 'A', value: '1', line: 1 },
        { key: 'B', value: 'two', line: 2 },
        { key: 'C', value: 'three', line: 3 },
      ],
    },
    {
      name: 'byte order mark',
      text: '\uFEFFA=1\nB=2',
      entries: [
        { key: 'A', value: '1', line: 1 },
        { key: 'B', value: '2', line: 2 },
      ],
    },
    {
      name: 'single quotes are literal: no escapes, no expansion',
      text: 'A=\'line\\nnext $HOME \\t \\\\ "q"\'',
      entries: [{ key: 'A', value: 'line\\nnext $HOME \\t \\\\ "q"', line: 1 }],
    },
    {
      name: 'double quotes with \\n \\r \\t \\" \\\\ escapes',
      text: 'A="l1\\nl2\\r\\tt \\"q\\" back\\\\slash"',
      entries: [{ key: 'A', value: 'l1\nl2\r\tt "q" back\\slash', line: 1 }],
    },
    {
      name: 'escaped backslash before the closing double quote',
      text: 'A="ends with \\\\"\nB=2',
      entries: [
        { key: 'A', value: 'ends with \\', line: 1 },
        { key: 'B', value: '2', line: 2 },
      ],
    },
    {
      name: 'unknown escape in double quotes is kept',
      text: 'A="a\\qb"',
      entries: [{ key: 'A', value: 'a\\qb', line: 1 }],
    },
    {
      name: 'multi-line double-quoted value',
      text: 'A="-----BEGIN KEY-----\nMIIB\n-----END KEY-----"\nB=after',
      entries: [
        { key: 'A', value: '-----BEGIN KEY-----\nMIIB\n-----END KEY-----', line: 1 },
        { key: 'B', value: 'after', line: 4 },
      ],
    },
    {
      name: 'multi-line double-quoted value with CRLF',
      text: 'A="one\r\ntwo"\r\nB=x',
      entries: [
        { key: 'A', value: 'one\ntwo', line: 1 },
        { key: 'B', value: 'x', line: 3 },
      ],
    },
    {
      name: 'inline comment after an unquoted value',
      text: 'A=value # the comment\nB=v2\t# tab comment',
      entries: [
        { key: 'A', value: 'value', line: 1 },
        { key: 'B', value: 'v2', line: 2 },
      ],
    },
    {
      name: '# without whitespace before it is part of an unquoted value',
      text: 'A=abc#def\nCOLOR=#ff0000',
      entries: [
        { key: 'A', value: 'abc#def', line: 1 },
        { key: 'COLOR', value: '#ff0000', line: 2 },
      ],
    },
    {
      name: '# inside quotes is kept',
      text: 'A="x # y"\nB=\'p # q\'',
      entries: [
        { key: 'A', value: 'x # y', line: 1 },
        { key: 'B', value: 'p # q', line: 2 },
      ],
    },
    {
      name: 'comment after a quoted value',
      text: 'A="x" # comment\nB=\'y\'   # comment',
      entries: [
        { key: 'A', value: 'x', line: 1 },
        { key: 'B', value: 'y', line: 2 },
      ],
    },
    {
      name: '= inside the value is kept',
      text: 'A=b=c==\nURL=https://x.test/?a=1&b=2',
      entries: [
        { key: 'A', value: 'b=c==', line: 1 },
        { key: 'URL', value: 'https://x.test/?a=1&b=2', line: 2 },
      ],
    },
    {
      name: 'whitespace around key and value is trimmed',
      text: '  KEY  =   value  \n\tTAB\t=\tv\t',
      entries: [
        { key: 'KEY', value: 'value', line: 1 },
        { key: 'TAB', value: 'v', line: 2 },
      ],
    },
    {
      name: 'whitespace inside quotes is kept',
      text: 'A="  padded  "\nB=\'  x \'',
      entries: [
        { key: 'A', value: '  padded  ', line: 1 },
        { key: 'B', value: '  x ', line: 2 },
      ],
    },
    {
      name: 'inner spaces of an unquoted value are kept',
      text: 'A=hello   world',
      entries: [{ key: 'A', value: 'hello   world', line: 1 }],
    },
    {
      name: 'duplicate keys: both entries, in order',
      text: 'A=first\nB=x\nA=second',
      entries: [
        { key: 'A', value: 'first', line: 1 },
        { key: 'B', value: 'x', line: 2 },
        { key: 'A', value: 'second', line: 3 },
      ],
    },
    {
      name: 'empty values',
      text: 'A=\nB=""\nC=\'\'\nD=   ',
      entries: [
        { key: 'A', value: '', line: 1 },
        { key: 'B', value: '', line: 2 },
        { key: 'C', value: '', line: 3 },
        { key: 'D', value: '', line: 4 },
      ],
    },
    {
      name: 'empty value followed by a comment',
      text: 'A= # fill me in\nB=2',
      entries: [
        { key: 'A', value: '', line: 1 },
        { key: 'B', value: '2', line: 2 },
      ],
    },
    {
      name: 'non-ASCII value',
      text: 'GREETING=grüße ✓ 🔑',
      entries: [{ key: 'GREETING', value: 'grüße ✓ 🔑', line: 1 }],
    },
    {
      name: 'quote characters inside an unquoted value',
      text: 'A=it\'s "fine"',
      entries: [{ key: 'A', value: 'it\'s "fine"', line: 1 }],
    },
  ])('$name', ({ text, entries }) => {
    const result = parseDotenv(text);
    expect(result.problems).toEqual([]);
    expect(result.entries).toEqual(entries);
  });
});

describe('parseDotenv: malformed lines', () => {
  // Each row puts a malformed line (holding the canary value) among good lines, so the row
  // also checks that parsing goes on and that line numbers stay right around it.
  it.each<{ name: string; bad: (secret: string) => string; reason: string }>([
    { name: 'no = sign', bad: (s) => s, reason: 'no = sign' },
    { name: 'export without =', bad: (s) => `export ${s}`, reason: 'no = sign' },
    { name: 'key starting with a digit', bad: (s) => `1BAD=${s}`, reason: 'invalid key name' },
    { name: 'key with a dash', bad: (s) => `BAD-KEY=${s}`, reason: 'invalid key name' },
    { name: 'key with a dot', bad: (s) => `BAD.KEY=${s}`, reason: 'invalid key name' },
    { name: 'key with a space', bad: (s) => `BAD KEY=${s}`, reason: 'invalid key name' },
    { name: 'empty key', bad: (s) => `=${s}`, reason: 'invalid key name' },
    {
      name: 'key longer than 256',
      bad: (s) => `${'K'.repeat(257)}=${s}`,
      reason: 'invalid key name',
    },
    { name: 'value pasted as the key', bad: (s) => `${s}-x=1`, reason: 'invalid key name' },
    {
      name: 'unterminated single quote',
      bad: (s) => `BAD='${s}`,
      reason: 'unterminated single quote',
    },
    {
      name: 'unterminated double quote',
      bad: (s) => `BAD="${s}`,
      reason: 'unterminated double quote',
    },
    {
      name: 'text after a closing double quote',
      bad: (s) => `BAD="${s}" trailing`,
      reason: 'text after the closing quote',
    },
    {
      name: 'text after a closing single quote',
      bad: (s) => `BAD='${s}'${s}`,
      reason: 'text after the closing quote',
    },
  ])('$name', ({ bad, reason }) => {
    const secret = canary('sekret');
    const text = ['# header', 'BEFORE=1', '', bad(secret), 'AFTER=2', 'export LAST=3'].join('\n');
    const result = parseDotenv(text);
    expect(result.problems).toEqual([{ line: 4, reason }]);
    expect(result.entries).toEqual([
      { key: 'BEFORE', value: '1', line: 2 },
      { key: 'AFTER', value: '2', line: 5 },
      { key: 'LAST', value: '3', line: 6 },
    ]);
    expect(JSON.stringify(result.problems)).not.toContain(secret);
    expect(JSON.stringify(result.problems)).not.toContain('sekret');
  });

  it('reports every malformed line by its own number and keeps the rest', () => {
    const secret = canary('sekret');
    const text = [
      'A=1', // 1
      `NOEQUALS${secret}`, // 2
      `MULTI="${secret}`, // 3
      'still inside', // 4
      'the value"', // 5
      `1BAD=${secret}`, // 6
      'B=2', // 7
      `C='${secret}`, // 8
      `D="${secret}" oops`, // 9
      'E=3 # ok', // 10
    ].join('\r\n');
    const result = parseDotenv(text);
    expect(result.problems).toEqual([
      { line: 2, reason: 'no = sign' },
      { line: 6, reason: 'invalid key name' },
      { line: 8, reason: 'unterminated single quote' },
      { line: 9, reason: 'text after the closing quote' },
    ]);
    expect(result.entries).toEqual([
      { key: 'A', value: '1', line: 1 },
      { key: 'MULTI', value: `${secret}\nstill inside\nthe value`, line: 3 },
      { key: 'B', value: '2', line: 7 },
      { key: 'E', value: '3', line: 10 },
    ]);
    expect(JSON.stringify(result.problems)).not.toContain(secret);
  });

  it('parses the lines after an unterminated double quote', () => {
    const secret = canary('sekret');
    const result = parseDotenv(`A=1\nBAD="${secret}\nB=2\nC=3`);
    expect(result.problems).toEqual([{ line: 2, reason: 'unterminated double quote' }]);
    expect(result.entries.map((e) => [e.key, e.value, e.line])).toEqual([
      ['A', '1', 1],
      ['B', '2', 3],
      ['C', '3', 4],
    ]);
    expect(JSON.stringify(result.problems)).not.toContain(secret);
  });

  it('skips every line of a multi-line value with text after its closing quote', () => {
    const secret = canary('sekret');
    const result = parseDotenv(`BAD="${secret}\n${secret}" junk\nB=2`);
    expect(result.problems).toEqual([{ line: 1, reason: 'text after the closing quote' }]);
    expect(result.entries).toEqual([{ key: 'B', value: '2', line: 3 }]);
    expect(JSON.stringify(result.problems)).not.toContain(secret);
  });

  it('numbers lines after a multi-line value by their place in the file', () => {
    const result = parseDotenv('A="1\n2\n3"\nNOPE\nB=x');
    expect(result.problems).toEqual([{ line: 4, reason: 'no = sign' }]);
    expect(result.entries).toEqual([
      { key: 'A', value: '1\n2\n3', line: 1 },
      { key: 'B', value: 'x', line: 5 },
    ]);
  });
});
