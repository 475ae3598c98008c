import type { IncomingMessage, ServerResponse } from 'node:http';
import { HangUp } from '../core/hang-up.js';
import { toAgentSecretsError } from '../core/errors.js';
import type { Limits } from '../core/config.js';
import type { RunSession } from './run-session.js';
import type { Caller, Engine } from './engine.js';
import { hasNoBody, NO_BODY } from '../core/http-edge.js';
import { readBody, relayResponse, sendError } from './http-server.js';
import { addConnectionNames, isHopByHop, stripHopByHop } from './protocol.js';
import { findPlaceholders } from './substitute.js';

/** Bodies up to this size are buffered, so Content-Length is exact after redaction. */

/** What handling one intercepted request needs. */
export interface InterceptContext {
  engine: Engine;
  limits: Limits;
  identify(run: RunSession): Promise<Caller>;
}

/**
 * One request from a `run` child, decrypted from a CONNECT tunnel (or plain absolute-form):
 * placeholders found, then the engine (allowlist, binding, policy, SSRF, substitution,
 * forwarding, redaction, audit), then the redacted answer back. Never throws.
 */
export async function handleIntercepted(
  context: InterceptContext,
  run: RunSession,
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const method = req.method ?? 'GET';
  // The request's headers less the transport's and the proxy's, hop-by-hop ones too.
  const headers = forwardedHeaders(req.rawHeaders);
  let caller: Caller = {
    level: 'anonymous',
    agentId: null,
    tokenId: null,
    source: 'run',
  };
  let body: Buffer;
  let substitutions;
  try {
    caller = await context.identify(run);
    body = hasNoBody(req) ? NO_BODY : await readBody(req, context.limits.maxRequestBytes);
    substitutions = findPlaceholders({ url, headers, body }, run.placeholders);
  } catch (err) {
    const error = toAgentSecretsError(err);
    await context.engine
      .recordRefusal({ caller, method, url: url.href, target: run.target }, error)
      .catch(() => undefined);
    return sendError(res, error);
  }

  let response;
  // A program that hangs up stops its call (one held for approval leaves the queue at once).
  const gone = new HangUp();
  res.on('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  try {
    response = await context.engine.execute({
      signal: gone,
      upstreamSignal: gone,
      url: url.href,
      // Parsed here already (and not changed after): the engine checks it without a reparse.
      parsedUrl: url,
      method,
      headers,
      body: body.length === 0 ? undefined : body,
      injections: substitutions,
      substitute: true,
      target: run.target,
      caller,
    });
  } catch (err) {
    return sendError(res, toAgentSecretsError(err));
  }

  await relayResponse(res, response, method);
}

/**
 * Raw headers (name, value, …) as pairs, less Host, Content-Length and the proxy's own, and
 * less hop-by-hop headers (as stripHopByHop: those a Connection header names, after).
 */
function forwardedHeaders(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  let named: ReadonlySet<string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (
      lower === 'host' ||
      lower === 'content-length' ||
      lower === 'proxy-authorization' ||
      lower === 'proxy-connection'
    )
      continue;
    if (lower === 'connection') named = addConnectionNames(named, raw[i + 1]!);
    if (!isHopByHop(lower, undefined)) out.push([name, raw[i + 1]!]);
  }
  return named === undefined ? out : stripHopByHop(out, named);
}
