import {
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  createServer,
} from 'node:http';
import { chmod, rm } from 'node:fs/promises';
import { HangUp, toAbortSignal } from '../core/hang-up.js';
import {
  AgentSecretsError,
  type ErrorCode,
  isAgentSecretsError,
  LOCAL_CODES,
  toAgentSecretsError,
  WIRE_CODES,
} from '../core/errors.js';
import { AUDIT_SOURCES } from '../audit/format.js';
import { isValidKeyName, keyNameRefused } from '../core/keys.js';
import { handedInputs } from '../audit/handover.js';
import type { AuditWriter } from '../audit/writer.js';
import { arr, num, obj, optStr, str } from '../core/validate.js';
import { type Caller, httpStatusOf, type Target } from './engine.js';
import { strictEnvRefusal } from '../strict/refusal.js';
import type {
  CallResult,
  CredentialService,
  EnvRequest,
  PresentedIdentity,
  ServiceCallInput,
} from './credential-service.js';
import { INJECTION_STYLES, type Injection } from './inject.js';

/**
 * The key holder's private channel (DESIGN §5): HTTP over a Unix socket in the state folder
 * (mode 0600, folder 0700), for our own processes only. The CLI's `call` and `env` and the
 * MCP server use it instead of unlocking the vault themselves.
 */

const MAX_BODY = 64 * 1024 * 1024;

/** The interim (103) header that says a /v1/call waits for a human's approval. */
const HELD_HEADER = 'x-as-approval-held';
/** 103 Early Hints must carry a Link header; this one names where the waiting call shows. */
const HELD_LINK = '</v1/dashboard/approvals>; rel="agentsecrets-approvals"';

/** Serves a credential service on a Unix socket. */
export async function serveKeyHolder(
  socketPath: string,
  service: CredentialService,
  runs?: RunEndpoints,
  /** What /v1/health and /v1/state add about strict mode (no values, nothing secret). */
  describe: () => Promise<Record<string, unknown>> = async () => ({ strict: false }),
  /** The dashboard and approvals endpoints, /v1/dashboard/* (src/dashboard/host.ts). */
  dashboard?: RunEndpoints,
): Promise<{ server: Server; close(): Promise<void> }> {
  await rm(socketPath, { force: true });
  const server = createServer((req, res) => {
    void handle(req, res, service, runs, describe, dashboard);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A restrictive umask while binding: the socket is created 0600 from the start.
    const previous = process.umask(0o177);
    server.listen(socketPath, () => {
      process.umask(previous);
      resolve();
    });
  });
  await chmod(socketPath, 0o600);
  // The key holder's audit writer holds the log from now on; others hand entries over here.
  auditOf(service)?.hold?.(socketPath);
  return {
    server,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(socketPath, { force: true });
    },
  };
}

/** The `run` endpoints a key holder with an intercepting proxy serves (src/run/endpoints.ts). */
export type RunEndpoints = (
  path: string,
  body: Record<string, unknown>,
) => Promise<Record<string, unknown> | undefined>;

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  service: CredentialService,
  runs: RunEndpoints | undefined,
  describe: () => Promise<Record<string, unknown>>,
  dashboard?: RunEndpoints,
): Promise<void> {
  try {
    if (req.method === 'GET' && (req.url === '/v1/health' || req.url === '/v1/state'))
      return send(res, 200, { status: 'ok', pid: process.pid, ...(await describe()) });
    if (req.method !== 'POST')
      return send(res, 404, { error: 'not_found', message: 'unknown endpoint' });
    // Strict mode: no endpoint returns a value, whatever the request looks like.
    if (req.url === '/v1/env' && (await describe()).strict === true) {
      req.resume();
      const refusal = strictEnvRefusal();
      return send(res, httpStatusOf(refusal.code), {
        error: refusal.code,
        message: refusal.message,
      });
    }
    const body = obj(JSON.parse((await readBody(req)).toString('utf8')), 'request');
    const audit = auditOf(service);
    if (req.url === '/v1/audit/append' && audit !== undefined) {
      // Entries of another process's writer, appended to this one's chain (src/audit/handover.ts).
      const entries = await Promise.all(handedInputs(body).map((input) => audit.append(input)));
      return send(res, 200, { entries });
    }
    if (req.url === '/v1/lock/yield' && audit !== undefined) {
      await audit.yieldLock?.();
      return send(res, 200, { status: 'ok' });
    }
    if (req.url === '/v1/call') {
      // A client that hangs up stops its call (one held for approval leaves the queue).
      const gone = new HangUp();
      res.once('close', () => {
        if (!res.writableFinished) gone.abort();
      });
      const result = await service.call({
        ...callFromWire(body),
        signal: gone,
        // An interim answer (103) while the call waits for a human; the final one follows.
        onHeld: (info) => {
          if (!res.headersSent && !res.writableEnded)
            res.writeEarlyHints({ link: HELD_LINK, [HELD_HEADER]: JSON.stringify(info) });
        },
      });
      return send(res, 200, {
        status: result.status,
        headers: result.headers,
        body_base64: result.body.toString('base64'),
        redacted: result.redacted,
        duration_ms: result.durationMs,
        request_id: result.requestId,
      });
    }
    if (req.url === '/v1/audit-key') {
      const trust = await service.auditTrust();
      return send(res, 200, { public_key: trust.publicKey ?? null, head: trust.head });
    }
    if (req.url === '/v1/identify') {
      const caller = await service.identify(
        identityFromWire(body.identity),
        str(body.workspaceId, 'workspaceId'),
      );
      return send(res, 200, { caller });
    }
    if (runs !== undefined && req.url?.startsWith('/v1/run/') === true) {
      const answer = await runs(req.url, body);
      if (answer !== undefined) return send(res, 200, answer);
    }
    if (dashboard !== undefined && req.url?.startsWith('/v1/dashboard/') === true) {
      const answer = await dashboard(req.url, body);
      if (answer !== undefined) return send(res, 200, answer);
    }
    if (req.url === '/v1/env') {
      const release = await service.envValues(envFromWire(body));
      return send(res, 200, { values: Object.fromEntries(release.values), mask: release.mask });
    }
    return send(res, 404, { error: 'not_found', message: 'unknown endpoint' });
  } catch (err) {
    const error = isAgentSecretsError(err)
      ? err
      : err instanceof SyntaxError || (err instanceof Error && err.name === 'ShapeError')
        ? new AgentSecretsError('bad_request', 'malformed request to the key holder')
        : toAgentSecretsError(err);
    return send(res, httpStatusOf(error.code), {
      error: error.code,
      message: error.message,
      ...error.context,
    });
  }
}

/** The audit writer of an in-process credential service (the key holder's), if it has one. */
function auditOf(service: CredentialService): AuditWriter | undefined {
  return (service as { audit?: AuditWriter }).audit;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY)
      throw new AgentSecretsError('request_too_large', 'request to the key holder is too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Posts one JSON request to a running key holder; a refusal is thrown as its error. */
export async function postToKeyHolder(
  socketPath: string,
  path: string,
  payload: unknown,
  follow: {
    /** Hangs up when aborted (the key holder then stops the work). */
    signal?: AbortSignal | undefined;
    /** Told of each interim (1xx) answer's headers. */
    onInterim?: ((headers: Record<string, unknown>) => void) | undefined;
  } = {},
): Promise<Record<string, unknown>> {
  const { signal } = follow;
  const text = JSON.stringify(payload);
  const { status, body } = await new Promise<{ status: number; body: string }>(
    (resolve, reject) => {
      const req = httpRequest(
        {
          socketPath,
          path,
          method: 'POST',
          ...(signal === undefined ? {} : { signal }),
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 500,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      if (follow.onInterim !== undefined)
        req.on('information', (info) => follow.onInterim?.(info.headers));
      req.on('error', (cause) =>
        reject(
          signal?.aborted === true
            ? new AgentSecretsError('cancelled', 'the call was cancelled by its caller', { cause })
            : new AgentSecretsError(
                'internal_error',
                'the key holder (agentsecrets proxy) stopped answering; restart it with `agentsecrets proxy start`',
                { cause },
              ),
        ),
      );
      req.end(text);
    },
  );
  const parsed = obj(JSON.parse(body), 'response');
  if (status !== 200) {
    const { error, message, ...context } = parsed;
    const code = [...WIRE_CODES, ...LOCAL_CODES].includes(error as ErrorCode)
      ? (error as ErrorCode)
      : 'internal_error';
    throw new AgentSecretsError(
      code,
      typeof message === 'string' ? message : 'the key holder refused the request',
      {
        context: context as Record<string, string>,
      },
    );
  }
  return parsed;
}

/** A client for a running key holder. */
export function createKeyHolderClient(socketPath: string): CredentialService {
  const post = (path: string, payload: unknown) => postToKeyHolder(socketPath, path, payload);

  return {
    mode: 'key-holder',
    async call(input: ServiceCallInput): Promise<CallResult> {
      const r = await postToKeyHolder(socketPath, '/v1/call', callToWire(input), {
        signal: toAbortSignal(input.signal),
        onInterim: (headers) => {
          const held = headers[HELD_HEADER];
          if (typeof held !== 'string' || input.onHeld === undefined) return;
          try {
            const info = obj(JSON.parse(held), 'held');
            input.onHeld({
              approval_id: str(info.approval_id, 'approval_id'),
              timeout_s: num(info.timeout_s, 'timeout_s'),
              dashboard_url: optStr(info.dashboard_url ?? undefined, 'dashboard_url') ?? null,
            });
          } catch {
            // A malformed hint changes nothing: the call still gets its answer.
          }
        },
      });
      return {
        status: num(r.status, 'status'),
        headers: arr(r.headers, 'headers').map((h) => {
          const pair = arr(h, 'header');
          return [str(pair[0], 'name'), str(pair[1], 'value')] as [string, string];
        }),
        body: Buffer.from(str(r.body_base64, 'body_base64'), 'base64'),
        redacted: r.redacted === true,
        durationMs: num(r.duration_ms, 'duration_ms'),
        requestId: str(r.request_id, 'request_id'),
      };
    },
    async envValues(request: EnvRequest) {
      const r = await post('/v1/env', request);
      const mask = Array.isArray(r.mask) ? r.mask : [];
      return {
        values: new Map(Object.entries(obj(r.values, 'values')).map(([k, v]) => [k, str(v, k)])),
        mask: mask.map((v, i) => str(v, `mask[${i}]`)),
      };
    },
    async auditTrust() {
      const r = await post('/v1/audit-key', {});
      const head = r.head === null || r.head === undefined ? null : obj(r.head, 'head');
      return {
        publicKey: optStr(r.public_key, 'public_key'),
        head:
          head === null ? null : { n: num(head.n, 'head.n'), hash: str(head.hash, 'head.hash') },
      };
    },
    async identify(identity, workspaceId) {
      const r = await post('/v1/identify', { identity, workspaceId });
      const c = obj(r.caller, 'caller');
      const level = str(c.level, 'level');
      if (!['anonymous', 'declared', 'issued'].includes(level))
        throw new AgentSecretsError('internal_error', 'malformed answer');
      return {
        level: level as Caller['level'],
        agentId: optStr(c.agentId, 'agentId') ?? null,
        tokenId: optStr(c.tokenId, 'tokenId') ?? null,
        source: identity.source,
      };
    },
    async close() {},
  };
}

/** What a running key holder says of itself (GET /v1/state); undefined when none answers. */
export async function keyHolderState(
  socketPath: string,
  timeoutMs = 3000,
): Promise<Record<string, unknown> | undefined> {
  return new Promise((resolve) => {
    const req = httpRequest(
      { socketPath, path: '/v1/state', method: 'GET', timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve(obj(JSON.parse(Buffer.concat(chunks).toString('utf8')), 'state'));
          } catch {
            resolve(undefined);
          }
        });
      },
    );
    req.on('timeout', () => {
      req.destroy();
      resolve(undefined);
    });
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** True when a key holder answers on this socket. */
export async function keyHolderAlive(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(
      { socketPath, path: '/v1/health', method: 'GET', timeout: timeoutMs },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

function callToWire(input: ServiceCallInput) {
  return {
    ...input,
    signal: undefined,
    onHeld: undefined,
    body: undefined,
    body_base64: input.body === undefined ? null : input.body.toString('base64'),
  };
}

function callFromWire(body: Record<string, unknown>): ServiceCallInput {
  const bodyBase64 = optStr(body.body_base64, 'body_base64');
  return {
    url: str(body.url, 'url'),
    method: str(body.method, 'method'),
    headers: arr(body.headers, 'headers').map((h) => {
      const pair = arr(h, 'header');
      return [str(pair[0], 'name'), str(pair[1], 'value')] as [string, string];
    }),
    body: bodyBase64 === undefined ? undefined : Buffer.from(bodyBase64, 'base64'),
    injections: arr(body.injections, 'injections').map(injectionFromWire),
    target: targetFromWire(body.target),
    identity: identityFromWire(body.identity),
  };
}

function envFromWire(body: Record<string, unknown>): EnvRequest {
  return {
    target: targetFromWire(body.target),
    keys:
      body.keys === undefined || body.keys === null
        ? undefined
        : arr(body.keys, 'keys').map((k) => str(k, 'key')),
    command: str(body.command, 'command'),
    identity: identityFromWire(body.identity),
    failure: body.failure === 'command_not_found' ? 'command_not_found' : undefined,
  };
}

function injectionFromWire(raw: unknown): Injection {
  const i = obj(raw, 'injection');
  const style = str(i.style, 'style');
  if (!(INJECTION_STYLES as readonly string[]).includes(style))
    throw new AgentSecretsError('bad_request', `unknown injection style ${style}`);
  const target = optStr(i.target, 'target');
  const key = str(i.key, 'key');
  // Checked here as in the engine: a held call shows its key names to a human.
  if (!isValidKeyName(key)) throw keyNameRefused();
  return {
    style: style as Injection['style'],
    key,
    ...(target === undefined ? {} : { target }),
  };
}

function targetFromWire(raw: unknown): Target {
  const t = obj(raw, 'target');
  return {
    workspaceId: str(t.workspaceId, 'workspaceId'),
    projectId: str(t.projectId, 'projectId'),
    environment: str(t.environment, 'environment'),
  };
}

function identityFromWire(raw: unknown): PresentedIdentity {
  const i = obj(raw, 'identity');
  const source = str(i.source, 'source');
  if (!(AUDIT_SOURCES as readonly string[]).includes(source)) {
    throw new AgentSecretsError('bad_request', 'malformed identity');
  }
  // A client presents a name or a token; the key holder verifies the token itself, so no
  // client can claim the `issued` level.
  return {
    source: source as PresentedIdentity['source'],
    agentId: optStr(i.agentId, 'agentId'),
    token: optStr(i.token, 'token'),
  };
}
