import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgentSecretsError } from '../core/errors.js';
import { FILE_MODE, isErrno, isProcessAlive } from './fs.js';

/** How a cross-process lock waits and when it considers a holder dead. */
export interface LockOptions {
  /** Give up with `store_busy` after this long. Default 15 s. */
  timeoutMs?: number;
  /** A lock older than this is stale even if its holder looks alive. Default 30 s. */
  staleMs?: number;
}

interface LockInfo {
  pid: number;
  host: string;
  nonce: string;
  /**
   * A lease: held for as long as its holder runs (the key holder's audit writer), so never
   * stale by age, only when its holder is gone. Others ask it to let go over `socket`.
   */
  lease?: boolean;
  socket?: string;
}

/** What a lease holder advertises in its lock file. */
export interface LeaseAdvert {
  /** The holder's Unix socket: POST /v1/lock/yield asks it to let go for a while. */
  socket: string;
}

const DEFAULT_TIMEOUT_MS = 15_000;
const DEFAULT_STALE_MS = 30_000;
/** A lock file whose content is unreadable (its creator died mid-write) is stale after this. */
const UNREADABLE_STALE_MS = 2_000;
const STEAL_STALE_MS = 2_000;

/**
 * Runs `fn` while holding an exclusive lock shared by every process on this host.
 *
 * The lock is a file created with O_EXCL that names its holder. A holder that died (its pid
 * is gone) or that held the lock for longer than `staleMs` is taken over; the take-over is
 * itself serialised by a second lock, so two waiters never both steal.
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  const nonce = await acquire(lockPath, options);
  try {
    return await fn();
  } finally {
    await release(lockPath, nonce);
  }
}

/**
 * The same lock for a short synchronous critical section (the audit writer's append): an
 * uncontended acquire and release are a handful of synchronous syscalls; only a wait for
 * another holder is asynchronous.
 */
export async function withFileLockSync<T>(
  lockPath: string,
  fn: () => T,
  options: LockOptions = {},
): Promise<T> {
  const nonce = tryLockSync(lockPath) ?? (await acquire(lockPath, options));
  try {
    return fn();
  } finally {
    releaseSync(lockPath, nonce);
  }
}

/**
 * One attempt to take the lock, synchronously: the nonce that proves it is ours, or undefined
 * when someone holds it. With `lease`, the lock is held until released and never goes stale by
 * age while its holder lives.
 */
export function tryLockSync(lockPath: string, lease?: LeaseAdvert): string | undefined {
  const nonce = randomBytes(12).toString('hex');
  let fd: number;
  try {
    fd = openSync(lockPath, 'wx', FILE_MODE);
  } catch (err) {
    if (isErrno(err, 'EEXIST')) return undefined;
    throw err;
  }
  try {
    writeSync(fd, lockContent(nonce, lease));
  } finally {
    closeSync(fd);
  }
  return nonce;
}

function lockContent(nonce: string, lease: LeaseAdvert | undefined): string {
  return JSON.stringify({
    pid: process.pid,
    host: hostname(),
    nonce,
    ...(lease === undefined ? {} : { lease: true, socket: lease.socket }),
  });
}

/** Takes the lock, waiting for others as `withFileLock` does; resolves with its nonce. */
export async function acquireLock(
  lockPath: string,
  options: LockOptions = {},
  lease?: LeaseAdvert,
): Promise<string> {
  return tryLockSync(lockPath, lease) ?? acquire(lockPath, options, lease);
}

/** The live lease holder of a lock on this host, if a lease holds it. */
export function leaseHolderSync(lockPath: string): LeaseAdvert | undefined {
  let raw: string;
  try {
    raw = readFileSync(lockPath, 'utf8');
  } catch {
    return undefined;
  }
  const info = parseInfo(raw);
  if (info?.lease !== true || info.socket === undefined) return undefined;
  if (info.host !== hostname() || !isProcessAlive(info.pid)) return undefined;
  return { socket: info.socket };
}

/** Releases a lock taken with `tryLockSync` or `acquireLock` (only if it is still ours). */
export function releaseSync(lockPath: string, nonce: string): void {
  let current: string | undefined;
  try {
    current = readFileSync(lockPath, 'utf8');
  } catch {
    return;
  }
  if (parseInfo(current)?.nonce === nonce) rmSync(lockPath, { force: true });
}

async function acquire(
  lockPath: string,
  options: LockOptions,
  lease?: LeaseAdvert,
): Promise<string> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const nonce = randomBytes(12).toString('hex');
  const content = lockContent(nonce, lease);
  const started = Date.now();
  let delay = 1;
  let asked: string | undefined;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx', FILE_MODE);
      try {
        await fh.writeFile(content);
      } finally {
        await fh.close();
      }
      return nonce;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    const holder = await inspect(lockPath, staleMs);
    if (holder.stale) {
      await steal(lockPath, holder.seen);
      continue;
    }
    // A lease (a running key holder's audit writer) lets go when asked, once per holding.
    if (holder.socket !== undefined && asked !== holder.seen?.raw) {
      asked = holder.seen?.raw;
      await askToYield(holder.socket, lockPath);
      continue;
    }
    if (Date.now() - started > timeoutMs) {
      const who = holder.pid === undefined ? 'another process' : `process ${holder.pid}`;
      throw new AgentSecretsError(
        'store_busy',
        `${lockPath} is locked by ${who}; wait for it to finish, or remove the lock file if no agentsecrets process is running`,
      );
    }
    await sleep(delay + Math.random() * delay);
    delay = Math.min(delay * 2, 25);
  }
}

interface HolderState {
  stale: boolean;
  pid?: number;
  /** A live lease holder's socket. */
  socket?: string;
  /** The exact lock file inspected: its inode and text. A take-over removes only that file. */
  seen?: { ino: number; raw: string };
}

async function inspect(lockPath: string, staleMs: number): Promise<HolderState> {
  let raw: string;
  let st: { ino: number; mtimeMs: number };
  try {
    [raw, st] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { stale: false };
    throw err;
  }
  const ageMs = Date.now() - st.mtimeMs;
  const seen = { ino: st.ino, raw };
  const info = parseInfo(raw);
  if (info === undefined) return { stale: ageMs > UNREADABLE_STALE_MS, seen };
  const deadHere = info.host === hostname() && !isProcessAlive(info.pid);
  if (info.lease === true) {
    // Held for its holder's lifetime: stale only once the holder is gone.
    return {
      stale: deadHere,
      pid: info.pid,
      seen,
      ...(info.socket === undefined || deadHere ? {} : { socket: info.socket }),
    };
  }
  return { stale: deadHere || ageMs > staleMs, pid: info.pid, seen };
}

async function steal(lockPath: string, seen: HolderState['seen']): Promise<void> {
  if (seen === undefined) return;
  const stealPath = `${lockPath}.steal`;
  try {
    const fh = await open(stealPath, 'wx', FILE_MODE);
    await fh.close();
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
    // Someone else is taking over; clear their marker only if they died doing it.
    const st = await stat(stealPath).catch(() => undefined);
    if (st !== undefined && Date.now() - st.mtimeMs > STEAL_STALE_MS) {
      await rm(stealPath, { force: true });
    }
    return;
  }
  try {
    // Remove the lock only if it is still the very file we judged stale: same inode, same
    // text. A lock created since then is a new file (a new inode), however it reads.
    const [raw, st] = await Promise.all([
      readFile(lockPath, 'utf8').catch(() => undefined),
      stat(lockPath).catch(() => undefined),
    ]);
    if (raw === seen.raw && st?.ino === seen.ino) await rm(lockPath, { force: true });
  } finally {
    await rm(stealPath, { force: true });
  }
}

async function release(lockPath: string, nonce: string): Promise<void> {
  const current = await readFile(lockPath, 'utf8').catch(() => undefined);
  if (current !== undefined && parseInfo(current)?.nonce === nonce) {
    await rm(lockPath, { force: true });
  }
}

function parseInfo(raw: string): LockInfo | undefined {
  try {
    const value = JSON.parse(raw) as Partial<LockInfo>;
    if (
      typeof value.pid === 'number' &&
      typeof value.host === 'string' &&
      typeof value.nonce === 'string'
    ) {
      return {
        pid: value.pid,
        host: value.host,
        nonce: value.nonce,
        ...(value.lease === true ? { lease: true } : {}),
        ...(typeof value.socket === 'string' ? { socket: value.socket } : {}),
      };
    }
  } catch {
    // fall through: unreadable
  }
  return undefined;
}

/**
 * Asks a lease holder to let go of a lock for a while (POST /v1/lock/yield on its socket).
 * Failures are ignored: the caller keeps waiting, and a holder that died is found stale.
 */
async function askToYield(socketPath: string, lockPath: string): Promise<void> {
  const text = JSON.stringify({ lock: lockPath });
  await new Promise<void>((resolve) => {
    const req = httpRequest(
      {
        socketPath,
        path: '/v1/lock/yield',
        method: 'POST',
        timeout: 5000,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve());
        res.on('error', () => resolve());
      },
    );
    req.on('timeout', () => {
      req.destroy();
      resolve();
    });
    req.on('error', () => resolve());
    req.end(text);
  });
}
