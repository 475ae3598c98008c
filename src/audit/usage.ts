import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { listSegments, parseEntry } from './reader.js';

/** Calls and last use, per agent and per token, as the audit log records them. */
export interface Usage {
  calls: number;
  lastUsed: string | null;
}

/**
 * Scans the log for calls made with issued tokens. Lines are pre-filtered on their raw text,
 * so only entries with `"identity_level":"issued"` are parsed.
 */
export async function tokenUsage(
  dir: string,
): Promise<{ agents: Map<string, Usage>; tokens: Map<string, Usage> }> {
  const agents = new Map<string, Usage>();
  const tokens = new Map<string, Usage>();
  const bump = (map: Map<string, Usage>, key: string, at: string) => {
    const usage = map.get(key) ?? { calls: 0, lastUsed: null };
    usage.calls++;
    if (usage.lastUsed === null || at > usage.lastUsed) usage.lastUsed = at;
    map.set(key, usage);
  };
  for (const segment of await listSegments(dir)) {
    const lines = createInterface({ input: createReadStream(segment.path), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line.includes('"identity_level":"issued"')) continue;
      const entry = parseEntry(line);
      if (entry === undefined || entry.identity_level !== 'issued') continue;
      if (entry.agent_id !== null) bump(agents, entry.agent_id, entry.timestamp);
      if (entry.token_id !== null) bump(tokens, entry.token_id, entry.timestamp);
    }
  }
  return { agents, tokens };
}
