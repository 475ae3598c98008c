import { createHash } from 'node:crypto';

/**
 * The on-disk audit format (DESIGN §8), fixed here for good:
 *
 * - `audit/seg-NNNNNN-YYYYMMDD.jsonl`: append-only segments; the six-digit sequence orders
 *   them, the date says which UTC day they were opened on. Segments rotate by size and by day.
 * - One JSON object per line, with the fields below in this order, `prev_hash` second to last
 *   and `hash` last.
 * - `hash` = SHA-256 (hex) of the line's bytes up to and excluding `,"hash":…`, with the
 *   closing brace put back: `sha256(line.slice(0, line.lastIndexOf(',"hash":')) + '}')`.
 *   Verification needs no canonical JSON: it hashes the bytes that are there.
 * - `prev_hash` is the previous entry's hash, across segment boundaries; the first entry of
 *   the log links to 64 zeros.
 *
 * There is no value field, and nothing that could hold one: target URLs are recorded as the
 * agent sent them (before injection) and are scrubbed of injected values as well.
 */

export const IDENTITY_LEVELS = ['anonymous', 'declared', 'issued'] as const;
export type IdentityLevel = (typeof IDENTITY_LEVELS)[number];

export const AUDIT_SOURCES = ['proxy', 'mcp', 'cli', 'sdk', 'env', 'run'] as const;
export type AuditSource = (typeof AUDIT_SOURCES)[number];

export const AUDIT_STATUSES = ['OK', 'BLOCKED', 'ERROR'] as const;
export type AuditStatus = (typeof AUDIT_STATUSES)[number];

/** The hash every log starts from. */
export const GENESIS_HASH = '0'.repeat(64);

/** Longest target URL kept in an entry; longer ones are cut (with a marker). */
export const MAX_URL_LENGTH = 2048;
/** The longest `domain` kept in an entry: the longest DNS name. */
export const MAX_DOMAIN_LENGTH = 253;

/** What a caller records. The writer adds id, timestamp (unless given) and the chain. */
export interface AuditInput {
  /** Preassigned id, when the caller must know it early (the proxy's X-AS-Request-Id). */
  id?: string;
  timestamp?: string;
  workspace: string | null;
  project: string | null;
  environment: string | null;
  agent_id: string | null;
  identity_level: IdentityLevel;
  token_id: string | null;
  source: AuditSource;
  method: string;
  target_url: string | null;
  domain: string | null;
  secret_keys: string[];
  auth_styles: string[];
  status: AuditStatus;
  status_code: number | null;
  reason: string | null;
  redacted: boolean;
  duration_ms: number;
  /** The private-network override in force (DESIGN §7), or null. */
  private_override?: string | null;
  /** For `env` runs: the program's name (never its arguments). */
  command?: string | null;
  /** The policy decision that applied (issue: identity), e.g. `agent:billing` or `workspace-default`. */
  policy?: string | null;
  /** Why a response was withheld, in words (never content); written only when present. */
  detail?: string | null;
}

/** A stored entry. */
export interface AuditEntry extends Required<Omit<AuditInput, 'timestamp' | 'id' | 'detail'>> {
  detail?: string;
  id: string;
  timestamp: string;
  prev_hash: string;
  hash: string;
}

/** Serialises an entry (fields in the fixed order) and computes its hash. */
export function encodeEntry(
  input: AuditInput & { id: string; timestamp: string },
  prevHash: string,
): { line: string; hash: string; entry: AuditEntry } {
  const fields = {
    id: input.id,
    timestamp: input.timestamp,
    workspace: input.workspace,
    project: input.project,
    environment: input.environment,
    agent_id: input.agent_id,
    identity_level: input.identity_level,
    token_id: input.token_id,
    source: input.source,
    method: input.method,
    target_url: clipUrl(input.target_url),
    domain: clipDomain(input.domain),
    secret_keys: input.secret_keys,
    auth_styles: input.auth_styles,
    status: input.status,
    status_code: input.status_code,
    reason: input.reason,
    redacted: input.redacted,
    duration_ms: Math.round(input.duration_ms * 1000) / 1000,
    private_override: input.private_override ?? null,
    command: input.command ?? null,
    policy: input.policy ?? null,
    ...(input.detail === undefined || input.detail === null ? {} : { detail: input.detail }),
    prev_hash: prevHash,
  };
  const body = JSON.stringify(fields);
  const hash = sha256Hex(body);
  return { line: `${body.slice(0, -1)},"hash":"${hash}"}`, hash, entry: { ...fields, hash } };
}

const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/;

/** The stored hash of a line and the hash its bytes actually have; undefined if malformed. */
export function lineHashes(line: string): { stored: string; actual: string } | undefined {
  const match = HASH_SUFFIX.exec(line);
  if (match === null) return undefined;
  return { stored: match[1]!, actual: sha256Hex(`${line.slice(0, match.index)}}`) };
}

/** The stored hash at the end of a line, without verifying it. */
export function storedHash(line: string): string | undefined {
  return HASH_SUFFIX.exec(line)?.[1];
}

/** The id of an entry line (the first field), or null. */
export function entryIdOf(line: string): string | null {
  if (!line.startsWith('{"id":"')) return null;
  const end = line.indexOf('"', 7);
  return end === -1 ? null : line.slice(7, end);
}

/** SHA-256 hex of a UTF-8 string. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** A host longer than any DNS name is an agent's text: kept to that length. */
export function clipDomain(domain: string | null): string | null {
  if (domain === null || domain.length <= MAX_DOMAIN_LENGTH) return domain;
  return `${domain.slice(0, MAX_DOMAIN_LENGTH)}…[truncated]`;
}

function clipUrl(url: string | null): string | null {
  if (url === null || url.length <= MAX_URL_LENGTH) return url;
  return `${url.slice(0, MAX_URL_LENGTH)}…[truncated]`;
}

/** Segment file name for a sequence number and a UTC day. */
export function segmentName(seq: number, day: string): string {
  return `seg-${String(seq).padStart(6, '0')}-${day}.jsonl`;
}

const SEGMENT_PATTERN = /^seg-(\d{6,})-(\d{8})\.jsonl$/;

/** Parses a segment file name; undefined if it is not one. */
export function parseSegmentName(name: string): { seq: number; day: string } | undefined {
  const match = SEGMENT_PATTERN.exec(name);
  return match === null ? undefined : { seq: Number(match[1]), day: match[2]! };
}

/** The UTC day of a date as YYYYMMDD. */
export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10).replace(/-/g, '');
}
