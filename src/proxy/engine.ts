import { Readable } from 'node:stream';
import type { GoneSignal } from '../core/hang-up.js';
import type { Limits } from '../core/config.js';
import {
  AgentSecretsError,
  type ErrorCode,
  HTTP_STATUS,
  httpStatusOf,
  toAgentSecretsError,
} from '../core/errors.js';
import { timeOrderedId } from '../core/ids.js';
import { isValidKeyName, keyNameRefused } from '../core/keys.js';
import { EMPTY_SCRUBBER, type Scrubber } from '../core/scrub/scrubber.js';
import { createScrubState, createScrubStream, scrubWhole } from '../core/scrub/stream.js';
import type { AuditEntry, AuditStatus } from '../audit/format.js';
import type { AuditWriter } from '../audit/writer.js';
import { type AllowlistPattern, domainPatterns, parseAllowlistEntry } from '../policy/allowlist.js';
import type { ApprovalContext, ApprovalHook, HeldInfo } from '../policy/approvals-gate.js';
import type { SecretBinding } from '../vault/format.js';
import type { Workspace } from '../workspace/model.js';
import type { Caller } from '../identity/caller.js';
import type { Target } from '../workspace/selection.js';
import { discard, type Forwarder } from './forward.js';
import { applyInjections, type Injection, invalidSecretValue, isAscii } from './inject.js';
import { decodeResponseBody, plainBody } from './response-body.js';
import { createVerdictMemo } from './verdict-memo.js';
import { checkAddress, type CidrSet, literalAddress } from './ssrf.js';
import { applySubstitutions, checkSubstitutionPlaces, type Substitution } from './substitute.js';

export type { Caller, Target };

/** One authenticated call, as an edge hands it to the engine. */
export interface CallInput {
  url: string;
  /**
   * `url` as the edge already parsed it (run's intercepting proxy), so it is not parsed again;
   * it must serialise to `url` exactly (checked), and nothing may change it afterwards.
   */
  parsedUrl?: URL | undefined;
  method: string;
  headers: [string, string][];
  body: Buffer | undefined;
  injections: Injection[];
  target: Target;
  caller: Caller;
  /** `run` traffic: the injections are placeholder substitutions (src/proxy/substitute.ts). */
  substitute?: boolean;
  /** Aborts when the caller went away: a call held for approval stops waiting. */
  signal?: GoneSignal | undefined;
  /**
   * Aborts when the caller's connection closed and no answer can reach it any more: the
   * upstream exchange stops too, audited `cancelled`. Set by the HTTP edges (the X-AS-* proxy
   * and run's intercepting proxy), not by MCP, whose calls in flight finish on shutdown.
   */
  upstreamSignal?: GoneSignal | undefined;
  /** Told when the call waits for a human's approval (src/policy/approvals-gate.ts). */
  onHeld?: ((info: HeldInfo) => void) | undefined;
}

/** What the engine needs to know of a secret before it reads the value. */
export interface SecretMeta {
  binding: SecretBinding | null;
  /** A human allowed this value to be injected although it is short (`--allow-short`). */
  allowShort: boolean;
}

/** Where the engine finds workspaces and secrets. */
export interface EngineSources {
  workspace(id: string): Promise<Workspace>;
  /** Metadata of the named keys; a key without a record is absent. */
  bindings(target: Target, keys: readonly string[]): Promise<Map<string, SecretMeta>>;
  values(target: Target, keys: readonly string[]): Promise<Map<string, string>>;
  /**
   * Every value in scope, compiled for scrubbing: all values the serving process can decrypt
   * (and at least `injected`). Compiled once per vault change, not per call.
   */
  scope(injected: readonly string[]): Promise<Scrubber>;
}

/** Injected values shorter than this (in UTF-8 bytes) need a human's `--allow-short`. */
export const MIN_INJECT_BYTES = 16;
/** Not even a human can allow a value shorter than this: it could not be scrubbed. */
export const MIN_SHORT_BYTES = 4;

/** Request headers an agent may not send: they let a response return a value in slices. */
const REFUSED_HEADERS = new Set(['range', 'if-range']);

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
  /** Holds a call for a human's approval (src/policy/approvals-gate.ts). */
  approve?: ApprovalHook;
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
  /**
   * The whole redacted body, when it was small enough to be read before answering (the audit
   * entry is then already on its way); `body` streams the same bytes.
   */
  whole: Buffer | undefined;
  contentLength: number | undefined;
  /** Whether anything was replaced so far (headers, and the body once it has been read). */
  redacted(): boolean;
  /** Resolves with the audit entry once the body has been fully read (or has failed). */
  done: Promise<AuditEntry>;
}

export { HTTP_STATUS, httpStatusOf };

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
  'approval_denied',
  'approval_timeout',
  'approval_required',
  'approval_queue_full',
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

  // Verdicts on IP-literal hosts: the override is fixed for the engine's life, so the answer
  // for an address never changes (a bounded memo, cleared when full).
  const literalVerdicts = new Map<string, ReturnType<typeof checkAddress>>();
  function literalVerdict(address: string): ReturnType<typeof checkAddress> {
    let verdict = literalVerdicts.get(address);
    if (verdict === undefined) {
      verdict = checkAddress(address, override);
      if (literalVerdicts.size >= 1024) literalVerdicts.clear();
      literalVerdicts.set(address, verdict);
    }
    return verdict;
  }

  async function execute(input: CallInput): Promise<EngineResponse> {
    const started = now();
    const requestId = timeOrderedId('evt');
    const keys =
      input.injections.length === 1
        ? [input.injections[0]!.key]
        : [...new Set(input.injections.map((i) => i.key))];
    const styles = input.injections.map((i) =>
      i.target === undefined ? i.style : `${i.style}:${i.target}`,
    );
    let workspace: Workspace | undefined;
    let projectName: string | null = null;
    let url: URL | undefined;
    let scrubber: Scrubber = EMPTY_SCRUBBER;
    let policyNote: string | null = null;

    const record = (
      status: AuditStatus,
      statusCode: number | null,
      reason: string | null,
      redacted: boolean,
      detail?: string,
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
        target_url: scrubUrl(input.url, scrubber),
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
        detail: detail ?? null,
      });

    try {
      workspace = await options.sources.workspace(input.target.workspaceId);
      projectName = projectNameOf(workspace, input.target.projectId);
      url =
        input.parsedUrl instanceof URL && input.parsedUrl.href === input.url
          ? checkTarget(input.parsedUrl)
          : parseTarget(input.url);
      const method = input.method.toUpperCase();
      if (!/^[A-Z]+$/.test(method)) throw badRequest(`'${input.method}' is not an HTTP method`);
      // Before the approval gate, which shows key names to a human: never attacker text.
      if (!keys.every(isValidKeyName)) throw keyNameRefused();
      for (const [name] of input.headers) {
        if (REFUSED_HEADERS.has(name.toLowerCase())) {
          throw new AgentSecretsError(
            'header_not_allowed',
            `the ${name} header is refused: a response read in slices could carry a secret past redaction; request the whole resource`,
          );
        }
      }

      // HTTPS only, unless the private-network override is on (checked again at connect).
      if (url.protocol === 'http:' && override.empty) throw nonHttps(url);

      // Deny by default: the workspace allowlist.
      const patterns = patternsOf(workspace.allowlist);
      // Approvals (issue 16): a human may hold a listed call, or let an unlisted one through.
      const listed = patterns.length > 0 && allowedBy(url, patterns) !== undefined;
      // The context is built field by field: a spread of `input` plus new fields costs V8
      // several microseconds per call (a fresh map transition per added property).
      const approved = await options.approve?.({
        caller: input.caller,
        target: input.target,
        workspace,
        url,
        method,
        keys,
        listed,
        requestId,
        signal: input.signal,
        onHeld: input.onHeld,
        // Every field named, optional ones too: a field left out fails to compile (the abort
        // signal and the held notice were once lost here without a type error).
      } satisfies EveryField<ApprovalContext>);
      if (patterns.length === 0 && approved !== true) {
        throw new AgentSecretsError(
          'empty_allowlist',
          `the workspace allowlist is empty, so no call can be made. To allow this domain, a human runs: agentsecrets workspace allowlist add ${hostPort(url)}`,
          { context: { domain: url.hostname } },
        );
      }
      if (!listed && approved !== true) {
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
          bindings.get(injection.key)?.binding ?? null,
          url,
          workspace.policy.require_binding,
        );
      }
      if (input.substitute === true) {
        checkSubstitutionPlaces(
          input.injections,
          new Map([...bindings].map(([key, meta]) => [key, meta.binding])),
        );
      }

      // IP-literal hosts never reach the DNS guard: check them here.
      const literal = literalAddress(url.hostname);
      if (literal !== undefined) {
        const verdict = literalVerdict(literal);
        if (url.protocol === 'http:' && !verdict.viaOverride) throw nonHttps(url);
        if (!verdict.allowed) {
          throw new AgentSecretsError(
            'ssrf_protection_blocked',
            `${url.hostname} is a private or reserved address (${verdict.reason ?? 'blocked'}); credentials are never sent there`,
            { context: { domain: url.hostname } },
          );
        }
      }

      const values = await options.sources.values(input.target, keys);
      for (const injection of input.injections) {
        const value = values.get(injection.key);
        if (value === undefined) continue;
        // For Basic, the password is what an upstream can reflect on its own: it is held to
        // the same length rule as a whole value.
        const secret = injection.style === 'basic' ? value.slice(value.indexOf(':') + 1) : value;
        const bytes = Buffer.byteLength(secret, 'utf8');
        const allowed =
          bindings.get(injection.key)?.allowShort === true && bytes >= MIN_SHORT_BYTES;
        if (bytes < MIN_INJECT_BYTES && !allowed) throw invalidSecretValue(injection.key);
      }
      scrubber = await options.sources.scope([...values.values()]);
      const request = { method, url, headers: input.headers, body: input.body };
      const outbound =
        input.substitute === true
          ? applySubstitutions(request, input.injections as Substitution[], values)
          : applyInjections(request, input.injections, values);
      // A caller that hangs up before the answer stops the exchange too (audited `cancelled`).
      const upstream = await options.forwarder.send(outbound, input.upstreamSignal);

      if (
        upstream.contentLength !== undefined &&
        upstream.contentLength > limits.maxResponseBytes
      ) {
        discard(upstream.body);
        throw tooLarge(url);
      }
      const target = url;
      // A small plain body read whole (most API answers): the same scrub state a stream runs,
      // fed the whole body at once, and the entry recorded now. No stream is built.
      let whole: Buffer | undefined;
      if (upstream.whole !== undefined) {
        try {
          whole = await upstream.whole;
        } catch {
          // Streamed below from what was read, and fails there as the body did.
          whole = undefined;
        }
      }
      const plain =
        whole === undefined || whole.length > limits.maxResponseBytes
          ? undefined
          : plainBody(whole, upstream.headers, upstream.transferCodings);
      if (whole !== undefined && plain !== undefined) {
        const { headers, count: headerCount } = redactHeaders(upstream.headers, scrubber);
        const scrubOptions = {
          lines: isEventStream(headers),
          hints: plain.utf16 === undefined ? undefined : { utf16: plain.utf16 },
        };
        // One scan of the whole body where that is what the scrub state would do (most
        // answers: small, not an event stream); the state otherwise.
        let scrubbed = scrubWhole(scrubber, whole, scrubOptions);
        if (scrubbed === undefined) {
          const state = createScrubState(scrubber, scrubOptions);
          const first = state.push(whole);
          const last = state.end();
          scrubbed = {
            bytes: first.length === 0 ? last : Buffer.concat([first, last]),
            count: state.count,
          };
        }
        const bytes = scrubbed.bytes;
        const redacted = headerCount + scrubbed.count > 0;
        const done = record('OK', upstream.status, null, redacted);
        return new WholeResponse(requestId, upstream.status, headers, bytes, redacted, done);
      }
      // The body: every declared encoding undone and compressed payloads looked into, then
      // scrubbed as a stream with a cap. Plain pipe() rather than pipeline(), whose teardown
      // costs an abort and an error object per call.
      // (A small body that could not take the path above streams from what was read.)
      const decoded = decodeResponseBody(upstream.body, upstream.headers, {
        url: target,
        transferCodings: upstream.transferCodings,
        maxBytes: limits.maxResponseBytes,
        scrubber,
        tooLarge: () => tooLarge(target),
      });
      // Headers: drop or scrub them now.
      const { headers, count: redactedCount } = redactHeaders(decoded.headers, scrubber);
      // An event stream (SSE: model tokens, progress) is released an event line at a time, as
      // program output is, so it is not held back a kilobyte at a time. A value with line
      // breaks in it (a PEM key) is still found line by line: each of its lines is a run.
      const eventStream = isEventStream(headers);
      const scrubStream = createScrubStream(scrubber, {
        maxBytes: limits.maxResponseBytes,
        tooLarge: () => tooLarge(target),
        lines: eventStream,
        ...(decoded.utf16 === undefined ? {} : { hints: { utf16: decoded.utf16 } }),
      });
      const body = decoded.body;
      body.on('error', (err) =>
        scrubStream.destroy(err instanceof AgentSecretsError ? err : upstream.translateError(err)),
      );
      scrubStream.once('close', () => {
        if (!body.readableEnded) discard(body);
      });
      body.pipe(scrubStream);
      const redacted = () => redactedCount + scrubStream.redactions > 0;
      const done = new Promise<AuditEntry>((resolve, reject) => {
        let settled = false;
        // Exactly one entry per call, whichever of end, error or close comes first.
        const settle = (outcome: () => Promise<AuditEntry>) => {
          if (settled) return;
          settled = true;
          outcome().then(resolve, reject);
        };
        scrubStream.once('end', () =>
          settle(() => record('OK', upstream.status, null, redacted())),
        );
        scrubStream.once('error', (err: unknown) => {
          const error = err instanceof AgentSecretsError ? err : toAgentSecretsError(err);
          const detail =
            typeof error.context.detail === 'string' ? error.context.detail : undefined;
          settle(() =>
            record(
              'ERROR',
              upstream.status,
              error.code === 'internal_error' ? 'upstream_error' : error.code,
              redacted(),
              detail,
            ),
          );
        });
        // The reader went away before the end (a client hung up).
        scrubStream.once('close', () =>
          settle(() => record('ERROR', upstream.status, 'cancelled', redacted())),
        );
      });
      return {
        requestId,
        status: upstream.status,
        headers,
        body: scrubStream,
        whole: undefined,
        contentLength: undefined,
        redacted,
        done,
      };
    } catch (err) {
      const error = toAgentSecretsError(err);
      error.context.request_id = requestId;
      const status = BLOCK_CODES.has(error.code) ? 'BLOCKED' : 'ERROR';
      const detail = typeof error.context.detail === 'string' ? error.context.detail : undefined;
      await record(status, httpStatusOf(error.code), error.code, false, detail);
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

/** The name of the workspace's project with this id, or null (a loop: no closure per call). */
function projectNameOf(workspace: Workspace, id: string): string | null {
  for (const project of workspace.projects) if (project.id === id) return project.name;
  return null;
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
  return checkTarget(url);
}

/** The checks on a parsed target URL: a scheme we call, and no credentials in it. */
function checkTarget(url: URL): URL {
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
  if (allowedBy(url, domainPatterns(binding.domains)) === undefined) {
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

/**
 * Response headers as they may go back to a caller. Header strings carry bytes (Latin-1), so
 * they are scanned as bytes. A name that holds a secret in any form is dropped with its value
 * (names cannot be rewritten in place); values are scrubbed as bodies are.
 */
export function redactHeaders(
  headers: readonly [string, string][],
  scrubber: Scrubber,
): { headers: [string, string][]; count: number } {
  let count = 0;
  const kept: [string, string][] = [];
  for (const pair of headers) {
    // An unchanged pair is kept as it is (the pairs are made per answer and never changed).
    if (scrubber.size === 0) {
      kept.push(pair);
      continue;
    }
    const [name, value] = pair;
    if (scrubber.nameContains(name)) {
      count++;
      continue;
    }
    const redacted = scrubber.redactLatin1(value);
    count += redacted.count;
    kept.push(redacted.count === 0 ? pair : [name, redacted.text]);
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

/** `T` with each of its keys present, optional ones included (their value may be undefined). */
type EveryField<T> = T & Record<keyof T, unknown>;

/** Whether a response is an event stream (SSE), released a line at a time. */
function isEventStream(headers: readonly [string, string][]): boolean {
  for (const [name, value] of headers)
    if (name.toLowerCase() === 'content-type') return /^\s*text\/event-stream/i.test(value);
  return false;
}

/**
 * A response whose whole body is in hand. A class, so that the lazy `body` getter lives on
 * the prototype (an object literal with a getter costs V8 microseconds per call).
 */
class WholeResponse implements EngineResponse {
  readonly contentLength = undefined;
  #stream: Readable | undefined;

  constructor(
    readonly requestId: string,
    readonly status: number,
    readonly headers: [string, string][],
    readonly whole: Buffer,
    private readonly wasRedacted: boolean,
    readonly done: Promise<AuditEntry>,
  ) {}

  redacted(): boolean {
    return this.wasRedacted;
  }

  /** The same bytes as a stream, for readers that take one. */
  get body(): Readable {
    if (this.#stream === undefined) {
      this.#stream = new Readable({ read() {} });
      if (this.whole.length > 0) this.#stream.push(this.whole);
      this.#stream.push(null);
    }
    return this.#stream;
  }
}

// The allowlist and binding verdicts, remembered (bounded: see verdict-memo.ts).
const { allowedBy } = createVerdictMemo();

/** A URL as the audit log keeps it: scrubbed of every value (a URL is ASCII, or UTF-8 text). */
function scrubUrl(url: string, scrubber: Scrubber): string {
  return isAscii(url)
    ? scrubber.redactLatin1(url).text
    : scrubber.redact(url).output.toString('utf8');
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
