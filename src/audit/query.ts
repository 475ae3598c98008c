import { UsageError } from '../core/errors.js';
import type { AuditEntry, AuditStatus, IdentityLevel } from './format.js';
import { linesBackward, listSegments, parseEntry } from './reader.js';

/** Filters over audit entries. Every field is optional; all given ones must match. */
export interface AuditFilter {
  agent?: string;
  identity?: IdentityLevel;
  token?: string;
  secret?: string;
  domain?: string;
  method?: string;
  status?: AuditStatus;
  statusClass?: '2xx' | '3xx' | '4xx' | '5xx';
  redacted?: boolean;
  project?: string;
  environment?: string;
  source?: string;
  /** ISO timestamps, inclusive bounds. */
  since?: string;
  until?: string;
}

/**
 * Parses `1h`, `30m`, `7d`, `2w`, an ISO date (`2026-11-20`) or timestamp into an ISO string,
 * relative to `now`.
 */
export function parseWhen(text: string, now: Date = new Date()): string {
  const relative = /^(\d+)\s*(s|m|h|d|w)$/.exec(text.trim());
  if (relative !== null) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[
      relative[2] as 's'
    ];
    return new Date(now.getTime() - Number(relative[1]) * unit).toISOString();
  }
  const date = new Date(text.trim());
  if (!/^\d{4}-\d{2}-\d{2}/.test(text.trim()) || Number.isNaN(date.getTime())) {
    throw new UsageError(
      `a time looks like 1h, 7d, 2026-11-20 or 2026-11-20T10:00:00Z, not '${text}'`,
    );
  }
  return date.toISOString();
}

/** True when `entry` passes `filter`. */
export function matchesFilter(entry: AuditEntry, filter: AuditFilter): boolean {
  if (filter.agent !== undefined && entry.agent_id !== filter.agent) return false;
  if (filter.identity !== undefined && entry.identity_level !== filter.identity) return false;
  if (filter.token !== undefined && entry.token_id !== filter.token) return false;
  if (filter.secret !== undefined && !entry.secret_keys.includes(filter.secret)) return false;
  if (filter.domain !== undefined && entry.domain !== filter.domain.toLowerCase()) return false;
  if (filter.method !== undefined && entry.method !== filter.method.toUpperCase()) return false;
  if (filter.status !== undefined && entry.status !== filter.status) return false;
  if (filter.statusClass !== undefined) {
    const code = entry.status_code;
    if (code === null || `${Math.floor(code / 100)}xx` !== filter.statusClass) return false;
  }
  if (filter.redacted !== undefined && entry.redacted !== filter.redacted) return false;
  if (filter.project !== undefined && entry.project !== filter.project) return false;
  if (filter.environment !== undefined && entry.environment !== filter.environment) return false;
  if (filter.source !== undefined && entry.source !== filter.source) return false;
  if (filter.since !== undefined && entry.timestamp < filter.since) return false;
  if (filter.until !== undefined && entry.timestamp > filter.until) return false;
  return true;
}

/**
 * Substrings a matching line must contain, checked on the raw text before any JSON parse:
 * a full scan of a large log parses only the lines that can match.
 */
export function rawNeedles(filter: AuditFilter): string[] {
  const needles: string[] = [];
  const field = (name: string, value: string) => needles.push(`"${name}":${JSON.stringify(value)}`);
  if (filter.agent !== undefined) field('agent_id', filter.agent);
  if (filter.identity !== undefined) field('identity_level', filter.identity);
  if (filter.token !== undefined) field('token_id', filter.token);
  if (filter.domain !== undefined) field('domain', filter.domain.toLowerCase());
  if (filter.status !== undefined) field('status', filter.status);
  if (filter.source !== undefined) field('source', filter.source);
  if (filter.secret !== undefined) needles.push(JSON.stringify(filter.secret));
  return needles;
}

/** The newest `limit` entries that match, newest first. Stops reading as soon as it has them. */
export async function queryNewest(
  dir: string,
  filter: AuditFilter,
  limit: number,
): Promise<AuditEntry[]> {
  const needles = rawNeedles(filter);
  const found: AuditEntry[] = [];
  const segments = await listSegments(dir);
  for (let i = segments.length - 1; i >= 0 && found.length < limit; i--) {
    // Segment names carry their opening day: older segments cannot hold entries after `until`
    // but may, being rotated by size, hold any time before the next segment's day.
    if (filter.since !== undefined && i + 1 < segments.length) {
      const nextDay = segments[i + 1]!.day;
      const sinceDay = filter.since.slice(0, 10).replace(/-/g, '');
      if (nextDay < sinceDay) break;
    }
    for await (const line of linesBackward(segments[i]!.path, { prefilter: needles })) {
      const entry = parseEntry(line);
      if (entry === undefined || !matchesFilter(entry, filter)) continue;
      found.push(entry);
      if (found.length >= limit) break;
    }
  }
  return found;
}
