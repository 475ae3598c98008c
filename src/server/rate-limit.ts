/**
 * A fixed-window counter per key, for the sign-in endpoints: `take` admits a request or
 * answers how many milliseconds remain until the key's window resets. Memory is bounded:
 * expired windows are dropped as the map grows. Counters are per server process (several
 * processes behind one database each allow `limit`); the Argon2id cost on the client and
 * the 256-bit auth key are what make guessing hopeless, this only stops hammering. On
 * PostgreSQL the server uses `createSharedRateLimiter` instead, whose counters all replicas share.
 */
export interface RateLimiter {
  take(key: string): number | undefined;
}

const MAX_KEYS = 100_000;

export function createRateLimiter(options: {
  limit: number;
  windowMs: number;
  now?: () => number;
}): RateLimiter {
  const now = options.now ?? Date.now;
  const windows = new Map<string, { start: number; count: number }>();
  const sweep = (at: number) => {
    for (const [key, w] of windows) if (at - w.start >= options.windowMs) windows.delete(key);
  };
  return {
    take(key) {
      const at = now();
      let w = windows.get(key);
      if (w === undefined || at - w.start >= options.windowMs) {
        if (windows.size >= MAX_KEYS) sweep(at);
        w = { start: at, count: 0 };
        windows.set(key, w);
      }
      if (w.count >= options.limit) return w.start + options.windowMs - at;
      w.count++;
      return undefined;
    },
  };
}

/**
 * Per-key back-off after failures (issue 12, F11): the first few failures are free, then each
 * one doubles the wait before the next attempt, up to `maxMs`. Unlike a fixed window, someone
 * who hammers a victim's email delays the victim by at most `maxMs` after their last failure,
 * and a success clears it.
 */
export interface Backoff {
  /** Milliseconds to wait before `key` may try again, or undefined. */
  wait(key: string): number | undefined;
  fail(key: string): void;
  succeed(key: string): void;
}

export function createBackoff(options: {
  free: number;
  baseMs: number;
  maxMs: number;
  now?: () => number;
}): Backoff {
  const now = options.now ?? Date.now;
  const state = new Map<string, { failures: number; until: number }>();
  return {
    wait(key) {
      const s = state.get(key);
      if (s === undefined) return undefined;
      const left = s.until - now();
      return left > 0 ? left : undefined;
    },
    fail(key) {
      if (state.size >= MAX_KEYS) {
        const at = now();
        for (const [k, s] of state) if (s.until + options.maxMs < at) state.delete(k);
      }
      const failures = (state.get(key)?.failures ?? 0) + 1;
      const over = failures - options.free;
      const delay = over <= 0 ? 0 : Math.min(options.maxMs, options.baseMs * 2 ** (over - 1));
      state.set(key, { failures, until: now() + delay });
    },
    succeed(key) {
      state.delete(key);
    },
  };
}

/**
 * Counters shared by every server process on one database (issue 12, F11): with several
 * replicas behind a load balancer, per-process counters would let a client multiply its
 * allowance by the number of replicas. The PostgreSQL store provides them.
 */
export interface SharedCounters {
  /** Counts one hit of `key` in its fixed window; the window's start and count after it. */
  hit(
    bucket: string,
    key: string,
    windowMs: number,
    nowMs: number,
  ): Promise<{ start: number; count: number }>;
  /** Records one failure of `key`; the number of failures so far. */
  failure(key: string): Promise<number>;
  /** Sets until when `key` must wait. */
  waitUntil(key: string, untilMs: number): Promise<void>;
  /** Until when `key` must wait, if at all. */
  waiting(key: string): Promise<number | undefined>;
  clear(key: string): Promise<void>;
}

/** A rate limiter whose answer may come from a database. */
export interface AsyncRateLimiter {
  take(key: string): Promise<number | undefined>;
}

/** A back-off whose state may live in a database. */
export interface AsyncBackoff {
  wait(key: string): Promise<number | undefined>;
  fail(key: string): Promise<void>;
  succeed(key: string): Promise<void>;
}

/** The limiter on shared counters when there are any, else in this process. */
export function createSharedRateLimiter(
  counters: SharedCounters | undefined,
  bucket: string,
  options: { limit: number; windowMs: number; now?: () => number },
): AsyncRateLimiter {
  if (counters === undefined) {
    const local = createRateLimiter(options);
    return { take: async (key) => local.take(key) };
  }
  const now = options.now ?? Date.now;
  return {
    async take(key) {
      const at = now();
      const w = await counters.hit(bucket, key, options.windowMs, at);
      return w.count > options.limit ? w.start + options.windowMs - at : undefined;
    },
  };
}

/** The back-off on shared counters when there are any, else in this process. */
export function createSharedBackoff(
  counters: SharedCounters | undefined,
  options: { free: number; baseMs: number; maxMs: number; now?: () => number },
): AsyncBackoff {
  if (counters === undefined) {
    const local = createBackoff(options);
    return {
      wait: async (key) => local.wait(key),
      fail: async (key) => local.fail(key),
      succeed: async (key) => local.succeed(key),
    };
  }
  const now = options.now ?? Date.now;
  return {
    async wait(key) {
      const until = await counters.waiting(key);
      const left = until === undefined ? 0 : until - now();
      return left > 0 ? left : undefined;
    },
    async fail(key) {
      const failures = await counters.failure(key);
      const over = failures - options.free;
      const delay = over <= 0 ? 0 : Math.min(options.maxMs, options.baseMs * 2 ** (over - 1));
      await counters.waitUntil(key, now() + delay);
    },
    succeed: (key) => counters.clear(key),
  };
}
