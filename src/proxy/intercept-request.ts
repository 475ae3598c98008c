import type { IncomingMessage, ServerResponse } from 'node:http';
import { HangUp } from '../core/hang-up.js';
import { toAgentSecretsError } from '../core/errors.js';
import type { Limits } from '../core/config.js';
import type { RunSession } from './run-session.js';
import type { Caller, Engine } from './engine.js';
import { readBody, relayResponse, sendError } from './http-server.js';
import { stripHopByHop } from './protocol.js';
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
  const headers = pairs(req.rawHeaders).filter(([n]) => {
    const lower = n.toLowerCase();
    return (
      lower !== 'host' &&
      lower !== 'content-length' &&
      lower !== 'proxy-authorization' &&
      lower !== 'proxy-connection'
    );
  });
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
    body = await readBody(req, context.limits.maxRequestBytes);
    substitutions = findPlaceholders(
      { url, headers: stripHopByHop(headers), body },
      run.placeholders,
    );
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
  res.once('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  try {
    response = await context.engine.execute({
      signal: gone,
      url: url.href,
      method,
      headers: stripHopByHop(headers),
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

function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}
