import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import type { AuditWriter } from '../audit/writer.js';
import type { Limits } from '../core/config.js';
import { AgentSecretsError, toAgentSecretsError } from '../core/errors.js';
import { hostNameOf } from '../core/http-edge.js';
import { listenOn } from '../core/listen.js';
import { matchAllowlist, parseAllowlistEntry } from '../policy/allowlist.js';
import type { RunHost, RunSession } from './run-session.js';
import type { Workspace } from '../workspace/model.js';
import type { LocalCa } from './ca.js';
import { type Caller, type Engine, httpStatusOf } from './engine.js';
import type { Resolver } from './forward.js';
import { sendError } from './http-server.js';
import {
  badAuthority,
  errorBody,
  proxyAuthError,
  refuseMalformed,
  refuseUpgrade,
  writeRaw,
} from './connect-replies.js';
import { handleIntercepted } from './intercept-request.js';
import { checkAddress, type CidrSet, literalAddress } from './ssrf.js';

/**
 * The intercepting proxy that `run` children use (issue 13), on its own port beside the
 * X-AS-* proxy. A child authenticates with its run token (Proxy-Authorization, from the
 * proxy URL in HTTPS_PROXY). `CONNECT` to an allowlisted, SSRF-safe host is terminated with a
 * leaf from the local CA (ALPN http/1.1 only) and each request inside goes through the
 * engine; `CONNECT` to a passthrough host is tunnelled untouched; anything else is refused.
 */

export interface InterceptServerOptions {
  engine: Engine;
  runs: Pick<RunHost, 'byToken' | 'identify'>;
  workspace(id: string): Promise<Workspace>;
  ca: LocalCa;
  resolver: Resolver;
  override: CidrSet;
  limits: Limits;
  audit: AuditWriter;
  overrideNote: string | null;
}

/** A running intercepting proxy. */
export interface InterceptServer {
  readonly server: Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

interface Tunnel {
  run: RunSession;
  host: string;
  port: number;
  /** host[:port] as a URL writes it, and in lower case: made once per tunnel. */
  authority: string;
  authorityLower: string;
  hostLower: string;
}

/** Creates the intercepting proxy. */
export function createInterceptServer(options: InterceptServerOptions): InterceptServer {
  const tunnels = new WeakMap<object, Tunnel>();
  const sockets = new Set<Duplex>();
  const context = {
    engine: options.engine,
    limits: options.limits,
    identify: options.runs.identify,
  };

  // Requests decrypted from tunnels: Node's HTTP/1.1 parser gives keep-alive and chunked bodies.
  const inner = createServer((req, res) => {
    const tunnel = tunnels.get(req.socket);
    if (tunnel === undefined) return void res.destroy();
    void handleTunnelled(tunnel, req, res);
  });
  inner.headersTimeout = 30_000;
  inner.keepAliveTimeout = 30_000;
  inner.requestTimeout = 0;
  inner.on('upgrade', (_req: IncomingMessage, socket: Duplex) => refuseUpgrade(socket));
  inner.on('clientError', (err: Error & { rawPacket?: Buffer }, socket: Duplex) =>
    refuseMalformed(err, socket),
  );

  const outer = createServer((req, res) => void handlePlain(req, res));
  outer.headersTimeout = 10_000;
  outer.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    void onConnect(req, socket, head).catch(() => socket.destroy());
  });
  outer.on('upgrade', (_req: IncomingMessage, socket: Duplex) => refuseUpgrade(socket));
  outer.on('clientError', (err: Error & { rawPacket?: Buffer }, socket: Duplex) =>
    refuseMalformed(err, socket),
  );

  function runOf(req: IncomingMessage): RunSession | undefined {
    const header = req.headers['proxy-authorization'];
    const match = /^basic\s+(\S+)$/i.exec(header ?? '');
    if (match === null) return undefined;
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    return options.runs.byToken(decoded.slice(decoded.indexOf(':') + 1));
  }

  async function onConnect(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const run = runOf(req);
    if (run === undefined) {
      return writeRaw(socket, 407, errorBody(proxyAuthError()), {
        'Proxy-Authenticate': 'Basic realm="agentsecrets run"',
      });
    }
    let url: URL;
    try {
      url = new URL(`https://${req.url ?? ''}/`);
      if (url.pathname !== '/' || url.username !== '' || req.url?.includes('/')) throw new Error();
    } catch {
      return writeRaw(socket, 400, errorBody(badAuthority()));
    }
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port === '' ? 443 : Number(url.port);
    const caller = await options.runs.identify(run).catch((err: unknown) => err);
    if (caller instanceof Error) {
      const error = toAgentSecretsError(caller);
      return writeRaw(socket, httpStatusOf(error.code), errorBody(error));
    }
    const workspace = await options.workspace(run.target.workspaceId);
    const refuse = async (error: AgentSecretsError) => {
      await options.engine
        .recordRefusal(
          { caller: caller as Caller, method: 'CONNECT', url: url.href, target: run.target },
          error,
        )
        .catch(() => undefined);
      writeRaw(socket, httpStatusOf(error.code), errorBody(error));
    };
    const allowlisted =
      matchAllowlist(
        url,
        workspace.allowlist.map((e) => parseAllowlistEntry(e.pattern)),
      ) !== undefined;
    if (!allowlisted) {
      const passthrough = (workspace.passthrough ?? []).some(
        (e) => matchAllowlist(url, [parseAllowlistEntry(e.pattern)]) !== undefined,
      );
      if (passthrough) return tunnelUntouched(socket, head, run, caller as Caller, url, host, port);
      return refuse(
        new AgentSecretsError(
          workspace.allowlist.length === 0 ? 'empty_allowlist' : 'domain_not_in_allowlist',
          `${url.host} is not in your workspace allowlist, so \`agentsecrets run\` will not connect to it. To authorize it, a human runs: agentsecrets workspace allowlist add ${url.host} (or, to let the program reach it without any secret: agentsecrets workspace passthrough add ${url.host})`,
          { context: { domain: host } },
        ),
      );
    }
    const blocked = await ssrfVerdict(host);
    if (blocked !== undefined) return refuse(blocked);

    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.unshift(head);
    // The leaf is for the name the client asked for in CONNECT; SNI must agree with it.
    const secureContext = await options.ca.contextFor(host);
    const tls = new TLSSocket(socket, {
      isServer: true,
      secureContext,
      ALPNProtocols: ['http/1.1'],
      SNICallback: (servername, callback) =>
        servername.toLowerCase() === host.toLowerCase()
          ? callback(null, secureContext)
          : callback(new Error('SNI does not match the CONNECT host'), null as never),
    });
    tls.on('error', () => socket.destroy());
    const authority = port === 443 ? hostForUrl(host) : `${hostForUrl(host)}:${port}`;
    tunnels.set(tls, {
      run,
      host,
      port,
      authority,
      authorityLower: authority.toLowerCase(),
      hostLower: host.toLowerCase(),
    });
    inner.emit('connection', tls);
  }

  async function ssrfVerdict(host: string): Promise<AgentSecretsError | undefined> {
    const literal = literalAddress(host);
    let addresses: string[];
    try {
      addresses =
        literal !== undefined ? [literal] : (await options.resolver(host)).map((a) => a.address);
    } catch {
      return new AgentSecretsError('upstream_error', `${host} could not be resolved`, {
        context: { domain: host },
      });
    }
    for (const address of addresses) {
      const verdict = checkAddress(address, options.override);
      if (!verdict.allowed) {
        return new AgentSecretsError(
          'ssrf_protection_blocked',
          `${host} resolves to a private or reserved address (${address}: ${verdict.reason ?? 'blocked'}); credentials are never sent there`,
          { context: { domain: host } },
        );
      }
    }
    return addresses.length === 0
      ? new AgentSecretsError('upstream_error', `${host} has no address`, {
          context: { domain: host },
        })
      : undefined;
  }

  async function tunnelUntouched(
    socket: Socket,
    head: Buffer,
    run: RunSession,
    caller: Caller,
    url: URL,
    host: string,
    port: number,
  ): Promise<void> {
    const started = performance.now();
    const blocked = await ssrfVerdict(host);
    const entry = (status: 'OK' | 'BLOCKED' | 'ERROR', code: number, reason: string | null) =>
      options.audit
        .append({
          workspace: null,
          project: null,
          environment: run.target.environment,
          agent_id: caller.agentId,
          identity_level: caller.level,
          token_id: caller.tokenId,
          source: 'run',
          method: 'CONNECT',
          target_url: url.href,
          domain: host,
          secret_keys: [],
          auth_styles: ['passthrough'],
          status,
          status_code: code,
          reason,
          redacted: false,
          duration_ms: performance.now() - started,
          private_override: options.overrideNote,
          command: run.command,
        })
        .catch(() => undefined);
    if (blocked !== undefined) {
      await entry('BLOCKED', 403, blocked.code);
      return writeRaw(socket, 403, errorBody(blocked));
    }
    const address = literalAddress(host) ?? (await options.resolver(host))[0]!.address;
    const upstream = netConnect({ host: address, port, timeout: options.limits.connectTimeoutMs });
    upstream.once('connect', () => {
      upstream.setTimeout(0);
      void entry('OK', 200, 'passthrough');
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      socket.pipe(upstream).pipe(socket);
    });
    const fail = () => {
      if (!upstream.readyState.startsWith('open') && !socket.destroyed) {
        void entry('ERROR', 502, 'upstream_error');
        writeRaw(
          socket,
          502,
          errorBody(
            new AgentSecretsError('upstream_error', `could not connect to ${url.host}`, {
              context: { domain: host },
            }),
          ),
        );
      }
      upstream.destroy();
      socket.destroy();
    };
    upstream.once('timeout', fail);
    upstream.once('error', fail);
    socket.once('close', () => upstream.destroy());
  }

  async function handleTunnelled(tunnel: Tunnel, req: IncomingMessage, res: ServerResponse) {
    const authority = tunnel.authority;
    const path = req.url ?? '/';
    let url: URL;
    try {
      url = path.startsWith('/') ? new URL(`https://${authority}${path}`) : new URL(path);
      const hostHeader = (req.headers.host ?? authority).toLowerCase();
      if (
        url.host.toLowerCase() !== tunnel.authorityLower ||
        hostHeaderName(hostHeader) !== tunnel.hostLower
      ) {
        throw new Error('mismatch');
      }
    } catch {
      return sendError(
        res,
        new AgentSecretsError(
          'bad_request',
          `this tunnel is to ${authority}; a request for another host (Host header or URL) is refused`,
        ),
      );
    }
    return handleIntercepted(context, tunnel.run, url, req, res);
  }

  async function handlePlain(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '/';
    // Absolute-form: http:// (reaching only what AGENTSECRETS_ALLOW_PRIVATE opens, as anywhere),
    // and https://, which some clients (axios) send to an HTTP proxy instead of CONNECT.
    if (!/^https?:\/\//i.test(path)) {
      return sendError(
        res,
        new AgentSecretsError(
          'bad_request',
          'this port is the intercepting proxy of `agentsecrets run`: it takes CONNECT and absolute-form http(s):// requests from run children, nothing else (the X-AS-* protocol is on the main proxy port)',
        ),
      );
    }
    const run = runOf(req);
    if (run === undefined) {
      const error = proxyAuthError();
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="agentsecrets run"' });
      return void res.end(JSON.stringify({ error: error.code, message: error.message }));
    }
    let url: URL;
    try {
      url = new URL(path);
    } catch {
      return sendError(res, badAuthority());
    }
    return handleIntercepted(context, run, url, req, res);
  }

  return {
    server: outer,
    listen: (port, host) => listenOn(outer, port, host),
    async close() {
      await new Promise<void>((resolve) => {
        outer.close(() => resolve());
        outer.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
      inner.close();
    },
  };
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** A Host header's name: hostNameOf's, with an IPv6 address's brackets taken off. */
function hostHeaderName(host: string): string {
  const name = hostNameOf(host);
  return name.startsWith('[') ? name.slice(1, -1) : name;
}
