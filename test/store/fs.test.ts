import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  DIR_MODE,
  ensurePrivateDir,
  FILE_MODE,
  isErrno,
  isProcessAlive,
  removeOrphanedTempFiles,
  writeFileAtomic,
} from '../../src/store/fs.js';
import { tempDir } from '../helpers/tmp.js';
import { deadPid } from './processes.js';

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

describe('writeFileAtomic', () => {
  it('creates a 0600 file with the content and leaves no temporary file', async () => {
    const dir = await tempDir();
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, '{"a":1}\n');
    expect(await readFile(path, 'utf8')).toBe('{"a":1}\n');
    expect(await modeOf(path)).toBe(0o600);
    expect(FILE_MODE).toBe(0o600);
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('writes bytes exactly', async () => {
    const dir = await tempDir();
    const path = join(dir, 'blob');
    const bytes = new Uint8Array([0, 255, 1, 254, 10, 13]);
    await writeFileAtomic(path, bytes);
    expect((await readFile(path)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('replaces an existing file, and its loose mode, in one step', async () => {
    const dir = await tempDir();
    const path = join(dir, 'state.json');
    await writeFile(path, 'old content that is longer than the new one');
    await chmod(path, 0o644);
    await writeFileAtomic(path, 'new');
    expect(await readFile(path, 'utf8')).toBe('new');
    expect(await modeOf(path)).toBe(0o600);
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('leaves only complete versions under many concurrent writers', async () => {
    const dir = await tempDir();
    const path = join(dir, 'state.json');
    const versions = Array.from({ length: 20 }, (_, i) =>
      JSON.stringify({ i, pad: 'x'.repeat(5000) }),
    );
    await Promise.all(versions.map((v) => writeFileAtomic(path, v)));
    expect(versions).toContain(await readFile(path, 'utf8'));
    expect(await readdir(dir)).toEqual(['state.json']);
  });

  it('fails when the folder does not exist, creating nothing', async () => {
    const dir = await tempDir();
    await expect(writeFileAtomic(join(dir, 'missing', 'state.json'), 'x')).rejects.toSatisfy(
      (err: unknown) => isErrno(err, 'ENOENT'),
    );
    expect(await readdir(dir)).toEqual([]);
  });

  it('removes its temporary file when the rename fails', async () => {
    const dir = await tempDir();
    // Renaming a file over a non-empty folder fails.
    await mkdir(join(dir, 'target', 'inside'), { recursive: true });
    await expect(writeFileAtomic(join(dir, 'target'), 'x')).rejects.toThrow();
    expect(await readdir(dir)).toEqual(['target']);
  });
});

describe('ensurePrivateDir', () => {
  it('creates nested folders, the last with mode 0700', async () => {
    const dir = join(await tempDir(), 'a', 'b', 'c');
    await ensurePrivateDir(dir);
    expect((await stat(dir)).isDirectory()).toBe(true);
    expect(await modeOf(dir)).toBe(0o700);
    expect(DIR_MODE).toBe(0o700);
  });

  it('tightens an existing 0755 folder to 0700', async () => {
    const dir = join(await tempDir(), 'state');
    await mkdir(dir);
    await chmod(dir, 0o755);
    expect(await modeOf(dir)).toBe(0o755);
    await ensurePrivateDir(dir);
    expect(await modeOf(dir)).toBe(0o700);
  });

  it('keeps what the folder holds and can run twice', async () => {
    const dir = join(await tempDir(), 'state');
    await ensurePrivateDir(dir);
    await writeFile(join(dir, 'keep'), 'k');
    await ensurePrivateDir(dir);
    expect(await readFile(join(dir, 'keep'), 'utf8')).toBe('k');
    expect(await modeOf(dir)).toBe(0o700);
  });
});

describe('removeOrphanedTempFiles', () => {
  it('removes temp files of dead writers and keeps everything else', async () => {
    const dir = await tempDir();
    const path = join(dir, 'state.json');
    const dead = deadPid();
    const files = {
      document: 'state.json',
      deadWriter: `.state.json.${dead}.0123456789ab.tmp`,
      deadWriterHex: `.state.json.${dead}.a1b2c3d4e5f6.tmp`,
      liveWriter: `.state.json.${process.pid}.0123456789ab.tmp`,
      otherDocument: `.other.json.${dead}.0123456789ab.tmp`,
      // A sibling document `state.json.7` must not look like a writer of `state.json`.
      siblingDocument: `.state.json.7.${dead}.0123456789ab.tmp`,
      notOurShape: `.state.json.${dead}.x.tmp`,
      notAPid: `.state.json.notapid.0123456789ab.tmp`,
      zeroPid: `.state.json.0.0123456789ab.tmp`,
      notTmp: `.state.json.${dead}.x.bak`,
      lock: 'state.json.lock',
    };
    for (const name of Object.values(files)) await writeFile(join(dir, name), 'x');
    await removeOrphanedTempFiles(path);
    const left = new Set(await readdir(dir));
    expect(left.has(files.deadWriter)).toBe(false);
    expect(left.has(files.deadWriterHex)).toBe(false);
    for (const kept of [
      files.document,
      files.liveWriter,
      files.otherDocument,
      files.siblingDocument,
      files.notOurShape,
      files.notAPid,
      files.zeroPid,
      files.notTmp,
      files.lock,
    ]) {
      expect(left.has(kept), kept).toBe(true);
    }
  });

  it('does nothing when the folder does not exist', async () => {
    const dir = await tempDir();
    await expect(
      removeOrphanedTempFiles(join(dir, 'missing', 'state.json')),
    ).resolves.toBeUndefined();
  });
});

describe('isProcessAlive / isErrno', () => {
  it('tells a live pid from a dead one', () => {
    expect(isProcessAlive(process.pid)).toBe(true);
    expect(isProcessAlive(deadPid())).toBe(false);
  });

  it.each<{ name: string; err: unknown; codes: string[]; expected: boolean }>([
    {
      name: 'matching code',
      err: Object.assign(new Error('x'), { code: 'ENOENT' }),
      codes: ['ENOENT'],
      expected: true,
    },
    {
      name: 'one of several codes',
      err: { code: 'EPERM' },
      codes: ['EINVAL', 'EPERM'],
      expected: true,
    },
    { name: 'other code', err: { code: 'EEXIST' }, codes: ['ENOENT'], expected: false },
    { name: 'no codes given', err: { code: 'ENOENT' }, codes: [], expected: false },
    { name: 'numeric code', err: { code: 2 }, codes: ['2'], expected: false },
    { name: 'no code', err: new Error('ENOENT'), codes: ['ENOENT'], expected: false },
    { name: 'null', err: null, codes: ['ENOENT'], expected: false },
    { name: 'a string', err: 'ENOENT', codes: ['ENOENT'], expected: false },
  ])('isErrno: $name', ({ err, codes, expected }) => {
    expect(isErrno(err, ...codes)).toBe(expected);
  });
});
