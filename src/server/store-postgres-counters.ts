import { createHash } from 'node:crypto';
import type { SharedCounters } from './rate-limit.js';
import { first, type Query } from './store-postgres-db.js';

/**
 * Rate-limit counters in PostgreSQL (issue 12, F11), shared by every server process on the
 * database. Keys (client addresses, emails) are stored as SHA-256 hashes only. Expired rows
 * are swept now and then as hits come in.
 */
export function postgresCounters(q: Query): SharedCounters {
  const hashed = (key: string) => createHash('sha256').update(key).digest('hex');
  let hits = 0;
  return {
    async hit(bucket, key, windowMs, nowMs) {
      if (++hits % 500 === 0)
        await q('DELETE FROM rate_windows WHERE start_ms < $1', [nowMs - 24 * 3600_000]);
      const row = first(
        await q<{ start_ms: string; count: number }>(
          `INSERT INTO rate_windows (bucket, key, start_ms, count) VALUES ($1, $2, $3, 1)
           ON CONFLICT (bucket, key) DO UPDATE SET
             start_ms = CASE WHEN $3 - rate_windows.start_ms >= $4 THEN $3
                             ELSE rate_windows.start_ms END,
             count = CASE WHEN $3 - rate_windows.start_ms >= $4 THEN 1
                          ELSE rate_windows.count + 1 END
           RETURNING start_ms, count`,
          [bucket, hashed(key), nowMs, windowMs],
        ),
      )!;
      return { start: Number(row.start_ms), count: row.count };
    },
    async failure(key) {
      const row = first(
        await q<{ failures: number }>(
          `INSERT INTO rate_backoff (key, failures, until_ms) VALUES ($1, 1, 0)
           ON CONFLICT (key) DO UPDATE SET failures = rate_backoff.failures + 1
           RETURNING failures`,
          [hashed(key)],
        ),
      )!;
      return row.failures;
    },
    async waitUntil(key, untilMs) {
      await q('UPDATE rate_backoff SET until_ms = $2 WHERE key = $1', [hashed(key), untilMs]);
    },
    async waiting(key) {
      const row = first(
        await q<{ until_ms: string }>('SELECT until_ms FROM rate_backoff WHERE key = $1', [
          hashed(key),
        ]),
      );
      return row === undefined ? undefined : Number(row.until_ms);
    },
    async clear(key) {
      await q('DELETE FROM rate_backoff WHERE key = $1', [hashed(key)]);
    },
  };
}
