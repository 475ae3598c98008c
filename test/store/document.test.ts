import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { AgentSecretsError } from '../../src/core/errors.js';
import { createDocumentStore } from '../../src/store/document.js';
import { canary } from '../helpers/canary.js';
import { tempDir } from '../helpers/tmp.js';
import { deadPid } from './processes.js';

interface Counter {
  counter: number;
  note?: string;
}

function parseCounter(raw: unknown): Counter {
  if (typeof raw !== 'object' || raw === null || typeof (raw as Counter).counter !== 'number') {
    throw new Error(`not a counter: ${JSON.stringify(raw)}`);
  }
  return raw as Counter;
}

async function storeIn(dir?: string) {
  const base = dir ?? (await tempDir());
  const path = join(base, 'state', 'counter.json');
  return {
    dir: join(base, 'state'),
    path,
    store: createDocumentStore({ path, parse: parseCounter }),
  };
}

async function rejection(promise: Promise<unknown>): Promise<AgentSecretsError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AgentSecretsError);
  return err as AgentSecretsError;
}

describe('createDocumentStore', () => {
  it('reads undefined when the file does not exist', async () => {
    const { store, path } = await storeIn();
    expect(store.path).toBe(path);
    await expect(store.read()).resolves.toBeUndefined();
  });

  it('passes undefined to update() when the file does not exist, then writes the result', async () => {
    const { store, path, dir } = await storeIn();
    const seen: (Counter | undefined)[] = [];
    const written = await store.update((current) => {
      seen.push(current);
      return { counter: 1 };
    });
    expect(seen).toEqual([undefined]);
    expect(written).toEqual({ counter: 1 });
    await expect(store.read()).resolves.toEqual({ counter: 1 });
    expect(await readFile(path, 'utf8')).toBe('{\n  "counter": 1\n}\n');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(await readdir(dir)).toEqual(['counter.json']);
  });

  it('gives update() the current document and awaits an async fn', async () => {
    const { store } = await storeIn();
    await store.update(() => ({ counter: 1 }));
    const seen: (Counter | undefined)[] = [];
    await store.update(async (current) => {
      seen.push(current);
      await new Promise((resolve) => setImmediate(resolve));
      return { counter: current!.counter + 1 };
    });
    expect(seen).toEqual([{ counter: 1 }]);
    await expect(store.read()).resolves.toEqual({ counter: 2 });
  });

  it('tightens an existing 0755 state folder to 0700 on update', async () => {
    const base = await tempDir();
    await mkdir(join(base, 'state'));
    await chmod(join(base, 'state'), 0o755);
    const { store, dir } = await storeIn(base);
    await store.update(() => ({ counter: 0 }));
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('uses a custom serialiser', async () => {
    const base = await tempDir();
    const path = join(base, 'doc.json');
    const store = createDocumentStore<Counter>({
      path,
      parse: parseCounter,
      serialize: (doc) => JSON.stringify(doc),
    });
    await store.update(() => ({ counter: 5 }));
    expect(await readFile(path, 'utf8')).toBe('{"counter":5}');
    await expect(store.read()).resolves.toEqual({ counter: 5 });
  });

  it('serialises concurrent updates in one process', async () => {
    const { store } = await storeIn();
    await Promise.all(
      Array.from({ length: 25 }, () =>
        store.update((current) => ({ counter: (current?.counter ?? 0) + 1 })),
      ),
    );
    await expect(store.read()).resolves.toEqual({ counter: 25 });
  });

  it('leaves the document and the lock alone when fn throws', async () => {
    const { store, path, dir } = await storeIn();
    await store.update(() => ({ counter: 7 }));
    const before = await readFile(path, 'utf8');
    const boom = new Error('boom');
    await expect(
      store.update(() => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(await readFile(path, 'utf8')).toBe(before);
    expect(await readdir(dir)).toEqual(['counter.json']);
  });

  it('removes temp files left by dead writers when it updates', async () => {
    const { store, dir } = await storeIn();
    await store.update(() => ({ counter: 1 }));
    const orphan = `.counter.json.${deadPid()}.abcdef012345.tmp`;
    const live = `.counter.json.${process.pid}.abcdef012345.tmp`;
    await writeFile(join(dir, orphan), '{"counter": 999');
    await writeFile(join(dir, live), '{"counter": 998');
    await store.update((current) => ({ counter: current!.counter + 1 }));
    expect((await readdir(dir)).sort()).toEqual([live, 'counter.json'].sort());
    await expect(store.read()).resolves.toEqual({ counter: 2 });
  });

  describe('damaged documents give corrupt_state without quoting the file', () => {
    it.each<{ name: string; content: (secret: string) => string }>([
      { name: 'truncated JSON', content: (s) => `{"counter": 1, "token": "${s}"` },
      { name: 'not JSON at all', content: (s) => `token=${s}\n` },
      { name: 'JSON with a trailing comma', content: (s) => `{"token": "${s}",}` },
      { name: 'empty file', content: () => '' },
      { name: 'valid JSON that parse() rejects', content: (s) => JSON.stringify({ token: s }) },
      { name: 'a JSON string that parse() rejects', content: (s) => JSON.stringify(s) },
      { name: 'JSON null', content: () => 'null' },
    ])('$name', async ({ content }) => {
      const { store, path, dir } = await storeIn();
      const secret = canary('TOKEN');
      await mkdir(dir, { recursive: true });
      await writeFile(path, content(secret));

      const readErr = await rejection(store.read());
      expect(readErr.code).toBe('corrupt_state');
      expect(readErr.message).toContain(path);
      expect(readErr.message).not.toContain(secret);
      expect(readErr.stack).not.toContain(secret);

      let called = false;
      const updateErr = await rejection(
        store.update(() => {
          called = true;
          return { counter: 0 };
        }),
      );
      expect(updateErr.code).toBe('corrupt_state');
      expect(updateErr.message).not.toContain(secret);
      expect(called).toBe(false);
      // The damaged file is left for the user to inspect, and the lock is released.
      expect(await readFile(path, 'utf8')).toBe(content(secret));
      expect(await readdir(dir)).toEqual(['counter.json']);
    });

    it('keeps the parse error as the cause', async () => {
      const { store, path, dir } = await storeIn();
      await mkdir(dir, { recursive: true });
      await writeFile(path, '{"counter":"one"}');
      const err = await rejection(store.read());
      expect(err.code).toBe('corrupt_state');
      expect(err.cause).toBeInstanceOf(Error);
      expect((err.cause as Error).message).toMatch(/^not a counter/);
    });
  });
});

describe('createDocumentStore across processes', () => {
  const ROOT = fileURLToPath(new URL('../../', import.meta.url));
  const BUILT = join(ROOT, 'dist', 'src', 'store', 'document.js');

  beforeAll(() => {
    if (!existsSync(BUILT)) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
  });

  function run(script: string, args: string[]): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [script, ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stderr }));
    });
  }

  it('loses no increment when 4 processes each update 100 times', async () => {
    const work = await tempDir();
    const script = join(work, 'worker.mjs');
    await writeFile(
      script,
      [
        `import { createDocumentStore } from ${JSON.stringify(pathToFileURL(BUILT).href)};`,
        'const [path, id, times] = process.argv.slice(2);',
        'const store = createDocumentStore({',
        '  path,',
        '  parse: (raw) => raw,',
        // Generous: under load a waiter must not give up before the others finish.
        '  lock: { timeoutMs: 120000 },',
        '});',
        'for (let i = 0; i < Number(times); i++) {',
        '  await store.update((doc) => {',
        '    const next = doc ?? { counter: 0, byWorker: {} };',
        '    next.counter += 1;',
        '    next.byWorker[id] = (next.byWorker[id] ?? 0) + 1;',
        '    return next;',
        '  });',
        '}',
      ].join('\n'),
    );
    const dir = join(work, 'state');
    const path = join(dir, 'shared.json');
    const results = await Promise.all(
      ['w0', 'w1', 'w2', 'w3'].map((id) => run(script, [path, id, '100'])),
    );
    for (const result of results) expect(result).toEqual({ code: 0, stderr: '' });

    const doc = JSON.parse(await readFile(path, 'utf8')) as {
      counter: number;
      byWorker: Record<string, number>;
    };
    expect(doc.counter).toBe(400);
    expect(doc.byWorker).toEqual({ w0: 100, w1: 100, w2: 100, w3: 100 });
    // No temp file, lock file or take-over marker is left behind.
    expect(await readdir(dir)).toEqual(['shared.json']);
  });
});
