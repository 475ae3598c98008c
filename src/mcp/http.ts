import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { isAgentSecretsError, toAgentSecretsError } from '../core/errors.js';
import { checkLocalRequest, readBoundedBody, sendJson } from '../core/http-edge.js';
import { listenOn } from '../core/listen.js';
import type { McpDeps, ResolvedTarget, SessionIdentity } from './context.js';
import { createMcpSession } from './server.js';

export interface McpHttpOptions {
  deps: McpDeps;
  defaultTarget: () => Promise<ResolvedTarget>;
  /** Accept sessions without `Authorization: Bearer agt_…` (DESIGN §9: warns). */
  allowAnonymous: boolean;
  /** Browser origins accepted besides loopback ones. */
  allowedOrigins: readonly string[];
  /** `--agent-id` for anonymous sessions. */
  agentId?: string | undefined;
}

interface Session {
  kind: 'streamable' | 'sse';
  transport: StreamableHTTPServerTransport | SSEServerTransport;
  server: McpServer;
  /** A hash of the bearer token the session was opened with, or null (anonymous). */
  tokenHash: Buffer | null;
}

const MAX_BODY = 4 * 1024 * 1024;

/**
 * The MCP server over HTTP: Streamable HTTP at /mcp and legacy SSE at /sse + /messages, on
 * one port. `Host` must be a loopback name and any `Origin` a loopback (or allowed) one; no
 * CORS is granted. Each session is opened with an issued token (verified, and re-verified on
 * every tool call), unless anonymous sessions are allowed; every later request of a session
 * must present the same token. A session whose token stops verifying is ended.
 */
export function createMcpHttpServer(options: McpHttpOptions): {
  server: Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  close(): Promise<void>;
} {
  const sessions = new Map<string, Session>();

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const error = toAgentSecretsError(err);
      if (!res.headersSent) sendJson(res, 500, { error: error.code, message: error.message });
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const refusal = checkOrigin(req, options.allowedOrigins);
    if (refusal !== undefined) return sendJson(res, 403, { error: 'forbidden', message: refusal });
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'OPTIONS')
      return sendJson(res, 403, { error: 'forbidden', message: 'no CORS' });
    if (url.pathname === '/mcp') return streamable(req, res);
    if (url.pathname === '/sse' && req.method === 'GET') return openSse(req, res);
    if (url.pathname === '/messages' && req.method === 'POST') return sseMessage(req, res, url);
    return sendJson(res, 404, {
      error: 'not_found',
      message: 'MCP is served at /mcp (Streamable HTTP) and /sse (legacy SSE)',
    });
  }

  /** Verifies the bearer token that opens a session; returns the session identity. */
  async function authenticate(
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<{ identity: SessionIdentity; hash: Buffer | null } | undefined> {
    const token = bearer(req);
    if (token === undefined) {
      if (options.allowAnonymous) return { identity: { agentId: options.agentId }, hash: null };
      unauthorized(
        res,
        'an agent token is required: send Authorization: Bearer agt_… (a human issues one with `agentsecrets agent token issue NAME`)',
        'invalid_agent_token',
        false,
      );
      return undefined;
    }
    try {
      const target = await options.defaultTarget();
      await options.deps.app.calls.identify({ token, source: 'mcp' }, target.workspaceId);
    } catch (err) {
      const error = toAgentSecretsError(err);
      unauthorized(res, error.message, error.code);
      return undefined;
    }
    return { identity: { token }, hash: digest(token) };
  }

  /** The identity a new session presents, ended by `dropSession` if its token stops verifying. */
  function sessionIdentity(
    identity: SessionIdentity,
    id: () => string | undefined,
  ): SessionIdentity {
    return { ...identity, onTokenRefused: () => dropSession(id()) };
  }

  /**
   * Ends a session at once for new requests (404), and closes it once the refusal that
   * revealed the bad token, already on its way, has been written.
   */
  function dropSession(id: string | undefined): void {
    const session = id === undefined ? undefined : sessions.get(id);
    if (id === undefined || session === undefined) return;
    sessions.delete(id);
    setImmediate(() => void session.server.close().catch(() => undefined));
  }

  /** Every request of an open session must present the token it was opened with. */
  function sameToken(req: IncomingMessage, session: Session): boolean {
    const token = bearer(req);
    if (session.tokenHash === null) return token === undefined || options.allowAnonymous;
    return token !== undefined && timingSafeEqual(digest(token), session.tokenHash);
  }

  async function streamable(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const sessionId = header(req, 'mcp-session-id');
    const body = req.method === 'POST' ? await readJson(req, res) : undefined;
    if (body === null) return;
    if (sessionId !== undefined) {
      const session = sessions.get(sessionId);
      if (session === undefined || session.kind !== 'streamable') {
        return sendJson(res, 404, {
          jsonrpc: '2.0',
          error: { code: -32001, message: 'Session not found' },
          id: null,
        });
      }
      if (!sameToken(req, session))
        return unauthorized(res, 'this session was opened with another token');
      return (session.transport as StreamableHTTPServerTransport).handleRequest(req, res, body);
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      return sendJson(res, 400, {
        jsonrpc: '2.0',
        error: { code: -32000, message: 'Bad Request: no valid session ID provided' },
        id: null,
      });
    }
    const auth = await authenticate(req, res);
    if (auth === undefined) return;
    const mcp = createMcpSession(
      options.deps,
      sessionIdentity(auth.identity, () => transport.sessionId),
      options.defaultTarget,
    );
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        sessions.set(id, { kind: 'streamable', transport, server: mcp, tokenHash: auth.hash });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
  }

  async function openSse(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = await authenticate(req, res);
    if (auth === undefined) return;
    const transport = new SSEServerTransport('/messages', res);
    const mcp = createMcpSession(
      options.deps,
      sessionIdentity(auth.identity, () => transport.sessionId),
      options.defaultTarget,
    );
    sessions.set(transport.sessionId, {
      kind: 'sse',
      transport,
      server: mcp,
      tokenHash: auth.hash,
    });
    res.on('close', () => {
      sessions.delete(transport.sessionId);
      void mcp.close();
    });
    await mcp.connect(transport);
  }

  async function sseMessage(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const session = sessions.get(url.searchParams.get('sessionId') ?? '');
    if (session === undefined || session.kind !== 'sse') {
      return sendJson(res, 404, { error: 'not_found', message: 'no SSE session with this id' });
    }
    if (!sameToken(req, session))
      return unauthorized(res, 'this session was opened with another token');
    const body = await readJson(req, res);
    if (body === null) return;
    await (session.transport as SSEServerTransport).handlePostMessage(req, res, body);
  }

  return {
    server,
    listen: (port, host) => listenOn(server, port, host),
    async close() {
      for (const session of sessions.values()) await session.server.close().catch(() => undefined);
      sessions.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/**
 * DNS rebinding and CSRF defence: a loopback Host, and no Origin unless it is a loopback or
 * explicitly allowed one. Returns why a request is refused, or undefined.
 */
export function checkOrigin(req: IncomingMessage, allowed: readonly string[]): string | undefined {
  return checkLocalRequest(req, { name: 'the MCP server', origins: 'loopback', allowed });
}

function bearer(req: IncomingMessage): string | undefined {
  const value = header(req, 'authorization');
  if (value === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

async function readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown | null> {
  let raw: Buffer;
  try {
    raw = await readBoundedBody(req, MAX_BODY);
  } catch (err) {
    if (!isAgentSecretsError(err, 'request_too_large')) throw err;
    sendJson(res, 413, {
      jsonrpc: '2.0',
      error: { code: -32600, message: 'request too large' },
      id: null,
    });
    return null;
  }
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    sendJson(res, 400, {
      jsonrpc: '2.0',
      error: { code: -32700, message: 'Parse error' },
      id: null,
    });
    return null;
  }
}

/**
 * A 401 with a JSON body and a `WWW-Authenticate` challenge (RFC 6750). The body carries the
 * full message; the header holds only printable ASCII, as Node (and HTTP) require of it, and
 * says `invalid_token` only when a token was presented.
 */
function unauthorized(
  res: ServerResponse,
  message: string,
  code = 'invalid_agent_token',
  presented = true,
): void {
  sendJson(
    res,
    401,
    { error: code, message },
    { 'www-authenticate': challenge(presented ? message : undefined) },
  );
}

/** The `WWW-Authenticate` value: `realm`, and with a refused token its error and description. */
export function challenge(description: string | undefined): string {
  if (description === undefined) return 'Bearer realm="agentsecrets"';
  return `Bearer realm="agentsecrets", error="invalid_token", error_description="${asciiQuoted(description)}"`;
}

/** Text fit for a quoted-string header parameter: printable ASCII without `"` or `\`. */
function asciiQuoted(text: string): string {
  return text
    .replace(/\u2026/g, '...')
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[^\x20-\x7e]|["\\]/g, '');
}
