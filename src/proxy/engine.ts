import type { Readable } from 'node:stream';
import type { Limits } from '../core/config.js';
import { AgentSecretsError, type ErrorCode, toAgentSecretsError } from '../core/errors.js';
import { timeOrderedId } from '../core/ids.js';
import { createRedactStream } from '../core/redact-stream.js';
import { type CompiledNeedles, compileNeedles, redactAll } from '../core/redactor.js';
import type { AuditEntry, AuditSource, AuditStatus, IdentityLevel } from '../audit/format.js';
import type { AuditWriter } from '../audit/writer.js';
import { type AllowlistPattern, matchAllowlist, parseAllowlistEntry } from '../policy/allowlist.js';
import type { SecretBinding } from '../vault/format.js';
import type { Workspace } from '../workspace/model.js';
import { redactionNeedles } from './encodings.js';
import { discard, type Forwarder } from './forward.js';
import { applyInjections, type Injection } from './inject.js';
import { checkAddress, type CidrSet, literalAddress } from './ssrf.js';
import { applySubstitutions, checkSubstitutionPlaces, type Substitution } from './substitute.js';

/** Who is calling, as far as the edge could establish. */
export interface Caller {
  level: IdentityLevel;
  agentId: string | null;
  tokenId: string | null;
  source: AuditSource;
}

/** Which workspace, project and environment a call uses (ids). */
export interface Target {
  workspaceId: string;
  projectId: string;
  environment: string;
}

/** One authenticated call, as an edge hands it to the engine. */
export interface CallInput {
  url: string;
  method: string;
  headers: [string, string][];
  body: Buffer | undefined;
  injections: Injection[];
  target: Target;
  caller: Caller;
  /** `run` traffic: the injections are placeholder substitutions (src/proxy/substitute.ts). */
  substitute?: boolean;
}

/** Where the engine finds workspaces and secrets. */
export interface EngineSources {
  workspace(id: string): Promise<Workspace>;
  /** Bindings of the named keys; a key without a record is absent. */
  bindings(target: Target, keys: readonly string[]): Promise<Map<string, SecretBinding | null>>;
  values(target: Target, keys: readonly string[]): Promise<Map<string, string>>;
}

/** Runs after identity and before the secrets are read: per-agent and workspace policy. */
export type PolicyCheck = (context: {
  caller: Caller;
  workspace: Workspace;
  url: URL;
  method: string;
  keys: string[];
}) => Promise<{ decision: string } | void>;

export interface EngineOptions {
  sources: EngineSources;
  audit: AuditWriter;
  forwarder: Forwarder;
  override: CidrSet;
  limits: Limits;
  policy?: PolicyCheck;
  now?: () => number;
  /** Recorded in every entry instead of the override's CIDRs (they plus AGENTSECRETS_RESOLVE). */
  overrideNote?: string | null;
}

/** A response on its way back: redacted headers now, a redacted body stream, audit at the end. */
export interface EngineResponse {
  requestId: string;
  status: number;
  headers: [string, string][];
  body: Readable;
  contentLength: number | undefined;
  /** Whether anything was replaced so far (headers, and the body once it has been read). */
  redacted(): boolean;
  /** Resolves with the audit entry once the body has been fully read (or has failed). */
  done: Promise<AuditEntry>;
}

/** The HTTP status of each wire code (DESIGN §7). */
export const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  bad_request: 400,
  invalid_session: 401,
  invalid_agent_token: 401,
  token_revoked: 403,
  identity_required: 403,
  empty_allowlist: 403,
  domain_not_in_allowlist: 403,
  non_https_blocked: 403,
  ssrf_protection_blocked: 403,
  policy_denied: 403,
  secret_binding_mismatch: 403,
  secret_not_found: 404,
  request_too_large: 413,
  rate_limited: 429,
  upstream_error: 502,
  response_too_large: 502,
  upstream_timeout: 504,
  sync_stale: 503,
};

/** HTTP status for an error code; 500 for codes that never go on the wire. */
export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code] ?? 500;
}

const BLOCK_CODES = new Set<ErrorCode>([
  'invalid_session',
  'invalid_agent_token',
  'token_revoked',
  'identity_required',
  'empty_allowlist',
  'domain_not_in_allowlist',
  'non_https_blocked',
  'ssrf_protection_blocked',
  'policy_denied',
  'secret_binding_mismatch',
  'rate_limited',
  'sync_stale',
]);

/** The credential engine: checks, injection, forwarding, redaction and audit (DESIGN §7). */
export interface Engine {
  execute(input: CallInput): Promise<EngineResponse>;
  /** Records a call refused before it reached the engine (bad headers, bad session). */
  recordRefusal(
    input: Partial<CallInput> & { caller: Caller },
    error: AgentSecretsError,
  ): Promise<AuditEntry>;
}

/** Creates the engine. */
export function createEngine(options: EngineOptions): Engine {
  const now = options.now ?? (() => performance.now());
  const { override, limits } = options;
  const overrideNote =
    options.overrideNote !== undefined
      ? options.overrideNote
      : override.empty
        ? null
        : override.source;

  // Deriving every encoding of a value (and deduplicating them) costs more than the rest of a
  // call's redaction, and the same secrets are used over and over: keep the compiled sets.
  const needleCache = new Map<string, CallNeedles>();
  function needlesFor(
    injections: readonly Injection[],
    values: ReadonlyMap<string, string>,
  ): CallNeedles {
    const parts = injections.map((i) => `${i.style === 'basic' ? 'b' : 'v'}${values.get(i.key)!}`);
    const cacheKey = parts.join('\u0000');
    let compiled = needleCache.get(cacheKey);
    if (compiled === undefined) {
      compiled = callNeedles(
        injections.flatMap((i) =>
          redactionNeedles(values.get(i.key)!, { basic: i.style === 'basic' }),
        ),
      );
      if (needleCache.size >= 256) needleCache.clear();
      needleCache.set(cacheKey, compiled);
    }
    return compiled;
  }

  async function execute(input: CallInput): Promise<EngineResponse> {
    const started = now();
    const requestId = timeOrderedId('evt');
    const keys = [...new Set(input.injections.map((i) => i.key))];
    const styles = input.injections.map((i) =>
      i.target === undefined ? i.style : `${i.style}:${i.target}`,
    );
    let workspace: Workspace | undefined;
    let projectName: string | null = null;
    let url: URL | undefined;
    let needles: CompiledNeedles = NO_NEEDLES.body;
    let policyNote: string | null = null;

    const record = (
      status: AuditStatus,
      statusCode: number | null,
      reason: string | null,
      redacted: boolean,
    ) =>
      options.audit.append({
        id: requestId,
        workspace: workspace?.name ?? null,
        project: projectName,
        environment: input.target.environment,
        agent_id: input.caller.agentId,
        identity_level: input.caller.level,
        token_id: input.caller.tokenId,
        source: input.caller.source,
        method: input.method,
        target_url: scrub(input.url, needles),
        domain: url?.hostname ?? null,
        secret_keys: keys,
        auth_styles: styles,
        status,
        status_code: statusCode,
        reason,
        redacted,
        duration_ms: now() - started,
        private_override: overrideNote,
        policy: policyNote,
      });

    try {
      workspace = await options.sources.workspace(input.target.workspaceId);
      projectName = workspace.projects.find((p) => p.id === input.target.projectId)?.name ?? null;
      url = parseTarget(input.url);
      const method = input.method.toUpperCase();
      if (!/^[A-Z]+$/.test(method)) throw badRequest(`'${input.method}' is not an HTTP method`);

      // HTTPS only, unless the private-network override is on (checked again at connect).
      if (url.protocol === 'http:' && override.empty) throw nonHttps(url);

      // Deny by default: the workspace allowlist.
      const patterns = patternsOf(workspace.allowlist);
      if (patterns.length === 0) {
        throw new AgentSecretsError(
          'empty_allowlist',
          `the workspace allowlist is empty, so no call can be made. To allow this domain, a human runs: agentsecrets workspace allowlist add ${hostPort(url)}`,
          { context: { domain: url.hostname } },
        );
      }
      if (matchAllowlist(url, patterns) === undefined) {
        throw new AgentSecretsError(
          'domain_not_in_allowlist',
          `${hostPort(url)} is not in your workspace allowlist. To authorize it, a human runs: agentsecrets workspace allowlist add ${hostPort(url)}`,
          { context: { domain: url.hostname } },
        );
      }

      if (options.policy !== undefined) {
        const outcome = await options.policy({
          caller: input.caller,
          workspace,
          url,
          method,
          keys,
        });
        policyNote = outcome?.decision ?? null;
      }

      // Only now, after the allowlist, may key names be confirmed or denied.
      const bindings = await options.sources.bindings(input.target, keys);
      for (const key of keys) {
        if (!bindings.has(key)) {
          throw new AgentSecretsError(
            'secret_not_found',
            `secret '${key}' not found; a human adds it with: agentsecrets secrets set ${key}`,
            {
              context: { secret: key },
            },
          );
        }
      }
      for (const injection of input.injections) {
        checkBinding(
          injection,
          bindings.get(injection.key) ?? null,
          url,
          workspace.policy.require_binding,
        );
      }
      if (input.substitute === true) checkSubstitutionPlaces(input.injections, bindings);

      // IP-literal hosts never reach the DNS guard: check them here.
      const literal = literalAddress(url.hostname);
      if (literal !== undefined) {
        const verdict = checkAddress(literal, override);
        if (url.protocol === 'http:' && !override.contains(literal)) throw nonHttps(url);
        if (!verdict.allowed) {
          throw new AgentSecretsError(
            'ssrf_protection_blocked',
            `${url.hostname} is a private or reserved address (${verdict.reason ?? 'blocked'}); credentials are never sent there`,
            { context: { domain: url.hostname } },
          );
        }
      }

      const values = await options.sources.values(input.target, keys);
      const secretNeedles = needlesFor(input.injections, values);
      needles = secretNeedles.body;
      const request = { method, url, headers: input.headers, body: input.body };
      const outbound =
        input.substitute === true
          ? applySubstitutions(request, input.injections as Substitution[], values)
          : applyInjections(request, input.injections, values);
      const upstream = await options.forwarder.send(outbound);

      // Headers: drop or scrub them now; the body: stream it through the redactor with a cap.
      const { headers, count: redactedCount } = redactHeaders(upstream.headers, secretNeedles);
      if (
        upstream.contentLength !== undefined &&
        upstream.contentLength > limits.maxResponseBytes
      ) {
        discard(upstream.body);
        throw tooLarge(url);
      }
      // One transform caps the size and scrubs the body; plain pipe() rather than pipeline(),
      // whose teardown costs an abort and an error object per call.
      const scrubber = createRedactStream(needles, {
        maxBytes: limits.maxResponseBytes,
        tooLarge: () => tooLarge(url!),
      });
      const body = upstream.body;
      body.on('error', (err) => scrubber.destroy(upstream.translateError(err)));
      scrubber.once('close', () => {
        if (!body.readableEnded) discard(body);
      });
      body.pipe(scrubber);
      const redacted = () => redactedCount + scrubber.redactions > 0;
      const done = new Promise<AuditEntry>((resolve, reject) => {
        let settled = false;
        // Exactly one entry per call, whichever of end, error or close comes first.
        const settle = (outcome: () => Promise<AuditEntry>) => {
          if (settled) return;
          settled = true;
          outcome().then(resolve, reject);
        };
        scrubber.once('end', () => settle(() => record('OK', upstream.status, null, redacted())));
        scrubber.once('error', (err: unknown) => {
          const error = err instanceof AgentSecretsError ? err : toAgentSecretsError(err);
          settle(() =>
            record(
              'ERROR',
              upstream.status,
              error.code === 'internal_error' ? 'upstream_error' : error.code,
              redacted(),
            ),
          );
        });
        // The reader went away before the end (a client hung up).
        scrubber.once('close', () =>
          settle(() => record('ERROR', upstream.status, 'cancelled', redacted())),
        );
      });
      return {
        requestId,
        status: upstream.status,
        headers,
        body: scrubber,
        contentLength: undefined,
        redacted,
        done,
      };
    } catch (err) {
      const error = toAgentSecretsError(err);
      error.context.request_id = requestId;
      const status = BLOCK_CODES.has(error.code) ? 'BLOCKED' : 'ERROR';
      await record(status, httpStatusOf(error.code), error.code, false);
      throw error;
    }
  }

  async function recordRefusal(
    input: Partial<CallInput> & { caller: Caller },
    error: AgentSecretsError,
  ) {
    let domain: string | null;
    try {
      domain = input.url === undefined ? null : new URL(input.url).hostname;
    } catch {
      domain = null;
    }
    return options.audit.append({
      workspace: null,
      project: null,
      environment: input.target?.environment ?? null,
      agent_id: input.caller.agentId,
      identity_level: input.caller.level,
      token_id: input.caller.tokenId,
      source: input.caller.source,
      method: input.method ?? 'UNKNOWN',
      target_url: input.url ?? null,
      domain,
      secret_keys: [...new Set((input.injections ?? []).map((i) => i.key))],
      auth_styles: (input.injections ?? []).map((i) => i.style),
      status: BLOCK_CODES.has(error.code) ? 'BLOCKED' : 'ERROR',
      status_code: httpStatusOf(error.code),
      reason: error.code,
      redacted: false,
      duration_ms: 0,
      private_override: overrideNote,
    });
  }

  return { execute, recordRefusal };
}

function parseTarget(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badRequest(
      'the target URL is not a valid absolute URL, e.g. https://api.example.com/v1/items',
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw badRequest(`only https:// URLs can be called, not ${url.protocol}`);
  }
  if (url.username !== '' || url.password !== '') {
    throw badRequest(
      'URLs with user:password@ are refused; inject credentials with --basic or a header instead',
    );
  }
  return url;
}

function checkBinding(
  injection: Injection,
  binding: SecretBinding | null,
  url: URL,
  required: boolean,
): void {
  const key = injection.key;
  if (binding === null) {
    if (!required) return;
    throw new AgentSecretsError(
      'secret_binding_mismatch',
      `secret '${key}' is not bound to any domain and this workspace requires bindings; a human runs: agentsecrets secrets bind ${key} ${url.hostname}`,
      { context: { secret: key, domain: url.hostname } },
    );
  }
  const patterns = binding.domains.map((d) => parseAllowlistEntry(d));
  if (matchAllowlist(url, patterns) === undefined) {
    throw new AgentSecretsError(
      'secret_binding_mismatch',
      `secret '${key}' is bound to ${binding.domains.join(', ')} and is never sent to ${hostPort(url)}`,
      { context: { secret: key, domain: url.hostname } },
    );
  }
  if (binding.styles.length > 0 && !binding.styles.includes(injection.style)) {
    throw new AgentSecretsError(
      'secret_binding_mismatch',
      `secret '${key}' may only be injected as ${binding.styles.join(', ')}, not as ${injection.style}`,
      { context: { secret: key, domain: url.hostname } },
    );
  }
}

/** The needles of one call: for bodies and header values, and lower-cased for header names. */
export interface CallNeedles {
  body: CompiledNeedles;
  names: readonly string[];
}

/** Compiles the needles of one call (from redactionNeedles of each injected value). */
export function callNeedles(needles: readonly string[]): CallNeedles {
  const body = compileNeedles(needles);
  return { body, names: [...new Set(body.text.map((n) => n.toLowerCase()))] };
}

const NO_NEEDLES = callNeedles([]);

/**
 * Response headers as they may go back to a caller. A name that contains a secret in any
 * form is dropped with its value: names cannot be rewritten in place, and HTTP clients
 * lower-case them, so they are compared without case. Values are scrubbed as bodies are.
 */
export function redactHeaders(
  headers: readonly [string, string][],
  needles: CallNeedles,
): { headers: [string, string][]; count: number } {
  let count = 0;
  const kept: [string, string][] = [];
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (needles.names.some((n) => lower.includes(n))) {
      count++;
      continue;
    }
    if (!needles.body.text.some((n) => value.includes(n))) {
      kept.push([name, value]);
      continue;
    }
    const redacted = redactAll(value, needles.body);
    count += redacted.count;
    kept.push([name, redacted.output.toString('utf8')]);
  }
  return { headers: kept, count };
}

// Parsed allowlists, per (cached, immutable) allowlist array of a workspace document.
const parsedAllowlists = new WeakMap<object, AllowlistPattern[]>();
function patternsOf(entries: readonly { pattern: string }[]): AllowlistPattern[] {
  let patterns = parsedAllowlists.get(entries);
  if (patterns === undefined) {
    patterns = entries.map((e) => parseAllowlistEntry(e.pattern));
    parsedAllowlists.set(entries, patterns);
  }
  return patterns;
}

/** Removes any injected value from a URL before it is logged. */
function scrub(url: string, needles: CompiledNeedles): string {
  return needles.text.some((n) => url.includes(n))
    ? redactAll(url, needles).output.toString('utf8')
    : url;
}

function hostPort(url: URL): string {
  return url.port === '' ? url.hostname : `${url.hostname}:${url.port}`;
}

function nonHttps(url: URL): AgentSecretsError {
  return new AgentSecretsError(
    'non_https_blocked',
    `plain HTTP to ${url.hostname} is refused: only https:// URLs are allowed (local development can open private addresses with AGENTSECRETS_ALLOW_PRIVATE)`,
    { context: { domain: url.hostname } },
  );
}

function tooLarge(url: URL): AgentSecretsError {
  return new AgentSecretsError(
    'response_too_large',
    `the response from ${url.hostname} is larger than the limit (AGENTSECRETS_MAX_RESPONSE_BYTES)`,
    { context: { domain: url.hostname } },
  );
}

function badRequest(message: string): AgentSecretsError {
  return new AgentSecretsError('bad_request', message);
}
