import { describe, expect, it } from 'vitest';
import { printable } from '../../src/sync/api.js';

/** The one sanitiser for server-provided text on its way to a terminal (F9). */
describe('printable', () => {
  it.each([
    ['plain text is kept', 'acme web-team ü', 'acme web-team ü'],
    ['a screen clear', 'a\u001b[2Jb', 'a?[2Jb'],
    ['a title change with BEL', '\u001b]0;pwned\u0007', '?]0;pwned?'],
    ['an 8-bit CSI', 'x\u009b31m', 'x?31m'],
    ['a carriage return that overwrites the line', 'ok\rEVIL', 'ok?EVIL'],
    ['a right-to-left override', 'gpj.\u202eexe', 'gpj.?exe'],
    ['zero-width joiners', 'ad\u200dmin', 'ad?min'],
    ['not a string', 42, '42'],
  ])('%s', (_label, input, output) => {
    expect(printable(input)).toBe(output);
  });
});
