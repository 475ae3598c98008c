import { type FSWatcher, statSync, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { AgentSecretsError } from '../core/errors.js';
import { ensurePrivateDir, isErrno, removeOrphanedTempFiles, writeFileAtomic } from './fs.js';
import { type LockOptions, withFileLock } from './lock.js';

/** A small JSON document on disk, shared safely by several processes. */
export interface DocumentStore<T> {
  readonly path: string;
  /** The current document, or `undefined` when the file does not exist. */
  read(): Promise<T | undefined>;
  /**
   * Re-reads the document under the cross-process lock, applies `fn` and writes the
   * result atomically. `fn` receives `undefined` when the file does not exist yet.
   */
  update(fn: (current: T | undefined) => T | Promise<T>): Promise<T>;
}

export interface DocumentStoreOptions<T> {
  path: string;
  /**
   * Keep the last parsed document and reuse it until the file changes. Writers always replace
   * the file by rename, so any change gives a new inode. The folder is watched (fs.watch), so a
   * read does no file-system work at all while nothing changed; the cached copy is checked
   * with one stat (inode, size, mtime) after a change is reported, and at least every
   * `revalidateMs` in case a change notice was lost. Where the folder cannot be watched, every
   * read checks with a stat. Callers must not mutate what read() returns.
   */
  cache?: boolean;
  /** With `cache`: the longest a watched cache is trusted without a stat. Default 1000 ms. */
  revalidateMs?: number;
  /** Validates what was read; throw to reject it. */
  parse: (raw: unknown) => T;
  /** Serialises the document; defaults to two-space JSON. */
  serialize?: (doc: T) => string;
  lock?: LockOptions;
}

/** Creates a store for one JSON document (atomic writes, cross-process lock, re-read). */
export function createDocumentStore<T>(options: DocumentStoreOptions<T>): DocumentStore<T> {
  const { path, parse } = options;
  const serialize = options.serialize ?? ((doc: T) => `${JSON.stringify(doc, null, 2)}\n`);
  const lockPath = `${path}.lock`;

  let cached: { ino: number; size: number; mtimeMs: number; doc: T } | undefined;
  // Readers that find the cache stale at the same time share one read, so they get the same
  // document object (callers cache work on it, such as the compiled scrubber of a vault).
  let pending: { signature: string; doc: Promise<T | undefined> } | undefined;
  const revalidateMs = options.revalidateMs ?? 1000;
  // Watching: `generation` moves on every change notice; `trusted` is the generation the cache
  // was last confirmed at (-1: not confirmed), until `trustUntil`.
  let watching: 'no' | 'yes' | 'unavailable' = 'no';
  let generation = 0;
  let trusted = -1;
  let trustUntil = 0;
  let absent = false;
  let retryAt = 0;

  function startWatching(): void {
    const ok = watchFolder(path, (lost) => {
      generation++;
      trusted = -1;
      if (lost) watching = 'no';
    });
    watching = ok ? 'yes' : 'unavailable';
    retryAt = performance.now() + revalidateMs;
  }

  async function read(): Promise<T | undefined> {
    if (!options.cache) return readFresh();
    if (watching === 'no' || (watching === 'unavailable' && performance.now() >= retryAt))
      startWatching();
    // Nothing changed since the cache was last confirmed: no file-system work at all.
    if (trusted === generation && watching === 'yes') {
      if (performance.now() < trustUntil) {
        if (absent) return undefined;
        if (cached !== undefined) return cached.doc;
      } else {
        trusted = -1;
      }
    }
    const seen = generation;
    // A synchronous stat: a few microseconds, against tens for a thread-pool round trip.
    let st;
    try {
      st = statSync(path);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) {
        absent = true;
        cached = undefined;
        confirm(seen);
        return undefined;
      }
      throw err;
    }
    absent = false;
    if (
      cached &&
      cached.ino === st.ino &&
      cached.size === st.size &&
      cached.mtimeMs === st.mtimeMs
    ) {
      confirm(seen);
      return cached.doc;
    }
    const signature = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (pending?.signature !== signature) {
      const read = readFresh().then(
        (doc) => {
          if (doc !== undefined) {
            cached = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, doc };
            // Trusted only if no change was reported since the stat: the file read may be a
            // newer one than the stat saw, and then the next read checks again.
            confirm(seen);
          }
          return doc;
        },
        (err: unknown) => {
          pending = undefined;
          throw err;
        },
      );
      pending = { signature, doc: read };
    }
    return pending.doc;
  }

  function confirm(seen: number): void {
    if (watching !== 'yes' || seen !== generation) return;
    trusted = seen;
    trustUntil = performance.now() + revalidateMs;
  }

  async function readFresh(): Promise<T | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (cause) {
      throw corrupt(path, cause);
    }
    try {
      return parse(raw);
    } catch (cause) {
      throw corrupt(path, cause);
    }
  }

  async function update(fn: (current: T | undefined) => T | Promise<T>): Promise<T> {
    await ensurePrivateDir(dirname(path));
    return withFileLock(
      lockPath,
      async () => {
        await removeOrphanedTempFiles(path);
        const next = await fn(await readFresh());
        try {
          await writeFileAtomic(path, serialize(next));
        } finally {
          // Readers in this process see the change at once, not a turn later with the notice.
          announceChange(path);
        }
        return next;
      },
      options.lock,
    );
  }

  return { path, read, update };
}

/** One watcher per folder, shared by every store of this process with a file in it. */
const folders = new Map<
  string,
  { watcher: FSWatcher; files: Map<string, Set<(lost: boolean) => void>> }
>();

/**
 * Calls `onChange` whenever `path` may have changed (created, replaced, removed), as the OS
 * reports it for the folder. False when the folder cannot be watched (it does not exist yet, or
 * the OS refuses): the caller then checks on every read.
 */
export function watchFolder(path: string, onChange: (lost: boolean) => void): boolean {
  const dir = dirname(path);
  const name = basename(path);
  let folder = folders.get(dir);
  if (folder === undefined) {
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false });
    } catch {
      return false;
    }
    const files = new Map<string, Set<(lost: boolean) => void>>();
    const created = { watcher, files };
    const notify = (filename: string | Buffer | null, lost = false) => {
      if (filename === null) {
        for (const listeners of files.values()) for (const listener of listeners) listener(lost);
        return;
      }
      for (const listener of files.get(String(filename)) ?? []) listener(lost);
    };
    watcher.on('change', (_event, filename) => notify(filename));
    // The folder went away or the watch broke: everyone re-checks, and later reads set up a
    // new watch (or fall back to a stat per read).
    watcher.on('error', () => {
      watcher.close();
      if (folders.get(dir) === created) folders.delete(dir);
      notify(null, true);
    });
    watcher.unref();
    folders.set(dir, created);
    folder = created;
  }
  let listeners = folder.files.get(name);
  if (listeners === undefined) folder.files.set(name, (listeners = new Set()));
  listeners.add(onChange);
  return true;
}

/** Tells this process's readers of `path` that it changed (a write of our own). */
export function announceChange(path: string): void {
  for (const listener of folders.get(dirname(path))?.files.get(basename(path)) ?? [])
    listener(false);
}

function corrupt(path: string, cause: unknown): AgentSecretsError {
  // The cause may quote file content, so it stays out of the message.
  return new AgentSecretsError(
    'corrupt_state',
    `${path} is damaged and cannot be read; restore it from a backup or move it aside`,
    { cause },
  );
}
