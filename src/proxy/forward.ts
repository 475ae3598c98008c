import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { Readable } from 'node:stream';
import { createSecureContext } from 'node:tls';
import { Agent, util as undiciUtil } from 'undici';
import type { Limits } from '../core/config.js';
import { AgentSecretsError } from '../core/errors.js';
import type { GoneSignal } from '../core/hang-up.js';
import type { OutboundRequest } from './inject.js';
import { addConnectionNames, connectionNames, isHopByHop, stripHopByHop } from './protocol.js';
import { checkAddress, type CidrSet } from './ssrf.js';

/** Resolves a host name to every address it has. Injected in tests (no DNS needed). */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

/** The default resolver: the OS resolver, every address. */
export const systemResolver: Resolver = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family,
  }));

export interface ForwarderOptions {
  limits: Limits;
  /** AGENTSECRETS_ALLOW_PRIVATE: the only destinations plain HTTP may reach. */
  override: CidrSet;
  resolver?: Resolver;
  /** Certificates to trust for upstream HTTPS (replaces the default set; include it). */
  ca?: string[];
}

/** The upstream's answer: status, headers (hop-by-hop removed), and the body as it came. */
export interface UpstreamResponse {
  status: number;
  headers: [string, string][];
  /** Transfer codings other than chunked (undone by the engine with the content codings). */
  transferCodings: string[];
  body: Readable;
  /**
   * A small body (a declared length up to SMALL_BODY bytes, no transfer coding) is read whole
   * without a stream: this resolves with all of it, or rejects as `body` would fail. `body`
   * then streams the same bytes (made only when asked for). Undefined for any other body.
   */
  whole: Promise<Buffer> | undefined;
  /** Declared length of the body as it came (before any decoding). */
  contentLength: number | undefined;
  /** Maps an error the body stream emits to a wire error. */
  translateError: (err: unknown) => AgentSecretsError;
}

/** Sends requests upstream with the SSRF guard in the connection path. */
export interface Forwarder {
  /** `signal`: the caller went away; the exchange is aborted and fails with `cancelled`. */
  send(req: OutboundRequest, signal?: GoneSignal): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

/** Bodies declared at most this long are read whole, without a stream (see `whole`). */
export const SMALL_BODY = 64 * 1024;

/** Why a resolved address was refused; raised inside the connection's DNS lookup. */
class GuardError extends Error {
  constructor(
    readonly code: 'ssrf_protection_blocked' | 'non_https_blocked',
    readonly host: string,
    readonly detail: string,
  ) {
    super(`${code}: ${host} (${detail})`);
    this.name = 'GuardError';
  }
}

/**
 * Creates the forwarder. The SSRF guard runs inside the connection's DNS lookup: the name is
 * resolved once, every address is checked, and the socket connects to exactly the checked
 * addresses, so a name cannot rebind between check and connect. IP-literal hosts never reach
 * the lookup; the engine checks them before calling `send`.
 */
export function createForwarder(options: ForwarderOptions): Forwarder {
  const { limits, override } = options;
  const resolver = options.resolver ?? systemResolver;

  function guardedLookup(scheme: 'https' | 'http') {
    return (
      hostname: string,
      opts: { all?: boolean; family?: number | string },
      callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
    ) => {
      resolver(hostname).then(
        (found) => {
          const family =
            opts.family === 'IPv4' ? 4 : opts.family === 'IPv6' ? 6 : Number(opts.family) || 0;
          const addresses = found.filter((a) => family === 0 || a.family === family);
          if (addresses.length === 0) {
            callback(
              Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }),
              [],
            );
            return;
          }
          for (const { address } of addresses) {
            const verdict = checkAddress(address, override);
            if (scheme === 'http' && !override.contains(address)) {
              callback(
                new GuardError(
                  'non_https_blocked',
                  hostname,
                  `${address} is not opened by AGENTSECRETS_ALLOW_PRIVATE`,
                ),
                [],
              );
              return;
            }
            if (!verdict.allowed) {
              callback(
                new GuardError(
                  'ssrf_protection_blocked',
                  hostname,
                  `${address}: ${verdict.reason ?? 'blocked'}`,
                ),
                [],
              );
              return;
            }
          }
          if (opts.all) callback(null, addresses);
          else callback(null, addresses[0]!.address, addresses[0]!.family);
        },
        (err: unknown) => callback(err instanceof Error ? err : new Error('lookup failed'), []),
      );
    };
  }

  // Extra roots: one secure context for every connection (building one per connection from a
  // list of ~150 certificates cost milliseconds each).
  const secureContext =
    options.ca === undefined ? undefined : createSecureContext({ ca: options.ca });
  const agentOptions = (scheme: 'https' | 'http') => ({
    connect: {
      lookup: guardedLookup(scheme),
      timeout: limits.connectTimeoutMs,
      ...(secureContext === undefined ? {} : { secureContext }),
    },
    headersTimeout: limits.headersTimeoutMs,
    bodyTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: 30_000,
  });
  const agents = { https: new Agent(agentOptions('https')), http: new Agent(agentOptions('http')) };

  return {
    // Not async: the promise made below is returned as it is (an async function would wrap it
    // in another, two more turns of the microtask queue per call).
    send(req, signal) {
      const scheme = req.url.protocol === 'http:' ? 'http' : 'https';
      // Name, value, name, value… as undici takes them: no hop-by-hop headers, no Host, no
      // Content-Length (undici frames the body), no X-AS-*, and Accept-Encoding: identity
      // (plain bytes are asked for; whatever comes encoded anyway is decoded before the scan).
      const named = connectionNames(req.headers);
      const headers: string[] = [];
      for (const [name, value] of req.headers) {
        const lower = name.toLowerCase();
        if (
          isHopByHop(lower, named) ||
          lower === 'host' ||
          lower === 'content-length' ||
          lower === 'accept-encoding' ||
          lower.startsWith('x-as-')
        )
          continue;
        headers.push(name, value);
      }
      headers.push('Accept-Encoding', 'identity');
      const url = req.url;
      // undici's dispatcher API directly: request() adds an AbortSignal, an async resource, a
      // header object built and taken apart again, and a heavier body stream, per call. The
      // handler is one object per call (its methods on a prototype), not a set of closures.
      return new Promise<UpstreamResponse>((resolve, reject) => {
        const exchange = new Exchange(url, resolve, reject, signal);
        exchange.timer = setTimeout(onDeadline, limits.totalTimeoutMs, exchange);
        exchange.timer.unref();
        if (signal !== undefined) {
          exchange.onAbort = () => exchange.abort?.(abortError('aborted'));
          signal.addEventListener('abort', exchange.onAbort, { once: true });
        }
        agents[scheme].dispatch(
          {
            origin: url.origin,
            path: `${url.pathname}${url.search}`,
            method: req.method as 'GET',
            headers,
            body: req.body ?? null,
          },
          exchange,
        );
      });
    },
    async close() {
      await Promise.all([agents.https.close(), agents.http.close()]);
    },
  };
}

/** The total deadline of one exchange passed: it is aborted. */
function onDeadline(exchange: Exchange): void {
  exchange.deadlinePassed = true;
  exchange.abort?.(abortError('deadline'));
}

/**
 * One upstream exchange: undici's handler (onConnect … onComplete/onError) and what its
 * answer needs later (translating a failure, dropping the request when the reader goes away).
 */
class Exchange {
  deadlinePassed = false;
  timer: NodeJS.Timeout | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  abort: ((reason?: Error) => void) | undefined = undefined;
  body: Readable | undefined = undefined;
  small: SmallBody | undefined = undefined;
  finished = false;
  resumeParser: (() => void) | undefined = undefined;

  constructor(
    readonly url: URL,
    private readonly resolve: (response: UpstreamResponse) => void,
    private readonly reject: (err: unknown) => void,
    private readonly signal: GoneSignal | undefined,
  ) {}

  /** The exchange is over (complete, failed or dropped): its deadline and signal let go. */
  done(): void {
    this.finished = true;
    clearTimeout(this.timer);
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort);
  }

  translateError(err: unknown): AgentSecretsError {
    if (this.signal?.aborted === true && !this.deadlinePassed) {
      return new AgentSecretsError('cancelled', 'the call was cancelled by its caller', {
        cause: err,
        context: { domain: this.url.hostname },
      });
    }
    return translate(err, this.url, this.deadlinePassed);
  }

  /** The reader went away before the end: drop the upstream request too. */
  drop(err: Error | null): void {
    if (this.finished) return;
    this.done();
    this.abort?.(err ?? abortError('the body was dropped'));
  }

  onConnect(abortRequest: (reason?: Error) => void): void {
    this.abort = abortRequest;
    if (this.deadlinePassed || this.signal?.aborted === true) abortRequest(abortError('aborted'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // undici hands informational answers (103 Early Hints…) to the handler too. They are not
    // the answer: taken as one, the call got a body stream that never ended (the final
    // answer's bytes went to another), so it hung past its deadline and was never audited.
    if (statusCode < 200) return true;
    this.resumeParser = resume;
    // Names lower-cased, hop-by-hop ones dropped (a Connection header's names afterwards:
    // nearly always `keep-alive`, dropped already).
    const headers: [string, string][] = [];
    let length: number | undefined;
    let named: ReadonlySet<string> | undefined;
    let transferCodings: string[] | undefined;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      // Known names come back as one interned lower-case string (no string made per header).
      const name = undiciUtil.headerNameToString(rawHeaders[i]!);
      const value = rawHeaders[i + 1]!.toString('latin1');
      if (name === 'connection') named = addConnectionNames(named, value);
      else if (name === 'content-length' && length === undefined) {
        const n = Number(value);
        length = Number.isFinite(n) ? n : undefined;
      } else if (name === 'transfer-encoding') {
        for (const c of value.split(',')) {
          const coding = c.trim().toLowerCase();
          if (coding !== '' && coding !== 'chunked' && coding !== 'identity')
            (transferCodings ??= []).push(coding);
        }
      }
      if (!isHopByHop(name, undefined)) headers.push([name, value]);
    }
    const kept = named === undefined ? headers : stripHopByHop(headers, named);
    if (length !== undefined && length <= SMALL_BODY && transferCodings === undefined) {
      this.small = new SmallBody(statusCode, kept, length, this);
      this.resolve(this.small);
      return true;
    }
    const body = new Readable({
      read: () => this.resumeParser?.(),
      destroy: (err, callback) => {
        this.drop(err);
        callback(err);
      },
    });
    this.body = body;
    this.resolve({
      status: statusCode,
      headers: kept,
      transferCodings: transferCodings ?? [],
      body,
      whole: undefined,
      // Failures while the body streams (idle timeout, deadline, reset) get the same
      // translation as failures before the headers.
      translateError: (err) => this.translateError(err),
      contentLength: length,
    });
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.small !== undefined) {
      this.small.chunks.push(chunk);
      return true;
    }
    const body = this.body;
    return body === undefined || body.destroyed ? true : body.push(chunk);
  }

  onComplete(): void {
    this.done();
    if (this.small !== undefined) this.small.settle(undefined);
    else this.body?.push(null);
  }

  onError(err: Error): void {
    const wasFinished = this.finished;
    this.done();
    if (this.small !== undefined) this.small.settle(err);
    else if (this.body === undefined) this.reject(this.translateError(err));
    else if (!wasFinished && !this.body.destroyed) this.body.destroy(err);
  }
}

function abortError(message: string): Error {
  const err = new Error(message);
  err.name = 'AbortError';
  return err;
}

/**
 * An answer whose small body is read whole (see UpstreamResponse.whole). A class, so that the
 * lazy `body` getter lives on the prototype: an object literal with a getter costs V8 several
 * microseconds to build, per call.
 */
class SmallBody implements UpstreamResponse {
  readonly chunks: Buffer[] = [];
  readonly transferCodings: string[] = [];
  readonly whole: Promise<Buffer>;
  settle: (err: Error | undefined) => void = () => undefined;
  #stream: Readable | undefined;

  constructor(
    readonly status: number,
    readonly headers: [string, string][],
    readonly contentLength: number,
    private readonly exchange: Exchange,
  ) {
    this.whole = new Promise<Buffer>((ok, fail) => {
      this.settle = (err) =>
        err === undefined
          ? ok(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks))
          : fail(err);
    });
    // A failure nobody asked for is not an unhandled rejection.
    this.whole.catch(() => undefined);
  }

  translateError(err: unknown): AgentSecretsError {
    return this.exchange.translateError(err);
  }

  get body(): Readable {
    return (this.#stream ??= streamOf(this.whole, (err) => this.exchange.drop(err)));
  }
}

/** A stream of a small body read whole; destroying it early drops the upstream request. */
function streamOf(whole: Promise<Buffer>, drop: (err: Error | null) => void): Readable {
  const stream = new Readable({
    read() {},
    destroy(err, callback) {
      drop(err);
      callback(err);
    },
  });
  whole.then(
    (bytes) => {
      if (stream.destroyed) return;
      if (bytes.length > 0) stream.push(bytes);
      stream.push(null);
    },
    (err: unknown) => stream.destroy(err instanceof Error ? err : new Error('body failed')),
  );
  return stream;
}

/** Drops a body we will not read; its abort error is expected and must not go unhandled. */
export function discard(body: Readable): void {
  body.on('error', () => undefined);
  body.destroy();
}

/** Maps a transport failure to a wire error. Never quotes the URL (it may carry a value). */
export function translate(err: unknown, url: URL, deadlinePassed: boolean): AgentSecretsError {
  if (err instanceof AgentSecretsError) return err;
  const guard = findCause(err, (e): e is GuardError => e instanceof GuardError);
  const domain = url.hostname;
  if (guard !== undefined) {
    return guard.code === 'non_https_blocked'
      ? new AgentSecretsError(
          'non_https_blocked',
          `plain HTTP to ${domain} is refused: only https:// URLs are allowed (local development can open private addresses with AGENTSECRETS_ALLOW_PRIVATE)`,
          { context: { domain } },
        )
      : new AgentSecretsError(
          'ssrf_protection_blocked',
          `${domain} resolves to a private or reserved address (${guard.detail}); credentials are never sent there`,
          { context: { domain } },
        );
  }
  const code = errorCode(err);
  if (
    deadlinePassed ||
    [
      'UND_ERR_CONNECT_TIMEOUT',
      'UND_ERR_HEADERS_TIMEOUT',
      'UND_ERR_BODY_TIMEOUT',
      'ETIMEDOUT',
    ].includes(code)
  ) {
    return new AgentSecretsError(
      'upstream_timeout',
      `${domain} did not answer in time (${code || 'deadline'})`,
      {
        cause: err,
        context: { domain },
      },
    );
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new AgentSecretsError('upstream_error', `${domain} could not be resolved (${code})`, {
      cause: err,
      context: { domain },
    });
  }
  if (
    /CERT|SSL|TLS|SELF_SIGNED|ALTNAME|UNABLE_TO_|INVALID_CA|HOSTNAME_MISMATCH|EPROTO/i.test(code)
  ) {
    return new AgentSecretsError(
      'upstream_error',
      `TLS verification failed for ${domain} (${code}); for a private CA, point AGENTSECRETS_CA_FILE (or NODE_EXTRA_CA_CERTS) at its certificate`,
      { cause: err, context: { domain } },
    );
  }
  return new AgentSecretsError(
    'upstream_error',
    `the call to ${domain} failed (${code || 'connection error'})`,
    {
      cause: err,
      context: { domain },
    },
  );
}

function errorCode(err: unknown): string {
  let current: unknown = err;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR_SOCKET') return code;
    current = current.cause;
  }
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string'
    ? code
    : err instanceof Error && err.name === 'AbortError'
      ? 'aborted'
      : '';
}

function findCause<T>(err: unknown, test: (e: unknown) => e is T): T | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth++) {
    if (test(current)) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
