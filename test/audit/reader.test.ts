import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { linesBackward } from '../../src/audit/reader.js';
import { tempDir } from '../helpers/tmp.js';

async function collect(path: string, options: Parameters<typeof linesBackward>[1]) {
  const out: string[] = [];
  for await (const line of linesBackward(path, options)) out.push(line);
  return out;
}

describe('linesBackward', () => {
  // Lines of uneven length read in small chunks put every byte of a line, including its
  // newline, at the start of some chunk: the case that once searched from the end again.
  const lines = Array.from(
    { length: 60 },
    (_, i) => `{"n":${i},"agent_id":"${i % 7 === 3 ? 'rare' : 'a'.repeat(i % 5)}"}`,
  );

  for (const chunkSize of [1, 2, 3, 5, 7, 16, 31, 64, 4096]) {
    it(`yields every line once, newest first, with ${chunkSize}-byte reads`, async () => {
      const dir = await tempDir();
      const path = join(dir, 'seg');
      await writeFile(path, lines.map((l) => `${l}\n`).join(''));
      expect(await collect(path, { chunkSize })).toEqual([...lines].reverse());
      expect(await collect(path, { chunkSize, prefilter: ['"agent_id":"rare"'] })).toEqual(
        lines.filter((l) => l.includes('"rare"')).reverse(),
      );
      expect(
        await collect(path, { chunkSize, prefilter: ['"agent_id":"rare"', '"n":10'] }),
      ).toEqual(['{"n":10,"agent_id":"rare"}']);
    });
  }

  it('yields a last line without its newline, and nothing for an empty file', async () => {
    const dir = await tempDir();
    const path = join(dir, 'seg');
    await writeFile(path, 'one\ntwo\nthree');
    expect(await collect(path, { chunkSize: 2 })).toEqual(['three', 'two', 'one']);
    await writeFile(path, '');
    expect(await collect(path, {})).toEqual([]);
    expect(await collect(join(dir, 'missing'), {})).toEqual([]);
  });
});
