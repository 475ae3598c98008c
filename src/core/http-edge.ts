import type { IncomingMessage, ServerResponse } from 'node:http';
import { AgentSecretsError } from './errors.js';

/*
 * What every hand-written local HTTP edge needs (the MCP HTTP server and the proxy's
 * http-server.ts): a loopback Host and Origin guard against DNS
 * rebinding and CSRF, JSON responses, and request bodies read with a bound.
 */

/** True for `localhost`, `[::1]` and 127.0.0.0/8: the Host names a local edge answers to. */
export function isLoopbackName(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
  );
}

/** The host name of a `Host` header, lower-cased, with IPv6 brackets kept and the port cut. */
export function hostNameOf(host: string | undefined): string {
  const lower = (host ?? '').toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.indexOf(':');
  return colon === -1 ? lower : lower.slice(0, colon);
}

/** How an edge treats browser origins. */
export interface OriginPolicy {
  /** What the edge calls itself in refusals ("the MCP server", "the proxy"). */
  name: string;
  /**
   * `none`: any request with an Origin is refused (the proxy: no browser page may call it);
   * `loopback`: loopback origins and `allowed` ones are accepted (the MCP HTTP server).
   */
  origins: 'none' | 'loopback';
  allowed?: readonly string[];
}

/**
 * DNS rebinding and CSRF defence: the Host must be a loopback name, and an Origin must be one
 * the policy accepts. Returns why a request is refused, or undefined.
 */
export function checkLocalRequest(req: IncomingMessage, policy: OriginPolicy): string | undefined {
  if (!isLoopbackName(hostNameOf(req.headers.host)))
    return `${policy.name} answers only to loopback Host names (127.0.0.1, localhost, [::1])`;
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  if (policy.origins === 'none') return 'browser requests (with an Origin) are refused';
  if (policy.allowed?.includes(origin)) return undefined;
  try {
    const parsed = new URL(origin);
    if (
      (parsed.protocol === 'http:' || parsed.protocol === 'https:') &&
      isLoopbackName(parsed.hostname)
    )
      return undefined;
  } catch {
    // not a URL: refused below
  }
  return `requests from origin ${origin} are refused`;
}

/** The body of a request without one (shared, never written to). */
export const NO_BODY = Buffer.alloc(0);

/** Sends `body` as JSON with its length; extra headers are added as given. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * No length (or a zero one) and no chunked framing: HTTP/1.1 says there is no body (most
 * GETs). Such a request need not be read.
 */
export function hasNoBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length === undefined || length === '0') && req.headers['transfer-encoding'] === undefined;
}

/**
 * Reads a request body, refusing one over `max` bytes (declared or actual) with
 * `request_too_large`; `what` names the limit in the message.
 */
export async function readBoundedBody(
  req: IncomingMessage,
  max: number,
  what = `${max} bytes`,
): Promise<Buffer> {
  const tooLarge = () =>
    new AgentSecretsError('request_too_large', `the request body is larger than ${what}`);
  if (hasNoBody(req)) return NO_BODY;
  const length = req.headers['content-length'];
  const declared = Number(length);
  if (Number.isFinite(declared) && declared > max) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw tooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
