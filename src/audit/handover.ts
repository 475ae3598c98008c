import { request as httpRequest } from 'node:http';
import { arr, bool, num, obj, optStr, ShapeError, str } from '../core/validate.js';
import {
  AUDIT_SOURCES,
  AUDIT_STATUSES,
  type AuditEntry,
  type AuditInput,
  IDENTITY_LEVELS,
} from './format.js';

/**
 * Entries handed to the key holder's audit writer (DESIGN §8): while a key holder runs it holds
 * the audit lock, and a writer in another process (a CLI command, `env`, a strict-mode gate)
 * posts its batch to the key holder's socket instead of waiting for the lock. The key holder
 * appends them to its chain as they are (ids and timestamps were given by their writer) and
 * answers once they are written to the OS, so the durability is the same as a local append.
 */

/** A batch as it goes over the socket: inputs with their id and timestamp already fixed. */
export type HandedInput = AuditInput & { id: string; timestamp: string };

/** Posts a batch to the key holder; resolves with the stored entries, in order. */
export async function handOver(socketPath: string, inputs: HandedInput[]): Promise<AuditEntry[]> {
  const text = JSON.stringify({ entries: inputs });
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest(
      {
        socketPath,
        path: '/v1/audit/append',
        method: 'POST',
        timeout: 10_000,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 500, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('the key holder did not answer')));
    req.on('error', reject);
    req.end(text);
  });
  if (answer.status !== 200)
    throw new Error(`the key holder refused the entries (${answer.status})`);
  return arr(obj(JSON.parse(answer.body), 'answer').entries, 'entries') as AuditEntry[];
}

/** Validates a handed-over batch (the socket is ours, but a malformed batch must not crash). */
export function handedInputs(body: Record<string, unknown>): HandedInput[] {
  return arr(body.entries, 'entries').map((raw, i) => {
    const e = obj(raw, `entries[${i}]`);
    const at = (field: string) => `entries[${i}].${field}`;
    const nullable = (field: string) => optStr(e[field], at(field)) ?? null;
    const oneOf = <T extends string>(field: string, allowed: readonly T[]): T => {
      const value = str(e[field], at(field));
      if (!(allowed as readonly string[]).includes(value))
        throw new ShapeError(at(field), `one of ${allowed.join(', ')}`);
      return value as T;
    };
    const detail = optStr(e.detail, at('detail'));
    return {
      id: str(e.id, at('id')),
      timestamp: str(e.timestamp, at('timestamp')),
      workspace: nullable('workspace'),
      project: nullable('project'),
      environment: nullable('environment'),
      agent_id: nullable('agent_id'),
      identity_level: oneOf('identity_level', IDENTITY_LEVELS),
      token_id: nullable('token_id'),
      source: oneOf('source', AUDIT_SOURCES),
      method: str(e.method, at('method')),
      target_url: nullable('target_url'),
      domain: nullable('domain'),
      secret_keys: arr(e.secret_keys, at('secret_keys')).map((k) => str(k, at('secret_keys'))),
      auth_styles: arr(e.auth_styles, at('auth_styles')).map((k) => str(k, at('auth_styles'))),
      status: oneOf('status', AUDIT_STATUSES),
      status_code: e.status_code === null ? null : num(e.status_code, at('status_code')),
      reason: nullable('reason'),
      redacted: bool(e.redacted, at('redacted')),
      duration_ms: num(e.duration_ms, at('duration_ms')),
      private_override: nullable('private_override'),
      command: nullable('command'),
      policy: nullable('policy'),
      ...(detail === undefined ? {} : { detail }),
    };
  });
}
