// The cached document store without a stat per read (issue 17): the folder is watched, a
// change by any process is seen from the change notice on, and a stat runs only after a
// notice or once per `revalidateMs` (the fallback for a lost notice).
import { spawn } from 'node:child_process';
import { linkSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createDocumentStore } from '../../src/store/document.js';
import { tempDir } from '../helpers/tmp.js';

interface Doc {
  version: number;
  pad?: string;
}

const parse = (raw: unknown) => raw as Doc;
const HOUR = 3_600_000;

async function docIn(): Promise<{ dir: string; path: string }> {
  const dir = join(await tempDir(), 'state');
  await mkdir(dir, { recursive: true });
  const path = join(dir, 'doc.json');
  await writeFile(path, JSON.stringify({ version: 1 }));
  return { dir, path };
}

/** Reads until `version` shows (or gives up after 10 s); the versions seen on the way. */
async function readUntil(read: () => Promise<Doc | undefined>, version: number) {
  const seen: (number | undefined)[] = [];
  for (let waited = 0; waited < 10_000; waited += 20) {
    const doc = await read();
    seen.push(doc?.version);
    if (doc?.version === version) return seen;
    await sleep(20);
  }
  return seen;
}

describe('document store: watched cache', () => {
  it('sees a file replaced by another process from its change notice, without waiting for the periodic check', async () => {
    const { path } = await docIn();
    const store = createDocumentStore({ path, parse, cache: true, revalidateMs: HOUR });
    expect((await store.read())?.version).toBe(1);
    expect((await store.read())?.version).toBe(1);
    // Another process replaces the file the way every writer does (atomic rename).
    const storeModule = pathToFileURL(join(process.cwd(), 'dist/src/store/fs.js')).href;
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const { writeFileAtomic } = await import(${JSON.stringify(storeModule)});
           await writeFileAtomic(${JSON.stringify(path)}, JSON.stringify({ version: 2 }));`,
        ],
        { stdio: 'inherit' },
      );
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
    });
    // The periodic check is an hour away, so only the notice can make the change visible.
    const seen = await readUntil(() => store.read(), 2);
    expect(seen.at(-1)).toBe(2);
  });

  it('does no file-system work per read while nothing is reported: a change the folder watch cannot see waits for the periodic check', async () => {
    const { dir, path } = await docIn();
    // A second name for the same file in another folder: writing through it changes the
    // file's size and mtime (a stat would see that at once) but raises no notice in `dir`.
    const elsewhere = join(dir, '..', 'elsewhere');
    await mkdir(elsewhere);
    const alias = join(elsewhere, 'doc.json');
    linkSync(path, alias);

    const watched = createDocumentStore({ path, parse, cache: true, revalidateMs: HOUR });
    expect((await watched.read())?.version).toBe(1);
    writeFileSync(alias, JSON.stringify({ version: 2, pad: 'grown' }));
    // The change is on disk: a store without a cache sees it.
    const uncached = createDocumentStore({ path, parse });
    expect((await uncached.read())?.version).toBe(2);
    // The watched store keeps its copy: it made no stat on these reads.
    for (let i = 0; i < 20; i++) {
      expect((await watched.read())?.version).toBe(1);
      await sleep(10);
    }

    // The fallback: with a short revalidation interval, a stat after it finds the change.
    const fallback = createDocumentStore({ path, parse, cache: true, revalidateMs: 50 });
    expect((await fallback.read())?.version).toBe(2);
    writeFileSync(alias, JSON.stringify({ version: 3, pad: 'grown again' }));
    const seen = await readUntil(() => fallback.read(), 3);
    expect(seen.at(-1)).toBe(3);
  });

  it("sees its own process's write at once, in every store of the file", async () => {
    const { path } = await docIn();
    const writer = createDocumentStore({ path, parse, cache: true, revalidateMs: HOUR });
    const reader = createDocumentStore({ path, parse, cache: true, revalidateMs: HOUR });
    expect((await writer.read())?.version).toBe(1);
    expect((await reader.read())?.version).toBe(1);
    await writer.update(() => ({ version: 2 }));
    // No turn of the event loop in between: the notice from the OS may not have come yet.
    expect((await writer.read())?.version).toBe(2);
    expect((await reader.read())?.version).toBe(2);
  });

  it('sees a file that appears after a read found none, and one that goes away', async () => {
    const { dir } = await docIn();
    const path = join(dir, 'later.json');
    const store = createDocumentStore({ path, parse, cache: true, revalidateMs: HOUR });
    expect(await store.read()).toBeUndefined();
    await writeFile(path, JSON.stringify({ version: 7 }));
    expect((await readUntil(() => store.read(), 7)).at(-1)).toBe(7);
    const { rm } = await import('node:fs/promises');
    await rm(path);
    const seen: (Doc | undefined)[] = [];
    for (let waited = 0; waited < 10_000; waited += 20) {
      const doc = await store.read();
      seen.push(doc);
      if (doc === undefined) break;
      await sleep(20);
    }
    expect(seen.at(-1)).toBeUndefined();
  });
});
