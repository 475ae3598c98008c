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
 * reference, which test/audit/encode.test.ts compares against), without building an object
 * for JSON.stringify to walk. Field order, escaping and number formatting are JSON.stringify's.
 */
export function encodeEntryFast(
  input: AuditInput,
  prevHash: string,
  id: string = input.id!,
  timestamp: string = input.timestamp!,
): { line: string; hash: string; entry: AuditEntry } {
  const targetUrl = clipUrl(input.target_url);
  const domain = clipDomain(input.domain);
  const durationMs = Math.round(input.duration_ms * 1000) / 1000;
  const privateOverride = input.private_override ?? null;
  const command = input.command ?? null;
  const policy = input.policy ?? null;
  const detail = input.detail ?? null;
  const body =
    `{"id":${str(id)},"timestamp":${str(timestamp)}` +
    `,"workspace":${strOrNull(input.workspace)},"project":${strOrNull(input.project)}` +
    `,"environment":${strOrNull(input.environment)},"agent_id":${strOrNull(input.agent_id)}` +
    `,"identity_level":${str(input.identity_level)},"token_id":${strOrNull(input.token_id)}` +
    `,"source":${str(input.source)},"method":${str(input.method)}` +
    `,"target_url":${strOrNull(targetUrl)},"domain":${strOrNull(domain)}` +
    `,"secret_keys":${strings(input.secret_keys)},"auth_styles":${strings(input.auth_styles)}` +
    `,"status":${str(input.status)},"status_code":${num(input.status_code)}` +
    `,"reason":${strOrNull(input.reason)},"redacted":${input.redacted ? 'true' : 'false'}` +
    `,"duration_ms":${num(durationMs)},"private_override":${strOrNull(privateOverride)}` +
    `,"command":${strOrNull(command)},"policy":${strOrNull(policy)}` +
    (detail === null ? '' : `,"detail":${str(detail)}`) +
    `,"prev_hash":${str(prevHash)}}`;
  const hash = sha256(body);
  const entry: AuditEntry = {
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
    target_url: targetUrl,
    domain,
    secret_keys: input.secret_keys,
    auth_styles: input.auth_styles,
    status: input.status as AuditStatus,
    status_code: input.status_code,
    reason: input.reason,
    redacted: input.redacted,
    duration_ms: durationMs,
    private_override: privateOverride,
    command,
    policy,
    ...(detail === null ? {} : { detail }),
    prev_hash: prevHash,
    hash,
  };
  return { line: `${body.slice(0, -1)},"hash":"${hash}"}`, hash, entry };
}

// Strings of printable ASCII without a quote or a backslash (most ids, names, methods, codes)
// are quoted as they are; anything else goes through JSON.stringify.
function str(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return JSON.stringify(value);
  }
  return `"${value}"`;
}

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
const oneShot = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string })
  .hash;
function sha256(text: string): string {
  return oneShot !== undefined
    ? oneShot('sha256', text, 'hex')
    : crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

function num(value: number | null): string {
  return value === null || !Number.isFinite(value) ? 'null' : String(value);
}

function clipUrl(url: string | null): string | null {
  if (url === null || url.length <= MAX_URL_LENGTH) return url;
  return `${url.slice(0, MAX_URL_LENGTH)}…[truncated]`;
}
