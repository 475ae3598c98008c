import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
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
   * Keep the last parsed document and reuse it while the file's inode, size and mtime are
   * unchanged (one stat instead of a read and a parse). Writers always replace the file by
   * rename, so any change gives a new inode. Callers must not mutate what read() returns.
   */
  cache?: boolean;
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

  async function read(): Promise<T | undefined> {
    if (!options.cache) return readFresh();
    // A synchronous stat: a few microseconds, against tens for a thread-pool round trip, and
    // this runs on every proxied call (agents, workspaces, vault).
    let st;
    try {
      st = statSync(path);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    if (
      cached &&
      cached.ino === st.ino &&
      cached.size === st.size &&
      cached.mtimeMs === st.mtimeMs
    ) {
      return cached.doc;
    }
    const signature = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (pending?.signature !== signature) {
      const read = readFresh().then(
        (doc) => {
          if (doc !== undefined) cached = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, doc };
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
        await writeFileAtomic(path, serialize(next));
        return next;
      },
      options.lock,
    );
  }

  return { path, read, update };
}

function corrupt(path: string, cause: unknown): AgentSecretsError {
  // The cause may quote file content, so it stays out of the message.
  return new AgentSecretsError(
    'corrupt_state',
    `${path} is damaged and cannot be read; restore it from a backup or move it aside`,
    { cause },
  );
}
