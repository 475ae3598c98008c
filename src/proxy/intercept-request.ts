import type { IncomingMessage, ServerResponse } from 'node:http';
import { AgentSecretsError, toAgentSecretsError } from '../core/errors.js';
import type { Limits } from '../core/config.js';
import type { RunSession } from '../run/host.js';
import type { Caller, Engine } from './engine.js';
import { sendError } from './http-server.js';
import { stripHopByHop } from './protocol.js';
import { findPlaceholders } from './substitute.js';

/** Bodies up to this size are buffered, so Content-Length is exact after redaction. */
const BUFFER_LIMIT = 1024 * 1024;

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
  try {
    response = await context.engine.execute({
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

  const out: [string, string][] = response.headers.filter(([n]) => {
    const lower = n.toLowerCase();
    return lower !== 'content-length' && lower !== 'transfer-encoding';
  });
  out.push(['X-AS-Request-Id', response.requestId]);
  const iterator = response.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const buffered: Buffer[] = [];
  let size = 0;
  let complete = false;
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done) {
        complete = true;
        break;
      }
      buffered.push(next.value);
      size += next.value.length;
      if (size >= BUFFER_LIMIT) break;
    }
  } catch (err) {
    await response.done.catch(() => undefined);
    return sendError(res, toAgentSecretsError(err));
  }
  if (response.redacted()) out.push(['X-AS-Redacted', 'true']);
  const bodyless = method === 'HEAD' || response.status === 204 || response.status === 304;
  if (complete && !bodyless) out.push(['Content-Length', String(size)]);
  res.writeHead(response.status, out.flat());
  if (complete) {
    // The audit entry is written before the answer is released.
    try {
      await response.done;
    } catch {
      return void res.destroy();
    }
    res.end(bodyless ? undefined : Buffer.concat(buffered));
    return;
  }
  for (const chunk of buffered) res.write(chunk);
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

function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

async function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) throw tooLarge(max);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw tooLarge(max);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function tooLarge(max: number): AgentSecretsError {
  return new AgentSecretsError(
    'request_too_large',
    `the request body is larger than ${max} bytes (AGENTSECRETS_MAX_REQUEST_BYTES)`,
  );
}
