/**
 * Tool calls still running, so that shutdown can wait for them: a call in flight writes its
 * audit entry when it ends, and the credential service must not close before it has.
 */
export interface Inflight {
  /** Runs `work`, counted as running until it settles. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** How many calls are running now. */
  readonly size: number;
  /** Resolves true once nothing runs, or false after `timeoutMs` if something still does. */
  drain(timeoutMs: number): Promise<boolean>;
}

/** Creates an empty set of running calls. */
export function createInflight(): Inflight {
  const running = new Set<Promise<unknown>>();
  return {
    run(work) {
      const promise = work();
      running.add(promise);
      const forget = () => void running.delete(promise);
      promise.then(forget, forget);
      return promise;
    },
    get size() {
      return running.size;
    },
    async drain(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const expired = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      try {
        // Calls may start while others end (a client still sending): wait until none is left.
        while (running.size > 0) {
          const settled = Promise.allSettled([...running]).then(() => true as const);
          if (!(await Promise.race([settled, expired]))) return false;
        }
        return true;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
