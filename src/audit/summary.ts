import type { AuditEntry } from './format.js';
import { type AuditFilter, matchesFilter, rawNeedles } from './query.js';
import { listSegments, parseEntry } from './reader.js';
import { forEachLine } from './scan.js';

/** Counts over the audit log (or a slice of it). */
export interface AuditSummary {
  entries: number;
  first: string | null;
  last: string | null;
  byStatus: Record<string, number>;
  byIdentity: Record<string, number>;
  bySource: Record<string, number>;
  topAgents: { agent: string; level: string; count: number }[];
  topSecrets: { secret: string; count: number }[];
  topDomains: { domain: string; count: number }[];
  topBlockReasons: { reason: string; count: number }[];
  redacted: number;
}

/** One pass over the log; only lines that can match the filter are parsed. */
export async function summarize(
  dir: string,
  filter: AuditFilter = {},
  top = 5,
): Promise<AuditSummary> {
  const needles = rawNeedles(filter);
  const byStatus = new Map<string, number>();
  const byIdentity = new Map<string, number>();
  const bySource = new Map<string, number>();
  const agents = new Map<string, number>();
  const secrets = new Map<string, number>();
  const domains = new Map<string, number>();
  const reasons = new Map<string, number>();
  let entries = 0;
  let redacted = 0;
  let first: string | null = null;
  let last: string | null = null;
  const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  const sinceDay = filter.since?.slice(0, 10).replace(/-/g, '');
  const segments = await listSegments(dir);
  for (let i = 0; i < segments.length; i++) {
    // A segment that ends before `since` (the next one opened earlier) holds nothing for us.
    if (sinceDay !== undefined && i + 1 < segments.length && segments[i + 1]!.day < sinceDay)
      continue;
    await forEachLine(
      segments[i]!.path,
      (line) => {
        const entry: AuditEntry | undefined = parseEntry(line);
        if (entry === undefined || !matchesFilter(entry, filter)) return;
        entries++;
        if (first === null || entry.timestamp < first) first = entry.timestamp;
        if (last === null || entry.timestamp > last) last = entry.timestamp;
        bump(byStatus, entry.status);
        bump(byIdentity, entry.identity_level);
        bump(bySource, entry.source);
        if (entry.agent_id !== null) bump(agents, `${entry.agent_id}\u0000${entry.identity_level}`);
        for (const key of entry.secret_keys) bump(secrets, key);
        if (entry.domain !== null) bump(domains, entry.domain);
        if (entry.status === 'BLOCKED' && entry.reason !== null) bump(reasons, entry.reason);
        if (entry.redacted) redacted++;
      },
      { prefilter: needles },
    );
  }
  const topOf = (map: Map<string, number>) =>
    [...map].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, top);
  return {
    entries,
    first,
    last,
    byStatus: Object.fromEntries(byStatus),
    byIdentity: Object.fromEntries(byIdentity),
    bySource: Object.fromEntries(bySource),
    topAgents: topOf(agents).map(([k, count]) => {
      const [agent, level] = k.split('\u0000') as [string, string];
      return { agent, level, count };
    }),
    topSecrets: topOf(secrets).map(([secret, count]) => ({ secret, count })),
    topDomains: topOf(domains).map(([domain, count]) => ({ domain, count })),
    topBlockReasons: topOf(reasons).map(([reason, count]) => ({ reason, count })),
    redacted,
  };
}
