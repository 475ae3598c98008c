import type * as z from 'zod';
import { AgentSecretsError, type ErrorCode, LOCAL_CODES, WIRE_CODES } from '../core/errors.js';
import { tokensResponse } from './wire.js';

/**
 * The sync server's HTTP client. It holds the access token in memory only; the refresh
 * token lives in the vault and is rotated under a lock (`session`), because two processes
 * presenting the same refresh token would trip the server's reuse detection and sign the
 * user out everywhere.
 */

export interface SessionStore {
  /** Runs `fn` with exclusive use of the stored refresh token (across processes). */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
  getRefresh(): Promise<string | undefined>;
  setRefresh(token: string): Promise<void>;
  /** A still valid access token another command left (F7), if the store keeps one. */
  getAccess?(): Promise<{ token: string; expires_at: number } | undefined>;
  setAccess?(token: string, expiresAt: number): Promise<void>;
}

/** An access token is reused only while it has this much life left. */
const ACCESS_MARGIN_MS = 30_000;

export interface SyncApi {
  readonly serverUrl: string;
  /**
   * An unauthenticated call (sign-up, login, params). The answer is checked against
   * `schema`; one that does not fit is `bad_server_response`, naming the endpoint.
   */
  anonymous<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    body?: unknown,
  ): Promise<z.output<S>>;
  /** An authenticated call; refreshes the session once on 401. Checked like `anonymous`. */
  call<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    body?: unknown,
  ): Promise<z.output<S>>;
  /** Sets the access token (after sign-up or login). */
  useAccess(token: string): void;
}

const KNOWN = new Set<string>([...WIRE_CODES, ...LOCAL_CODES]);
const TIMEOUT_MS = 60_000;

/** Checks and normalises a server URL: https, or http on a loopback address. */
export function normalizeServerUrl(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AgentSecretsError(
      'usage_error',
      `not a URL: '${text}' (e.g. https://sync.example.com)`,
    );
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    if (env.AGENTSECRETS_ALLOW_INSECURE_SERVER !== '1')
      throw new AgentSecretsError(
        'usage_error',
        `the sync server must use https:// (plain http only on 127.0.0.1, localhost or [::1]); got ${url.origin}`,
      );
  }
  return url.origin;
}

export function createSyncApi(
  serverUrl: string,
  session?: SessionStore,
  now: () => number = Date.now,
): SyncApi {
  let access: string | undefined;

  /** Picks up an access token an earlier command stored, instead of a refresh (F7). */
  async function storedAccess(): Promise<void> {
    const stored = await session?.getAccess?.();
    if (stored !== undefined && stored.expires_at - now() > ACCESS_MARGIN_MS) access = stored.token;
  }

  async function send(method: string, path: string, body: unknown, token?: string) {
    let response: Response;
    try {
      response = await fetch(`${serverUrl}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
        // A redirect could carry a password-derived key or a refresh token elsewhere.
        redirect: 'error',
      });
    } catch (cause) {
      throw new AgentSecretsError(
        'remote_unavailable',
        `cannot reach the sync server at ${serverUrl}; check that it runs and the URL (\`agentsecrets status\`)`,
        { cause },
      );
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? {} : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, json };
  }

  function toError(status: number, json: unknown): AgentSecretsError {
    const body = (json ?? {}) as { error?: unknown; message?: unknown; conflicts?: unknown };
    const code =
      typeof body.error === 'string' && KNOWN.has(body.error)
        ? (body.error as ErrorCode)
        : 'remote_error';
    const message =
      typeof body.message === 'string'
        ? `sync server: ${printable(body.message).slice(0, 500)}`
        : `sync server answered HTTP ${status}`;
    return new AgentSecretsError(code, message, {
      context: Array.isArray(body.conflicts)
        ? { conflicts: (body.conflicts as { key: string }[]).map((c) => c.key) }
        : {},
    });
  }

  async function refresh(): Promise<void> {
    if (session === undefined) throw notLoggedIn();
    await session.withLock(async () => {
      const stored = await session.getRefresh();
      if (stored === undefined) throw notLoggedIn();
      const { status, json } = await send('POST', '/v1/auth/refresh', { refresh_token: stored });
      if (status !== 200) throw toError(status, json);
      const tokens = checked('POST', '/v1/auth/refresh', tokensResponse, json);
      await session.setRefresh(tokens.refresh_token);
      access = tokens.access_token;
      await session.setAccess?.(access, now() + tokens.expires_in * 1000);
    });
  }

  return {
    serverUrl,
    async anonymous(method, path, schema, body) {
      const { status, json } = await send(method, path, body);
      if (status >= 400) throw toError(status, json);
      return checked(method, path, schema, json);
    },
    async call(method, path, schema, body) {
      if (access === undefined) await storedAccess();
      if (access === undefined) await refresh();
      let { status, json } = await send(method, path, body, access);
      if (status === 401) {
        await refresh();
        ({ status, json } = await send(method, path, body, access));
      }
      if (status >= 400) throw toError(status, json);
      return checked(method, path, schema, json);
    },
    useAccess(token) {
      access = token;
    },
  };
}

/**
 * The server's answer checked against its schema (issue 11): a body that does not fit is
 * refused as `bad_server_response`, naming the endpoint and the first field that is wrong
 * (never its value), instead of failing later somewhere else.
 */
export function checked<S extends z.ZodType>(
  method: string,
  path: string,
  schema: S,
  json: unknown,
): z.output<S> {
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.map(String).join('.') || 'body';
  throw new AgentSecretsError(
    'bad_server_response',
    `the sync server's answer to ${method} ${printable(path.split('?')[0])} is malformed (${printable(field).slice(0, 100)}: ${printable(issue.message).slice(0, 200)}); nothing was changed here. Check the server URL (\`agentsecrets status\`) and tell the server's operator`,
    { context: { endpoint: `${method} ${printable(path.split('?')[0])}` } },
  );
}

export function notLoggedIn(): AgentSecretsError {
  return new AgentSecretsError(
    'not_logged_in',
    'not signed in to a sync server: run `agentsecrets login --server URL` (or `agentsecrets signup`)',
  );
}

/**
 * The one terminal-safe sanitiser for text from the server (F9): control characters (so no
 * escape sequence reaches a terminal) and invisible or reordering marks (zero-width, bidi
 * overrides that make one name look like another) become `?`.
 */
export function printable(text: unknown): string {
  return String(text).replace(
    // eslint-disable-next-line no-control-regex
    /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g,
    '?',
  );
}
