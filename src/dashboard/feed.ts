import type { AuditEntry } from '../audit/format.js';
import { followEntries } from '../audit/reader.js';

/**
 * One follower of the audit log for the whole dashboard: every new entry, from any writer
 * (the key holder, a CLI run), goes to the overview index and to each live view.
 */
export interface AuditFeed {
  subscribe(listener: (entry: AuditEntry) => void): () => void;
  close(): void;
}

/** Starts following `dir`. */
export function startAuditFeed(dir: string, intervalMs = 200): AuditFeed {
  const listeners = new Set<(entry: AuditEntry) => void>();
  const abort = new AbortController();
  void (async () => {
    try {
      for await (const entry of followEntries(dir, { signal: abort.signal, intervalMs })) {
        for (const listener of listeners) {
          try {
            listener(entry);
          } catch {
            // One broken view must not stop the others.
          }
        }
      }
    } catch {
      // The log went away (the state folder was removed); live views stop updating.
    }
  })();
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      abort.abort();
    },
  };
}
