/** Sync state of one key against the remote (DESIGN §10). */
export type DiffState = 'local_only' | 'remote_only' | 'out_of_sync' | 'in_sync';

/** One key's diff. `newer` says which side changed for out_of_sync; `both` is a conflict. */
export interface KeyDiff {
  key: string;
  state: DiffState;
  newer: 'local' | 'remote' | 'both' | null;
  local_version: number | null;
  remote_version: number | null;
  /** A signed deletion (tombstone) of this key is on the server; a pull deletes it here. */
  remote_deleted?: boolean;
}

/** The result of a diff, or the honest answer that there is no remote. */
export interface DiffResult {
  remote_configured: boolean;
  message: string;
  keys: KeyDiff[];
}

/** The result of a pull: counts and names, never values. */
export interface PullResult {
  remote_configured: boolean;
  message: string;
  pulled: string[];
  conflicts: string[];
  /** Keys deleted here because a member pushed a signed deletion (tombstone). */
  deleted?: string[];
  /** Keys the server sent but this client would not apply, with why (never a value). */
  refused?: RefusedRecord[];
  unchanged: number;
}

/** A remote record left out of a pull, and why. */
export interface RefusedRecord {
  key: string;
  reason: string;
}

/** The message when no sync server is configured. */
export const NO_REMOTE = 'no remote configured — run `agentsecrets login`';
