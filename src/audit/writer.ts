import { open, readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentSecretsError } from '../core/errors.js';
import { timeOrderedId } from '../core/ids.js';
import { ensurePrivateDir, FILE_MODE, isErrno } from '../store/fs.js';
import { withFileLock } from '../store/lock.js';
import {
  type AuditEntry,
  type AuditInput,
  encodeEntry,
  GENESIS_HASH,
  parseSegmentName,
  segmentName,
  sha256Hex,
  storedHash,
  utcDay,
} from './format.js';

/** When appended entries reach the disk itself, not just the OS. */
export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface AuditWriterOptions {
  dir: string;
  now?: () => Date;
  /**
   * `interval` (default): every batch is written to the OS before its callers resume, so a
   * crash of the process loses nothing; the file is fsynced every `fsyncIntervalMs` and on
   * close, so a power loss loses at most that long. `always` fsyncs every batch before
   * acknowledging it. `never` leaves it to the OS.
   */
  fsync?: FsyncPolicy;
  fsyncIntervalMs?: number;
  /** Start a new segment past this size. Default 64 MiB. */
  maxSegmentBytes?: number;
  /** Most entries written in one batch. */
  maxBatch?: number;
}

/** Appends entries to the hash-chained log, safely alongside other writer processes. */
export interface AuditWriter {
  append(input: AuditInput): Promise<AuditEntry>;
  /** Resolves when everything appended so far is written (and fsynced, if due). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

interface Pending {
  input: AuditInput & { id: string; timestamp: string };
  resolve: (entry: AuditEntry) => void;
  reject: (err: unknown) => void;
}

interface Head {
  segment: string;
  seq: number;
  day: string;
  size: number;
  hash: string;
}

const DEFAULT_MAX_SEGMENT = 64 * 1024 * 1024;
const TAIL_READ = 64 * 1024;

/**
 * The audit writer. Entries queue in memory and are written in batches (group commit): one
 * cross-process lock, one read of the chain head, one write per batch. The lock serialises
 * every writer process (proxy, MCP server, CLI, `env`), so lines never interleave and the
 * chain never forks.
 */
export function createAuditWriter(options: AuditWriterOptions): AuditWriter {
  const { dir } = options;
  const now = options.now ?? (() => new Date());
  const policy = options.fsync ?? 'interval';
  const maxSegment = options.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT;
  const maxBatch = options.maxBatch ?? 4096;
  const lockPath = join(dir, '.lock');

  const queue: Pending[] = [];
  let running: Promise<void> | undefined;
  let cached: Head | undefined;
  let dirty: string[] = [];
  let closed = false;
  let dirReady: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;

  function append(input: AuditInput): Promise<AuditEntry> {
    if (closed)
      return Promise.reject(new AgentSecretsError('internal_error', 'the audit log is closed'));
    const stamp = input.timestamp === undefined ? now() : new Date(input.timestamp);
    return new Promise<AuditEntry>((resolve, reject) => {
      queue.push({
        input: {
          ...input,
          id: input.id ?? timeOrderedId('evt', stamp),
          timestamp: stamp.toISOString(),
        },
        resolve,
        reject,
      });
      schedule();
    });
  }

  function schedule(): void {
    running ??= drain().finally(() => {
      running = undefined;
      if (queue.length > 0) schedule();
    });
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      try {
        dirReady ??= ensurePrivateDir(dir);
        await dirReady;
        const entries = await withFileLock(lockPath, () => writeBatch(batch));
        batch.forEach((p, i) => p.resolve(entries[i]!));
      } catch (err) {
        cached = undefined;
        dirReady = undefined;
        batch.forEach((p) => p.reject(err));
      }
    }
  }

  async function writeBatch(batch: Pending[]): Promise<AuditEntry[]> {
    let head = await currentHead();
    const today = utcDay(now());
    const lines: string[] = [];
    const entries: AuditEntry[] = [];
    let hash = head.hash;
    for (const { input } of batch) {
      const encoded = encodeEntry(input, hash);
      lines.push(encoded.line);
      entries.push(encoded.entry);
      hash = encoded.hash;
    }
    const data = `${lines.join('\n')}\n`;
    const bytes = Buffer.byteLength(data);
    if (head.size > 0 && (head.size + bytes > maxSegment || head.day !== today)) {
      head = {
        segment: segmentName(head.seq + 1, today),
        seq: head.seq + 1,
        day: today,
        size: 0,
        hash: head.hash,
      };
    }
    const path = join(dir, head.segment);
    const fh = await open(path, 'a', FILE_MODE);
    try {
      await fh.write(data);
      if (policy === 'always') await fh.datasync();
    } finally {
      await fh.close();
    }
    cached = { ...head, size: head.size + bytes, hash };
    if (policy === 'interval' && !dirty.includes(path)) {
      dirty.push(path);
      timer ??= setTimeout(() => void syncDirty(), options.fsyncIntervalMs ?? 1000);
      timer.unref?.();
    }
    return entries;
  }

  /** The chain head, from cache when nobody else has written since, else from disk. */
  async function currentHead(): Promise<Head> {
    const latest = await latestSegment();
    if (latest === undefined) {
      const day = utcDay(now());
      return { segment: segmentName(1, day), seq: 1, day, size: 0, hash: GENESIS_HASH };
    }
    const size = (await stat(join(dir, latest.name))).size;
    if (cached !== undefined && cached.segment === latest.name && cached.size === size)
      return cached;
    return {
      segment: latest.name,
      seq: latest.seq,
      day: latest.day,
      size: await repairTail(latest.name, size),
      hash: await tailHash(latest),
    };
  }

  async function latestSegment(): Promise<{ name: string; seq: number; day: string } | undefined> {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    let best: { name: string; seq: number; day: string } | undefined;
    for (const name of names) {
      const parsed = parseSegmentName(name);
      if (parsed !== undefined && (best === undefined || parsed.seq > best.seq))
        best = { name, ...parsed };
    }
    return best;
  }

  /** The hash of the last entry before `segment`'s end (looking back through older segments). */
  async function tailHash(segment: { name: string; seq: number }): Promise<string> {
    const line = await lastLine(join(dir, segment.name));
    if (line !== undefined) return storedHash(line) ?? sha256Hex(line);
    // An empty newest segment: the chain continues from the one before it.
    const names = (await readdir(dir))
      .map((name) => ({ name, parsed: parseSegmentName(name) }))
      .filter((s) => s.parsed !== undefined && s.parsed.seq < segment.seq)
      .sort((a, b) => b.parsed!.seq - a.parsed!.seq);
    for (const { name } of names) {
      const previous = await lastLine(join(dir, name));
      if (previous !== undefined) return storedHash(previous) ?? sha256Hex(previous);
    }
    return GENESIS_HASH;
  }

  /**
   * A power loss can leave a partial last line, which was never acknowledged. Cut it off so
   * the next entry starts on a line of its own; returns the size afterwards.
   */
  async function repairTail(name: string, size: number): Promise<number> {
    if (size === 0) return 0;
    const path = join(dir, name);
    const fh = await open(path, 'r');
    try {
      const last = Buffer.alloc(1);
      await fh.read(last, 0, 1, size - 1);
      if (last[0] === 0x0a) return size;
      const length = Math.min(size, TAIL_READ);
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, size - length);
      const cut = buf.lastIndexOf(0x0a);
      const keep = cut === -1 ? (size > TAIL_READ ? size : 0) : size - length + cut + 1;
      await truncate(path, keep);
      return keep;
    } finally {
      await fh.close();
    }
  }

  async function syncDirty(): Promise<void> {
    timer = undefined;
    const paths = dirty;
    dirty = [];
    for (const path of paths) {
      try {
        const fh = await open(path, 'r');
        try {
          await fh.datasync();
        } finally {
          await fh.close();
        }
      } catch {
        // A rotated-away or pruned segment: nothing left to sync.
      }
    }
  }

  async function flush(): Promise<void> {
    while (running !== undefined) await running;
    if (timer !== undefined) {
      clearTimeout(timer);
      await syncDirty();
    }
  }

  return {
    append,
    flush,
    async close() {
      await flush();
      closed = true;
    },
  };
}

/** The last complete line of a file, or undefined if it has none. */
export async function lastLine(path: string): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  try {
    const { size } = await fh.stat();
    let end = size;
    let carry = Buffer.alloc(0);
    while (end > 0) {
      const length = Math.min(end, TAIL_READ);
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, end - length);
      const data = Buffer.concat([buf, carry]);
      // Skip the trailing newline, then look for the one before the last line.
      const stop = data[data.length - 1] === 0x0a ? data.length - 1 : data.length;
      const start = data.lastIndexOf(0x0a, stop - 1);
      if (start !== -1 || end - length === 0) {
        const line = data.subarray(start + 1, stop).toString('utf8');
        return line === '' ? undefined : line;
      }
      carry = data;
      end -= length;
    }
    return undefined;
  } finally {
    await fh.close();
  }
}
