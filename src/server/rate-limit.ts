/**
 * A fixed-window counter per key, for the sign-in endpoints: `take` admits a request or
 * answers how many milliseconds remain until the key's window resets. Memory is bounded:
 * expired windows are dropped as the map grows. Counters are per server process (several
 * processes behind one database each allow `limit`); the Argon2id cost on the client and
 * the 256-bit auth key are what make guessing hopeless, this only stops hammering.
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
