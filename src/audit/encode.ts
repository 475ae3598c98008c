import * as crypto from 'node:crypto';
import {
  type AuditEntry,
  type AuditInput,
  clipDomain,
  MAX_URL_LENGTH,
  type AuditSource,
  type AuditStatus,
  type IdentityLevel,
} from './format.js';

/**
 * The audit line, written from a template: the same bytes as `encodeEntry` in format.ts (the
 * reference, which test/audit/lease.test.ts compares against), without building an object
 * for JSON.stringify to walk. Field order, escaping and number formatting are JSON.stringify's.
 */
export function encodeEntryFast(
  input: AuditInput,
  prevHash: string,
  id: string = input.id!,
  timestamp: string = input.timestamp!,
): { line: string; hash: string; entry: AuditEntry } {
  const fields = fieldsOf(input);
  const open = openBody(input, fields, prevHash, id, timestamp);
  const hash = sha256(`${open}}`);
  return {
    line: `${open},"hash":"${hash}"}`,
    hash,
    entry: entryOf(input, fields, prevHash, id, timestamp, hash),
  };
}

/**
 * A batch of audit lines encoded straight into one reusable buffer, for one write: each entry's
 * text is converted to UTF-8 once, and its hash is taken over those bytes (no second
 * conversion, no joined string, no `Buffer.from` copy). The bytes are `encodeEntryFast`'s lines,
 * each followed by a newline.
 */
export class BatchEncoder {
  private buffer: Buffer;
  /** Bytes of the batch so far. */
  length = 0;

  constructor(private readonly initialBytes = 64 * 1024) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  /** Starts a new batch (the previous one's bytes must have been written). */
  reset(): void {
    this.length = 0;
    // A one-off huge batch does not keep its buffer alive.
    if (this.buffer.length > 16 * this.initialBytes)
      this.buffer = Buffer.allocUnsafe(this.initialBytes);
  }

  /** Appends one line; returns the stored entry (with its hash). */
  add(input: AuditInput, prevHash: string, id: string, timestamp: string): AuditEntry {
    const fields = fieldsOf(input);
    const open = openBody(input, fields, prevHash, id, timestamp);
    // UTF-8 takes at most 3 bytes per UTF-16 unit; then `}` (or `,"hash":"…"}`) and a newline.
    this.reserve(open.length * 3 + HASH_SUFFIX_BYTES);
    const start = this.length;
    const buffer = this.buffer;
    let at = start + buffer.write(open, start, 'utf8');
    buffer[at] = 0x7d; // `}`: the hashed text is the line without its hash field
    const hash = sha256(buffer.subarray(start, at + 1));
    at += buffer.write(',"hash":"', at, 'latin1');
    at += buffer.write(hash, at, 'latin1');
    buffer[at++] = 0x22; // `"`
    buffer[at++] = 0x7d; // `}`
    buffer[at++] = 0x0a; // newline
    this.length = at;
    return entryOf(input, fields, prevHash, id, timestamp, hash);
  }

  /** The batch's bytes (a view into the reused buffer: valid until the next `reset`). */
  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }

  private reserve(bytes: number): void {
    if (this.length + bytes <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.length + bytes));
    this.buffer.copy(grown, 0, 0, this.length);
    this.buffer = grown;
  }
}

/** `,"hash":"` + 64 hex digits + `"}` + newline. */
const HASH_SUFFIX_BYTES = 9 + 64 + 3;

/** The values that the line and the entry share, after clipping and rounding. */
interface Fields {
  targetUrl: string | null;
  domain: string | null;
  durationMs: number;
  privateOverride: string | null;
  command: string | null;
  policy: string | null;
  detail: string | null;
}

function fieldsOf(input: AuditInput): Fields {
  return {
    targetUrl: clipUrl(input.target_url),
    domain: clipDomain(input.domain),
    durationMs: Math.round(input.duration_ms * 1000) / 1000,
    privateOverride: input.private_override ?? null,
    command: input.command ?? null,
    policy: input.policy ?? null,
    detail: input.detail ?? null,
  };
}

/** The line up to its hash field, without the closing brace. */
function openBody(
  input: AuditInput,
  f: Fields,
  prevHash: string,
  id: string,
  timestamp: string,
): string {
  return (
    `{"id":${str(id)},"timestamp":${str(timestamp)}` +
    `,"workspace":${strOrNull(input.workspace)},"project":${strOrNull(input.project)}` +
    `,"environment":${strOrNull(input.environment)},"agent_id":${strOrNull(input.agent_id)}` +
    `,"identity_level":${str(input.identity_level)},"token_id":${strOrNull(input.token_id)}` +
    `,"source":${str(input.source)},"method":${str(input.method)}` +
    `,"target_url":${strOrNull(f.targetUrl)},"domain":${strOrNull(f.domain)}` +
    `,"secret_keys":${strings(input.secret_keys)},"auth_styles":${strings(input.auth_styles)}` +
    `,"status":${str(input.status)},"status_code":${num(input.status_code)}` +
    `,"reason":${strOrNull(input.reason)},"redacted":${input.redacted ? 'true' : 'false'}` +
    `,"duration_ms":${num(f.durationMs)},"private_override":${strOrNull(f.privateOverride)}` +
    `,"command":${strOrNull(f.command)},"policy":${strOrNull(f.policy)}` +
    (f.detail === null ? '' : `,"detail":${str(f.detail)}`) +
    `,"prev_hash":${str(prevHash)}`
  );
}

function entryOf(
  input: AuditInput,
  f: Fields,
  prevHash: string,
  id: string,
  timestamp: string,
  hash: string,
): AuditEntry {
  return {
    id,
    timestamp,
    workspace: input.workspace,
    project: input.project,
    environment: input.environment,
    agent_id: input.agent_id,
    identity_level: input.identity_level as IdentityLevel,
    token_id: input.token_id,
    source: input.source as AuditSource,
    method: input.method,
    target_url: f.targetUrl,
    domain: f.domain,
    secret_keys: input.secret_keys,
    auth_styles: input.auth_styles,
    status: input.status as AuditStatus,
    status_code: input.status_code,
    reason: input.reason,
    redacted: input.redacted,
    duration_ms: f.durationMs,
    private_override: f.privateOverride,
    command: f.command,
    policy: f.policy,
    ...(f.detail === null ? {} : { detail: f.detail }),
    prev_hash: prevHash,
    hash,
  };
}

// Strings of printable ASCII without a quote or a backslash (most ids, names, methods, codes)
// are quoted as they are; anything else goes through JSON.stringify.
function str(value: string): string {
  return NEEDS_ESCAPING.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/** A UTF-16 unit outside printable ASCII, or a quote, or a backslash. */
const NEEDS_ESCAPING = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;

function strOrNull(value: string | null | undefined): string {
  return value === null || value === undefined ? 'null' : str(value);
}

function strings(values: readonly string[]): string {
  if (values.length === 0) return '[]';
  let out = '[';
  for (let i = 0; i < values.length; i++) out += (i === 0 ? '' : ',') + str(values[i]!);
  return `${out}]`;
}

// One-shot hashing (node >= 20.12) skips building a Hash object per entry.
const oneShot = (
  crypto as { hash?: (algorithm: string, data: string | Buffer, encoding: 'hex') => string }
).hash;
function sha256(data: string | Buffer): string {
  return oneShot !== undefined
    ? oneShot('sha256', data, 'hex')
    : crypto.createHash('sha256').update(data).digest('hex');
}

function num(value: number | null): string {
  return value === null || !Number.isFinite(value) ? 'null' : String(value);
}

function clipUrl(url: string | null): string | null {
  if (url === null || url.length <= MAX_URL_LENGTH) return url;
  return `${url.slice(0, MAX_URL_LENGTH)}…[truncated]`;
}
