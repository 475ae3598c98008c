import { closeSync, fdatasyncSync, fstatSync, openSync, readdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AgentSecretsError } from '../core/errors.js';
import { timeOrderedId } from '../core/ids.js';
import { ensurePrivateDir, FILE_MODE, isErrno } from '../store/fs.js';
import {
  acquireLock,
  leaseHolderSync,
  releaseSync,
  tryLockSync,
  withFileLockSync,
} from '../store/lock.js';
import { BatchEncoder } from './encode.js';
import { handOver } from './handover.js';
import { advanceRecordedHead, appendHeadCheckpointSync } from './checkpoint-chain.js';
import type { AuditSigner } from './checkpoints.js';
import {
  type AuditEntry,
  type AuditInput,
  entryIdOf,
  GENESIS_HASH,
  parseSegmentName,
  segmentName,
  sha256Hex,
  storedHash,
  utcDay,
} from './format.js';
import { lastLineOf, repairTail } from './tail.js';

/** When appended entries reach the disk itself, not just the OS. */
export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface AuditWriterOptions {
  dir: string;
  now?: () => Date;
  /**
   * `interval` (default): every batch is written to the OS before its callers resume, so a
   * crash of the process loses nothing acknowledged; the file is fsynced every
   * `fsyncIntervalMs` and on close, so a power loss loses at most that long. `always` fsyncs
   * every batch before acknowledging it. `never` leaves it to the OS.
   */
  fsync?: FsyncPolicy;
  fsyncIntervalMs?: number;
  /** Start a new segment past this size. Default 64 MiB. */
  maxSegmentBytes?: number;
  /** Most entries written in one batch. */
  maxBatch?: number;
  /**
   * Signs checkpoints when this writer holds the unlocked vault (the key holder, the MCP
   * server). Asked for once; undefined means this writer does not sign.
   */
  signer?: () => Promise<AuditSigner | undefined>;
  /** A signed checkpoint at least this often while entries are written. Default 60 s. */
  checkpointIntervalMs?: number;
  /** Flushes an open segment to the disk; tests observe when. Default `fdatasyncSync`. */
  fdatasync?: (fd: number) => void;
}

/** Appends entries to the hash-chained log, safely alongside other writer processes. */
export interface AuditWriter {
  append(input: AuditInput): Promise<AuditEntry>;
  /** Resolves when everything appended so far is written (and fsynced, if due). */
  flush(): Promise<void>;
  close(): Promise<void>;
  /**
   * The key holder's writer: from now on it keeps the audit lock while it runs (a lease that
   * names `socket`), so a batch costs no lock, no folder listing and no stat; writers in other
   * processes hand their entries to it over the socket instead of waiting for the lock.
   */
  hold?(socket: string): void;
  /** Another process needs the lock (a prune): let go of it for a while. */
  yieldLock?(): Promise<void>;
}

interface Pending {
  input: AuditInput;
  /** The entry's id and time (the input's own when it has them). */
  id: string;
  timestamp: string;
  resolve: (entry: AuditEntry) => void;
  reject: (err: unknown) => void;
}

/** The segment this writer appends to, with its open descriptor and the chain head. */
interface Head {
  segment: string;
  seq: number;
  day: string;
  fd: number | undefined;
  size: number;
  hash: string;
  /** Id of the entry `hash` belongs to (null at genesis). */
  lastId: string | null;
}

const DEFAULT_MAX_SEGMENT = 64 * 1024 * 1024;

// `Date.prototype.toISOString` per entry is a visible cost: the date and time up to the minute
// are formatted once a minute, seconds and milliseconds by hand. Same string.
let isoMinute = Number.NaN;
let isoPrefix = '';
/** `date.toISOString()`, faster. */
export function isoTime(date: Date): string {
  const ms = date.getTime();
  const minute = Math.floor(ms / 60_000);
  if (minute !== isoMinute) {
    const full = new Date(minute * 60_000).toISOString();
    isoPrefix = full.slice(0, full.length - 7);
    isoMinute = minute;
  }
  const rest = ms - minute * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = rest - seconds * 1000;
  return `${isoPrefix}${seconds < 10 ? '0' : ''}${seconds}.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}

// `utcDay` per batch formats a whole date: the day is kept until its last millisecond passes.
let dayStart = Number.NaN;
let dayEnd = Number.NaN;
let dayName = '';
/** `utcDay(date)`, formatted once a day. */
function dayOf(date: Date): string {
  const ms = date.getTime();
  if (!(ms >= dayStart && ms < dayEnd)) {
    dayName = utcDay(date);
    dayStart = Math.floor(ms / 86_400_000) * 86_400_000;
    dayEnd = dayStart + 86_400_000;
  }
  return dayName;
}

/** Writes all of `data` at the end of `fd` (a short write continues where it stopped). */
function writeAll(fd: number, data: Buffer): void {
  let written = 0;
  while (written < data.length) written += writeSync(fd, data, written, data.length - written);
}

/**
 * The audit writer. Entries queue in memory and are written in batches (group commit). Each
 * batch is one short synchronous critical section under the cross-process lock: list the
 * segments, check that the cached chain head is still the newest (same segment, same size:
 * nobody else wrote), append, release. The lock serialises every writer process (proxy, MCP
 * server, CLI, `env`), so lines never interleave and the chain never forks.
 */
export function createAuditWriter(options: AuditWriterOptions): AuditWriter {
  const { dir } = options;
  const now = options.now ?? (() => new Date());
  const policy = options.fsync ?? 'interval';
  const maxSegment = options.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT;
  const maxBatch = options.maxBatch ?? 4096;
  const lockPath = join(dir, '.lock');
  const fdatasync = options.fdatasync ?? fdatasyncSync;

  const queue: Pending[] = [];
  const encoder = new BatchEncoder();
  let running: Promise<void> | undefined;
  let head: Head | undefined;
  let dirty = false;
  let closed = false;
  let dirReady: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let signer: AuditSigner | undefined;
  let signerAsked = false;
  let lastCheckpointAt = 0;
  let uncheckpointed = false;
  /** The vault's record of the checkpoint head, brought up to date after each checkpoint. */
  let headRecorded: Promise<void> = Promise.resolve();
  const checkpointInterval = options.checkpointIntervalMs ?? 60_000;
  /** Lease mode (the key holder): the socket it advertises, and the lease's nonce once held. */
  let leaseSocket: string | undefined;
  let leaseNonce: string | undefined;
  /** Whether `head` was checked against the disk since the lease was taken. */
  let leaseChecked = false;
  let leaseCheckedAt = 0;
  /** Until then, the lease is not taken again (another process asked for the lock). */
  let yieldUntil = 0;

  function append(input: AuditInput): Promise<AuditEntry> {
    if (closed)
      return Promise.reject(new AgentSecretsError('internal_error', 'the audit log is closed'));
    const stamp = input.timestamp === undefined ? now() : new Date(input.timestamp);
    return new Promise<AuditEntry>((resolve, reject) => {
      // Not `{ ...input, id, timestamp }`: a spread plus added fields costs V8 microseconds.
      queue.push({
        input,
        id: input.id ?? timeOrderedId('evt', stamp),
        timestamp: isoTime(stamp),
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
    // Let the callers of this tick join the batch.
    await new Promise((resolve) => setImmediate(resolve));
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      try {
        dirReady ??= ensurePrivateDir(dir);
        await dirReady;
        if (!signerAsked && options.signer !== undefined) {
          signerAsked = true;
          signer = await options.signer().catch(() => undefined);
        }
        const entries = await write(batch);
        batch.forEach((p, i) => p.resolve(entries[i]!));
      } catch (err) {
        forget();
        dirReady = undefined;
        batch.forEach((p) => p.reject(err));
      }
    }
  }

  /** Writes a batch under the lock: the lease, a lock of its own, or the lease holder's. */
  async function write(batch: Pending[]): Promise<AuditEntry[]> {
    if (leaseSocket !== undefined && performance.now() >= yieldUntil) {
      if (leaseNonce === undefined) {
        leaseNonce = await acquireLock(lockPath, {}, { socket: leaseSocket });
        leaseChecked = false;
      }
      // Held, nobody else writes: the cached head is trusted, checked against the disk only
      // when the lease is new and once a second.
      const now = performance.now();
      if (now - leaseCheckedAt > 1000) leaseChecked = false;
      const entries = writeBatch(batch, leaseChecked);
      if (!leaseChecked) leaseCheckedAt = now;
      leaseChecked = true;
      return entries;
    }
    const nonce = tryLockSync(lockPath);
    if (nonce !== undefined) {
      try {
        return writeBatch(batch, false);
      } finally {
        releaseSync(lockPath, nonce);
      }
    }
    // A running key holder holds the log: it writes our entries, in its chain.
    const holder = leaseHolderSync(lockPath);
    if (holder !== undefined && leaseSocket === undefined) {
      const entries = await handOver(
        holder.socket,
        batch.map((p) => ({ ...p.input, id: p.id, timestamp: p.timestamp })),
      ).catch(() => undefined);
      if (entries !== undefined && entries.length === batch.length) {
        // Our cached head is behind now; the next batch of our own checks the disk.
        forget();
        return entries;
      }
    }
    return withFileLockSync(lockPath, () => writeBatch(batch, false));
  }

  /** Runs under the lock, synchronously. `trusted`: nobody else can have written since. */
  function writeBatch(batch: Pending[], trusted: boolean): AuditEntry[] {
    let current = trusted && head?.fd !== undefined ? head : currentHead();
    const entries: AuditEntry[] = new Array<AuditEntry>(batch.length);
    let hash = current.hash;
    encoder.reset();
    for (let i = 0; i < batch.length; i++) {
      const { input, id, timestamp } = batch[i]!;
      const entry = encoder.add(input, hash, id, timestamp);
      entries[i] = entry;
      hash = entry.hash;
    }
    const data = encoder.bytes();
    const today = dayOf(now());
    if (current.size > 0 && (current.size + data.length > maxSegment || current.day !== today)) {
      // Rotation: the closing segment's last entry gets a signed checkpoint.
      checkpoint(current);
      closeFd(current);
      current = {
        segment: segmentName(current.seq + 1, today),
        seq: current.seq + 1,
        day: today,
        fd: undefined,
        size: 0,
        hash: current.hash,
        lastId: current.lastId,
      };
    }
    current.fd ??= openSync(join(dir, current.segment), 'a', FILE_MODE);
    writeAll(current.fd, data);
    if (policy === 'always') fdatasync(current.fd);
    head = { ...current, size: current.size + data.length, hash, lastId: entries.at(-1)!.id };
    uncheckpointed = true;
    if (signer !== undefined && now().getTime() - lastCheckpointAt >= checkpointInterval)
      checkpoint(head);
    if (policy === 'interval') {
      dirty = true;
      timer ??= setTimeout(syncNow, options.fsyncIntervalMs ?? 1000);
      timer.unref?.();
    }
    return entries;
  }

  /** The chain head: the cached one while nobody else has written, else read from disk. */
  function currentHead(): Head {
    const latest = latestSegment();
    if (latest === undefined) {
      forget();
      const day = utcDay(now());
      return {
        segment: segmentName(1, day),
        seq: 1,
        day,
        fd: undefined,
        size: 0,
        hash: GENESIS_HASH,
        lastId: null,
      };
    }
    if (
      head !== undefined &&
      head.segment === latest.name &&
      head.fd !== undefined &&
      fstatSync(head.fd).size === head.size
    ) {
      return head;
    }
    forget();
    const fd = openSync(join(dir, latest.name), 'a+', FILE_MODE);
    const size = repairTail(fd, fstatSync(fd).size);
    const tail = tailOf(fd, size, latest.seq);
    return {
      segment: latest.name,
      seq: latest.seq,
      day: latest.day,
      fd,
      size,
      hash: tail.hash,
      lastId: tail.id,
    };
  }

  function latestSegment(): { name: string; seq: number; day: string } | undefined {
    let names: string[];
    try {
      names = readdirSync(dir);
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

  /** The last entry before the end of `fd` (or of the newest older segment): hash and id. */
  function tailOf(fd: number, size: number, seq: number): { hash: string; id: string | null } {
    const line = lastLineOf(fd, size);
    if (line !== undefined)
      return { hash: storedHash(line) ?? sha256Hex(line), id: entryIdOf(line) };
    // An empty newest segment: the chain continues from the one before it.
    const older = readdirSync(dir)
      .map((name) => ({ name, parsed: parseSegmentName(name) }))
      .filter((s) => s.parsed !== undefined && s.parsed.seq < seq)
      .sort((a, b) => b.parsed!.seq - a.parsed!.seq);
    for (const { name } of older) {
      const olderFd = openSync(join(dir, name), 'r');
      try {
        const previous = lastLineOf(olderFd, fstatSync(olderFd).size);
        if (previous !== undefined)
          return { hash: storedHash(previous) ?? sha256Hex(previous), id: entryIdOf(previous) };
      } finally {
        closeSync(olderFd);
      }
    }
    return { hash: GENESIS_HASH, id: null };
  }

  /** Appends a signed checkpoint for `at`'s last entry (under the lock). */
  function checkpoint(at: Head): void {
    if (signer === undefined || at.lastId === null) return;
    // The entries a checkpoint names reach the disk before it does.
    if (at.fd !== undefined) fdatasync(at.fd);
    const position = { segment: at.segment, size: at.size, entryId: at.lastId, hash: at.hash };
    if (appendHeadCheckpointSync(dir, signer, position, now())) recordHead(signer);
    lastCheckpointAt = now().getTime();
    uncheckpointed = false;
  }

  /** After the lock is released: the vault write is slower, and needs no audit lock. */
  function recordHead(by: AuditSigner): void {
    headRecorded = headRecorded
      .then(() => advanceRecordedHead(dir, by))
      .catch(() => {
        // Left behind, not lost: the next checkpoint raises it past this one.
      });
  }

  function closeFd(h: Head): void {
    if (h.fd !== undefined) closeSync(h.fd);
    h.fd = undefined;
  }

  function forget(): void {
    leaseChecked = false;
    if (head !== undefined) closeFd(head);
    head = undefined;
  }

  function syncNow(): void {
    timer = undefined;
    if (dirty && head?.fd !== undefined) {
      try {
        fdatasync(head.fd);
      } catch {
        // A pruned or rotated-away segment: nothing left to sync.
      }
    }
    dirty = false;
  }

  async function flush(): Promise<void> {
    while (running !== undefined) await running;
    if (timer !== undefined) {
      clearTimeout(timer);
      syncNow();
    }
  }

  /** Lets go of the lease (after the batch in progress). */
  async function releaseLease(): Promise<void> {
    while (running !== undefined) await running;
    if (leaseNonce !== undefined) {
      releaseSync(lockPath, leaseNonce);
      leaseNonce = undefined;
    }
  }

  return {
    append,
    flush,
    hold(socket) {
      leaseSocket = socket;
    },
    async yieldLock() {
      // Long enough for a prune (or a writer that could not hand over) to get in and finish.
      yieldUntil = performance.now() + 2000;
      await releaseLease();
    },
    async close() {
      await flush();
      closed = true;
      const finalCheckpoint = () => {
        const current = currentHead();
        checkpoint(current);
        head = current;
      };
      if (signer !== undefined && uncheckpointed) {
        // A last signed checkpoint, for the head as it is on disk now.
        if (leaseNonce !== undefined) {
          try {
            finalCheckpoint();
          } catch {
            // As below: the next writer's checkpoint covers it.
          }
        } else {
          await withFileLockSync(lockPath, finalCheckpoint).catch(() => undefined);
        }
      }
      leaseSocket = undefined;
      await releaseLease();
      await headRecorded;
      forget();
    },
  };
}
