import { timingSafeEqual } from 'node:crypto';
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import type * as z from 'zod';
import { AgentSecretsError, type ErrorCode } from '../core/errors.js';
import type { Sodium } from '../crypto/sodium.js';
import type { CidrSet } from '../proxy/ssrf.js';
import type { Sessions } from './auth.js';
import type { ServerStore, UserRow } from './store.js';

/** What the sync server's route groups share: types, limits, body parsing, errors. */

export interface AppOptions {
  store: ServerStore;
  sessions: Sessions;
  logger: Logger;
  signup: 'open' | 'invite';
  now?: () => Date;
  /** Reverse proxies whose X-Forwarded-For is believed (`server start --trust-proxy`). */
  trustProxy?: CidrSet;
}

export type Env = { Bindings: HttpBindings; Variables: { userId: string } };
export type Ctx = Context<Env>;

/** Everything a route group needs, built once by `createApp`. */
export interface RouteDeps {
  options: AppOptions;
  store: ServerStore;
  sessions: Sessions;
  sodium: Sodium;
  now: () => Date;
  publicUser: (u: UserRow) => PublicUser;
  /** Refuses (429) when the caller's address, or the email's back-off, says wait. */
  throttle: (c: Ctx, email?: string, limiter?: 'auth' | 'refresh') => Promise<void>;
  emailBackoff: { fail(key: string): Promise<void>; succeed(key: string): Promise<void> };
}

export interface PublicUser {
  id: string;
  email: string;
  box_public: string;
  sign_public: string;
  fingerprint: string;
}

export const SMALL = 64 * 1024;
/** Links of the document log per answer; a client pages through longer ones. */
export const CHAIN_PAGE = 2000;
export const PUSH = 32 * 1024 * 1024;
export const ROTATE = 128 * 1024 * 1024;

export function fail(code: ErrorCode, message: string): AgentSecretsError {
  return new AgentSecretsError(code, message);
}

/** Parses the JSON body against `schema`; the error names the field, never its value. */
export async function body<T extends z.ZodType>(c: Ctx, schema: T): Promise<z.infer<T>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw fail('bad_request', 'the request body is not valid JSON');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw fail('bad_request', `invalid ${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  return parsed.data;
}

/** A body size limit; the rest of an oversized body is not read. */
export const limit = (maxSize: number) =>
  bodyLimit({
    maxSize,
    // The rest of the body is not read: the connection cannot carry another request.
    onError: (c) =>
      c.json(
        { error: 'request_too_large', message: `the request body is over ${maxSize} bytes` },
        413,
        { connection: 'close' },
      ),
  });

export function errorName(err: unknown): string {
  return err instanceof Error ? err.name : typeof err;
}

/** Constant-time comparison of two SHA-256 hex digests. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}
