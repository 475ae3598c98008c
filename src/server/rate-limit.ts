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
