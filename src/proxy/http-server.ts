import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { HangUp } from '../core/hang-up.js';
import { AgentSecretsError, toAgentSecretsError } from '../core/errors.js';
import { listenOn } from '../core/listen.js';
import {
  checkLocalRequest,
  hasNoBody,
  NO_BODY,
  type OriginPolicy,
  readBoundedBody,
  sendJson as sendEdgeJson,
} from '../core/http-edge.js';
import type { Caller, Engine, EngineResponse, Target } from './engine.js';
import { httpStatusOf } from './engine.js';
import { declaredCaller } from '../identity/caller.js';
import { parseProxyHeaders } from './protocol.js';

/** Bodies up to this size are buffered so X-AS-Redacted and Content-Length are exact. */
const BUFFER_LIMIT = 1024 * 1024;

export interface ProxyServerOptions {
  engine: Engine;
  /** Required on /proxy and /sync unless null (`--no-session-token`). */
  sessionToken: string | null;
  maxRequestBytes: number;
  /** The target when a request names no project or environment. */
  resolveTarget: (names: { project?: string; environment?: string }) => Promise<Target>;
  /** Establishes the caller from the request's identity headers (a token is verified). */
  identify: (
    headers: { agentId: string | undefined; agentToken: string | undefined },
    target: Target,
  ) => Promise<Caller>;
  /** POST /sync: refresh shared state (allowlist, policy, revocations). */
  sync?: () => Promise<Record<string, unknown>>;
  version: string;
}

/** The localhost credential proxy (DESIGN §7): /proxy, /health, /sync. */
export interface ProxyServer {
  readonly server: Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Stops accepting, lets in-flight requests finish, then resolves. */
  close(): Promise<void>;
}

/** Creates the proxy's HTTP server. */
export function createProxyServer(options: ProxyServerOptions): ProxyServer {
  // Requests being handled, so that close() can wait for them (a count, not a set of
  // promises: one promise and no closures per request).
  let active = 0;
  let drained: (() => void) | undefined;
  const settled = () => {
    if (--active === 0) drained?.();
  };
  const server = createServer((req, res) => {
    active++;
    void handle(req, res).then(settled);
  });
  // Slow clients may not hold connections open forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;

  /** Answers one request; never rejects (a failure is answered, or the connection dropped). */
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      await route(req, res);
    } catch {
      if (!res.headersSent)
        sendError(res, new AgentSecretsError('internal_error', 'internal error'));
      else res.destroy();
    }
  }

  /** Not async: /proxy's promise is handed back as it is (no second promise around it). */
  function route(req: IncomingMessage, res: ServerResponse): Promise<void> | void {
    const guard = checkLocalOrigin(req);
    if (guard !== undefined) return sendError(res, guard);
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (path === '/health' && req.method === 'GET') {
      return sendJson(res, 200, { status: 'ok', version: options.version });
    }
    if (path === '/sync' && (req.method === 'POST' || req.method === 'GET')) {
      const session = checkSession(req.headers['x-as-session-token']);
      if (session !== undefined) return sendError(res, session);
      return sync(res);
    }
    if (path === '/proxy') return proxy(req, res);
    return sendError(
      res,
      new AgentSecretsError('bad_request', 'unknown endpoint; use /proxy, /health or /sync'),
    );
  }

  async function sync(res: ServerResponse): Promise<void> {
    sendJson(res, 200, options.sync ? await options.sync() : { status: 'ok', synced: false });
  }

  async function proxy(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const session = checkSession(req.headers['x-as-session-token']);
    if (session !== undefined) {
      await options.engine
        .recordRefusal({ caller: anonymous(), method: req.method ?? 'GET' }, session)
        .catch(() => undefined);
      return sendError(res, session);
    }
    let parsed;
    let target: Target | undefined;
    let caller: Caller | undefined;
    let body: Buffer;
    try {
      parsed = parseProxyHeaders(req.rawHeaders);
      target = await options.resolveTarget({
        project: parsed.project,
        environment: parsed.environment,
      });
      caller = await options.identify(
        { agentId: parsed.agentId, agentToken: parsed.agentToken },
        target,
      );
      body = hasNoBody(req) ? NO_BODY : await readBody(req, options.maxRequestBytes);
    } catch (err) {
      const error = toAgentSecretsError(err);
      // Once the target is known, the claim, if valid, attributes a refused token in the
      // audit log; it grants nothing.
      if (caller === undefined)
        caller =
          parsed !== undefined && target !== undefined ? claimed(parsed.agentId) : anonymous();
      await options.engine
        .recordRefusal(
          {
            caller,
            method: parsed?.method ?? req.method ?? 'GET',
            ...(parsed === undefined
              ? {}
              : { url: parsed.targetUrl, injections: parsed.injections }),
            ...(target === undefined ? {} : { target }),
          },
          error,
        )
        .catch(() => undefined);
      return sendError(res, error);
    }

    let response;
    // A client that hangs up stops its call (one held for approval leaves the queue at once).
    const gone = new HangUp();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    try {
      response = await options.engine.execute({
        signal: gone,
        upstreamSignal: gone,
        url: parsed.targetUrl,
        method: parsed.method ?? req.method ?? 'GET',
        headers: parsed.forward,
        body: body.length === 0 ? undefined : body,
        injections: parsed.injections,
        target,
        caller,
      });
    } catch (err) {
      return sendError(res, toAgentSecretsError(err));
    }

    await relayResponse(res, response, parsed.method ?? req.method ?? 'GET');
  }

  const expected = options.sessionToken === null ? null : Buffer.from(options.sessionToken);
  // What a caller presents is written here to be compared (no buffer per call).
  const presentedBytes = expected === null ? null : Buffer.alloc(expected.length);
  function checkSession(presented: string | string[] | undefined): AgentSecretsError | undefined {
    if (expected === null || presentedBytes === null) return undefined;
    const value = Array.isArray(presented) ? presented[0] : presented;
    if (value !== undefined && safeEqual(value, expected, presentedBytes)) return undefined;
    return new AgentSecretsError(
      'invalid_session',
      'missing or wrong X-AS-Session-Token; clients read it from proxy.json in the agentsecrets state folder',
    );
  }

  return {
    server,
    listen: (port, host) => listenOn(server, port, host),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      if (active > 0) await new Promise<void>((resolve) => (drained = resolve));
    },
  };
}

const PROXY_ORIGINS: OriginPolicy = { name: 'the proxy', origins: 'none' };

/**
 * DNS rebinding and CSRF defence: the Host must be a loopback name or address, and a request
 * that carries an Origin (any browser page) gets nothing. There are no CORS grants at all.
 */
function checkLocalOrigin(req: IncomingMessage): AgentSecretsError | undefined {
  const refused =
    checkLocalRequest(req, PROXY_ORIGINS) ??
    (req.method === 'OPTIONS' ? 'CORS preflights are refused' : undefined);
  return refused === undefined ? undefined : new AgentSecretsError('invalid_session', refused);
}

/**
 * Sends an engine response to an HTTP client, for the proxy and `run`'s intercepting proxy
 * alike. A body up to 1 MiB is buffered and sent with its length; a larger one, or an event
 * stream, goes on as it comes (still scrubbed). Either way the audit entry is written before
 * the last byte is released.
 */
export async function relayResponse(
  res: ServerResponse,
  response: EngineResponse,
  method: string,
): Promise<void> {
  // One flat header list: the upstream's (less the framing), our request id, and the rest below.
  const headers: string[] = [];
  let streaming = false;
  for (const [name, value] of response.headers) {
    const lower = name.toLowerCase();
    if (lower === 'content-length' || lower === 'transfer-encoding') continue;
    if (lower === 'content-type' && /text\/event-stream/i.test(value)) streaming = true;
    headers.push(name, value);
  }
  headers.push('X-AS-Request-Id', response.requestId);
  const bodyless = method === 'HEAD' || response.status === 204 || response.status === 304;
  const whole = response.whole;
  if (whole !== undefined) {
    // The whole (redacted) body is in hand, and its audit entry on its way.
    if (response.redacted()) headers.push('X-AS-Redacted', 'true');
    if (!bodyless) headers.push('Content-Length', String(whole.length));
    res.writeHead(response.status, headers);
    try {
      await response.done;
    } catch {
      return void res.destroy();
    }
    res.end(bodyless ? undefined : whole);
    return;
  }
  let collected: Collected = { chunks: [], size: 0, complete: false };
  try {
    if (!streaming) collected = await collect(response.body, BUFFER_LIMIT);
  } catch (err) {
    await response.done.catch(() => undefined);
    return sendError(res, toAgentSecretsError(err));
  }
  const { chunks: buffered, size, complete } = collected;
  if (response.redacted()) headers.push('X-AS-Redacted', 'true');
  if (complete && !bodyless) headers.push('Content-Length', String(size));
  res.writeHead(response.status, headers);
  if (complete) {
    try {
      await response.done;
    } catch {
      return void res.destroy();
    }
    res.end(
      bodyless ? undefined : buffered.length === 1 ? buffered[0] : Buffer.concat(buffered, size),
    );
    return;
  }
  for (const chunk of buffered) res.write(chunk);
  const iterator = response.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      if (!res.write(next.value)) await new Promise((resolve) => res.once('drain', resolve));
    }
    await response.done;
    res.end();
  } catch {
    await response.done.catch(() => undefined);
    res.destroy();
  }
}

interface Collected {
  chunks: Buffer[];
  size: number;
  /** The body ended within the limit (else the stream is paused where it stopped). */
  complete: boolean;
}

/**
 * Reads a body up to `limit` bytes with plain listeners (an async iterator per call costs
 * more). Past the limit it pauses the stream and leaves the rest to be read.
 */
function collect(body: Readable, limit: number): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) {
        body.pause();
        done();
        resolve({ chunks, size, complete: false });
      }
    };
    const onEnd = () => {
      done();
      resolve({ chunks, size, complete: true });
    };
    const onError = (err: unknown) => {
      done();
      reject(err);
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
  });
}

/** Reads a request body, refusing one over `max` bytes (declared or actual). */
export function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return readBoundedBody(req, max, `${max} bytes (AGENTSECRETS_MAX_REQUEST_BYTES)`);
}

/** `a` (as UTF-8) equals `right`, compared in constant time; `scratch` is right's length. */
function safeEqual(a: string, right: Buffer, scratch: Buffer): boolean {
  if (Buffer.byteLength(a) !== right.length) return false;
  scratch.write(a);
  return timingSafeEqual(scratch, right);
}

/** A caller that named nobody (a fresh object per use: callers are not shared). */
function anonymous(): Caller {
  return { level: 'anonymous', agentId: null, tokenId: null, source: 'proxy' };
}

/** The caller a request claims to be (X-AS-Agent-ID), or anonymous for a malformed name. */
function claimed(agentId: string | undefined): Caller {
  try {
    return declaredCaller(agentId, 'proxy');
  } catch {
    // An invalid name was refused by identify().
    return anonymous();
  }
}

/**
 * Sends a JSON error: `{"error": code, "message": …, …context}` with the code's status, and
 * `X-AS-Error: <code>` so clients can tell a refusal from an upstream's own error response.
 */
export function sendError(res: ServerResponse, error: AgentSecretsError): void {
  sendJson(
    res,
    httpStatusOf(error.code),
    { error: error.code, message: error.message, ...error.context },
    error.code === 'request_too_large',
  );
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  closeConnection = false,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const code = (body as { error?: unknown }).error;
  sendEdgeJson(res, status, body, {
    ...(status >= 400 && typeof code === 'string' ? { 'x-as-error': code } : {}),
    ...(closeConnection ? { connection: 'close' } : {}),
  });
}
