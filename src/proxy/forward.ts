import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import type { Limits } from '../core/config.js';
import { AgentSecretsError } from '../core/errors.js';
import type { OutboundRequest } from './inject.js';
import { setHeader } from './inject.js';
import { stripHopByHop } from './protocol.js';
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
  /** Declared length of the body as it came (before any decoding). */
  contentLength: number | undefined;
  /** Maps an error the body stream emits to a wire error. */
  translateError: (err: unknown) => AgentSecretsError;
}

/** Sends requests upstream with the SSRF guard in the connection path. */
export interface Forwarder {
  send(req: OutboundRequest, signal?: AbortSignal): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

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

  const agentOptions = (scheme: 'https' | 'http') => ({
    connect: {
      lookup: guardedLookup(scheme),
      timeout: limits.connectTimeoutMs,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    },
    headersTimeout: limits.headersTimeoutMs,
    bodyTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: 30_000,
  });
  const agents = { https: new Agent(agentOptions('https')), http: new Agent(agentOptions('http')) };

  return {
    async send(req, signal) {
      const scheme = req.url.protocol === 'http:' ? 'http' : 'https';
      let headers = stripHopByHop(req.headers).filter(([n]) => {
        const lower = n.toLowerCase();
        return lower !== 'host' && lower !== 'content-length' && !lower.startsWith('x-as-');
      });
      // Ask for plain bytes; whatever comes encoded anyway is decoded before the scan.
      headers = setHeader(headers, 'Accept-Encoding', 'identity');
      // One controller and one timer per call for the total deadline (AbortSignal.any and
      // AbortSignal.timeout are several times dearer on this hot path).
      const controller = new AbortController();
      const deadline = { passed: false };
      const timer = setTimeout(() => {
        deadline.passed = true;
        controller.abort();
      }, limits.totalTimeoutMs);
      timer.unref();
      const onAbort = () => controller.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      let response;
      try {
        response = await request(req.url, {
          method: req.method as 'GET',
          headers: headers.flat(),
          body: req.body,
          dispatcher: agents[scheme],
          signal: controller.signal,
        });
      } catch (err) {
        done();
        throw translate(err, req.url, deadline.passed);
      }
      const upstreamHeaders: [string, string][] = [];
      for (const [name, value] of Object.entries(response.headers)) {
        if (value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) upstreamHeaders.push([name, v]);
      }
      const length = Number(response.headers['content-length']);
      response.body.once('close', done);
      return {
        status: response.statusCode,
        headers: stripHopByHop(upstreamHeaders),
        transferCodings: upstreamHeaders
          .filter(([n]) => n.toLowerCase() === 'transfer-encoding')
          .flatMap(([, v]) => v.split(','))
          .map((c) => c.trim().toLowerCase())
          .filter((c) => c !== '' && c !== 'chunked' && c !== 'identity'),
        body: response.body,
        // Failures while the body streams (idle timeout, deadline, reset) get the same
        // translation as failures before the headers.
        translateError: (err: unknown) => translate(err, req.url, deadline.passed),
        contentLength: Number.isFinite(length) ? length : undefined,
      };
    },
    async close() {
      await Promise.all([agents.https.close(), agents.http.close()]);
    },
  };
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
