import { readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AgentSecretsError } from '../../src/core/errors.js';
import { withFileLock } from '../../src/store/lock.js';
import { tempDir } from '../helpers/tmp.js';
import { deadPid } from './processes.js';

async function lockPathIn(): Promise<{ dir: string; lockPath: string }> {
  const dir = await tempDir();
  return { dir, lockPath: join(dir, 'state.json.lock') };
}

/** Sets a file's modification time `ageMs` into the past. */
async function age(path: string, ageMs: number): Promise<void> {
  const then = new Date(Date.now() - ageMs);
  await utimes(path, then, then);
}

describe('withFileLock', () => {
  it('runs fn, returns its result, and removes the lock file', async () => {
    const { dir, lockPath } = await lockPathIn();
    let during: string | undefined;
    const result = await withFileLock(lockPath, async () => {
      during = await readFile(lockPath, 'utf8');
      return 42;
    });
    expect(result).toBe(42);
    expect(JSON.parse(during!)).toMatchObject({ pid: process.pid, host: hostname() });
    expect(await readdir(dir)).toEqual([]);
  });

  it('releases the lock when fn throws, and passes the error on', async () => {
    const { dir, lockPath } = await lockPathIn();
    const boom = new Error('boom');
    await expect(withFileLock(lockPath, () => Promise.reject(boom))).rejects.toBe(boom);
    expect(await readdir(dir)).toEqual([]);
    await expect(withFileLock(lockPath, async () => 'again')).resolves.toBe('again');
  });

  it('lets only one holder in at a time', async () => {
    const { dir, lockPath } = await lockPathIn();
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        withFileLock(lockPath, async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await new Promise((resolve) => setImmediate(resolve));
          order.push(i);
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect([...order].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('does not remove a lock that someone else now holds', async () => {
    const { lockPath } = await lockPathIn();
    const other = JSON.stringify({ pid: process.pid, host: hostname(), nonce: 'someone-else' });
    await withFileLock(lockPath, async () => {
      // A misbehaving party replaced our lock file while we held it.
      await writeFile(lockPath, other);
    });
    expect(await readFile(lockPath, 'utf8')).toBe(other);
  });

  describe('takes over a stale lock', () => {
    it.each<{ name: string; content: () => string; ageMs: number; staleMs?: number }>([
      {
        name: 'left by a dead pid on this host',
        content: () => JSON.stringify({ pid: deadPid(), host: hostname(), nonce: 'x' }),
        ageMs: 0,
      },
      {
        name: 'unreadable and older than 2 s',
        content: () => '{"pid": 12',
        ageMs: 10_000,
      },
      {
        name: 'empty and older than 2 s',
        content: () => '',
        ageMs: 10_000,
      },
      {
        name: 'of a live holder, older than staleMs',
        content: () => JSON.stringify({ pid: process.pid, host: hostname(), nonce: 'old' }),
        ageMs: 10_000,
        staleMs: 1_000,
      },
      {
        name: 'of another host, older than staleMs',
        content: () => JSON.stringify({ pid: 1, host: `not-${hostname()}`, nonce: 'old' }),
        ageMs: 10_000,
        staleMs: 1_000,
      },
    ])('$name', async ({ content, ageMs, staleMs }) => {
      const { dir, lockPath } = await lockPathIn();
      await writeFile(lockPath, content());
      if (ageMs > 0) await age(lockPath, ageMs);
      let ran = false;
      await withFileLock(
        lockPath,
        async () => {
          ran = true;
          const info = JSON.parse(await readFile(lockPath, 'utf8')) as { pid: number };
          expect(info.pid).toBe(process.pid);
        },
        { timeoutMs: 10_000, staleMs },
      );
      expect(ran).toBe(true);
      // Neither the stale lock nor the take-over marker is left behind.
      expect(await readdir(dir)).toEqual([]);
    });
  });

  describe('waits for a live lock, then gives up with store_busy', () => {
    it.each<{ name: string; content: () => string; ageMs: number }>([
      {
        name: 'held by a live process (this one, another nonce)',
        content: () =>
          JSON.stringify({ pid: process.pid, host: hostname(), nonce: 'other-holder' }),
        ageMs: 0,
      },
      {
        name: 'held by a live process for a while, but less than staleMs',
        content: () =>
          JSON.stringify({ pid: process.pid, host: hostname(), nonce: 'other-holder' }),
        ageMs: 10_000,
      },
      {
        name: 'held on another host, whose pid cannot be checked here',
        content: () =>
          JSON.stringify({ pid: deadPid(), host: `not-${hostname()}`, nonce: 'remote' }),
        ageMs: 0,
      },
      {
        name: 'unreadable but fresh (its creator may still be writing)',
        content: () => '',
        ageMs: 0,
      },
    ])('$name', async ({ content, ageMs }) => {
      const { dir, lockPath } = await lockPathIn();
      const text = content();
      await writeFile(lockPath, text);
      if (ageMs > 0) await age(lockPath, ageMs);
      let ran = false;
      const err: unknown = await withFileLock(
        lockPath,
        async () => {
          ran = true;
        },
        { timeoutMs: 300 },
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AgentSecretsError);
      expect((err as AgentSecretsError).code).toBe('store_busy');
      expect((err as AgentSecretsError).message).toContain(lockPath);
      expect(ran).toBe(false);
      // The holder's lock is untouched.
      expect(await readFile(lockPath, 'utf8')).toBe(text);
      expect(await readdir(dir)).toEqual(['state.json.lock']);
    });
  });

  it('gets the lock once a live holder releases it', async () => {
    const { lockPath } = await lockPathIn();
    let releaseFirst!: () => void;
    const firstHolding = new Promise<void>((resolve) => {
      void withFileLock(lockPath, () => {
        resolve();
        return new Promise<void>((release) => (releaseFirst = release));
      });
    });
    await firstHolding;
    const events: string[] = [];
    const second = withFileLock(lockPath, async () => {
      events.push('second');
    });
    // Let the second waiter poll a few times while the first holds the lock.
    await new Promise((resolve) => setTimeout(resolve, 50));
    events.push('first released');
    releaseFirst();
    await second;
    expect(events).toEqual(['first released', 'second']);
  });
});
