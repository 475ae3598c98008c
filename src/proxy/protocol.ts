import { AgentSecretsError } from '../core/errors.js';
import { isValidKeyName } from '../core/keys.js';
import type { Injection, InjectionStyle } from './inject.js';

/**
 * The X-AS-* request protocol of the localhost proxy (DESIGN §7), compatible with the
 * AgentSecrets SDKs. Names are read from the RAW header list so that a parameter, path or
 * field name keeps the case the caller wrote (the Go tool's canonicalisation bug, §9.5).
 */

/** A parsed proxy request: the target, the injections, identity and pass-through headers. */
export interface ProxyRequestHeaders {
  targetUrl: string;
  method: string | undefined;
  injections: Injection[];
  agentId: string | undefined;
  agentToken: string | undefined;
  sessionToken: string | undefined;
  project: string | undefined;
  environment: string | undefined;
  /** Every other header, in order, with hop-by-hop headers and Host removed. */
  forward: [string, string][];
}

const PREFIXED: [string, InjectionStyle][] = [
  ['x-as-inject-header-', 'header'],
  ['x-as-inject-query-', 'query'],
  ['x-as-inject-body-', 'body'],
  ['x-as-inject-form-', 'form'],
];

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Whether a lower-case header name is hop-by-hop (RFC 9110 §7.6.1): one of the fixed set, or
 * named by a Connection header (`named`, from connectionNames).
 */
export function isHopByHop(lower: string, named: ReadonlySet<string> | undefined): boolean {
  return HOP_BY_HOP.has(lower) || (named !== undefined && named.has(lower));
}

// Parsed Connection values: nearly every message says `keep-alive` or `close` (bounded in
// entries and in size: a value is remembered only if short, so that an agent's call with a
// multi-megabyte Connection header, through the MCP tool or the key holder, is not kept alive).
const connectionValues = new Map<string, ReadonlySet<string>>();
/** Longest Connection value remembered. */
export const MEMO_CONNECTION_CHARS = 128;

/** The header names one Connection header value names, lower case. */
export function namesInConnection(value: string): ReadonlySet<string> {
  let names = connectionValues.get(value);
  if (names === undefined) {
    names = new Set(value.split(',').map((token) => token.trim().toLowerCase()));
    if (value.length > MEMO_CONNECTION_CHARS) return names;
    if (connectionValues.size >= 64) connectionValues.clear();
    connectionValues.set(value, names);
  }
  return names;
}

/** Adds the names of one more Connection header to those found so far. */
export function addConnectionNames(
  named: ReadonlySet<string> | undefined,
  value: string,
): ReadonlySet<string> {
  const more = namesInConnection(value);
  return named === undefined ? more : new Set([...named, ...more]);
}

/** The header names the Connection headers among `headers` name (lower case), if any. */
export function connectionNames(
  headers: readonly [string, string][],
): ReadonlySet<string> | undefined {
  let named: ReadonlySet<string> | undefined;
  for (const [name, value] of headers) {
    if (name.length === 10 && name.toLowerCase() === 'connection')
      named = addConnectionNames(named, value);
  }
  return named;
}

/**
 * Removes hop-by-hop headers (RFC 9110 §7.6.1), including those a Connection header names.
 * The list itself comes back when nothing is removed (a Connection header nearly always names
 * only `keep-alive`), so callers hand it a list of their own.
 */
export function stripHopByHop(
  headers: [string, string][],
  named: ReadonlySet<string> | undefined = connectionNames(headers),
): [string, string][] {
  let kept: [string, string][] | undefined;
  for (let i = 0; i < headers.length; i++) {
    const pair = headers[i]!;
    if (isHopByHop(pair[0].toLowerCase(), named)) kept ??= headers.slice(0, i);
    else kept?.push(pair);
  }
  return kept ?? headers;
}

/** Parses Node's `req.rawHeaders` (name, value, name, value…). */
export function parseProxyHeaders(rawHeaders: readonly string[]): ProxyRequestHeaders {
  const result: ProxyRequestHeaders = {
    targetUrl: '',
    method: undefined,
    injections: [],
    agentId: undefined,
    agentToken: undefined,
    sessionToken: undefined,
    project: undefined,
    environment: undefined,
    forward: [],
  };
  let targetUrl: string | undefined;
  const { injections, forward } = result;
  // Hop-by-hop headers are left out as they come; those a Connection header names, after.
  let named: ReadonlySet<string> | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!.trim();
    const lower = name.toLowerCase();
    if (!lower.startsWith('x-as-')) {
      if (lower === 'connection') named = addConnectionNames(named, value);
      if (lower !== 'host' && !HOP_BY_HOP.has(lower)) forward.push([name, value]);
      continue;
    }
    switch (lower) {
      case 'x-as-target-url':
        targetUrl = single(targetUrl, name, value);
        continue;
      case 'x-as-method':
        result.method = single(result.method, name, value);
        continue;
      case 'x-as-agent-id':
        result.agentId = single(result.agentId, name, value);
        continue;
      case 'x-as-agent-token':
        result.agentToken = single(result.agentToken, name, value);
        continue;
      case 'x-as-session-token':
        result.sessionToken = single(result.sessionToken, name, value);
        continue;
      case 'x-as-project':
        result.project = single(result.project, name, value);
        continue;
      case 'x-as-environment':
        result.environment = single(result.environment, name, value);
        continue;
      case 'x-as-inject-bearer':
        injections.push({ style: 'bearer', key: keyFrom(name, value) });
        continue;
      case 'x-as-inject-basic':
        injections.push({ style: 'basic', key: keyFrom(name, value) });
        continue;
    }
    const prefixed = PREFIXED.find(([prefix]) => lower.startsWith(prefix));
    if (prefixed !== undefined) {
      // The suffix is taken from the raw name, so `X-AS-Inject-Query-apiKey` sets `apiKey`.
      const target = name.slice(prefixed[0].length);
      if (target === '') throw badRequest(`${name} needs a name after the last dash`);
      injections.push({ style: prefixed[1], target, key: keyFrom(name, value) });
      continue;
    }
    throw badRequest(
      `unknown header ${name}; the X-AS-* headers are Target-URL, Method, Inject-Bearer, Inject-Basic, Inject-Header-<Name>, Inject-Query-<param>, Inject-Body-<json.path>, Inject-Form-<field>, Agent-ID, Agent-Token, Session-Token, Project, Environment`,
    );
  }
  if (targetUrl === undefined || targetUrl === '') {
    throw badRequest(
      'X-AS-Target-URL is required: the URL to call, e.g. https://api.stripe.com/v1/charges',
    );
  }
  if (injections.length === 0) {
    throw badRequest(
      'at least one X-AS-Inject-* header is required (for example X-AS-Inject-Bearer: STRIPE_KEY); the proxy only forwards calls that use a secret',
    );
  }
  result.targetUrl = targetUrl;
  if (named !== undefined) result.forward = stripHopByHop(forward, named);
  return result;
}

/** A header that may be given once: its value, or a refusal when it came before. */
function single(before: string | undefined, name: string, value: string): string {
  if (before !== undefined) throw badRequest(`${name} was given more than once`);
  return value;
}

function keyFrom(header: string, value: string): string {
  if (!isValidKeyName(value)) {
    throw badRequest(`${header} must name a secret (letters, digits and _, e.g. STRIPE_KEY)`);
  }
  return value;
}

function badRequest(message: string): AgentSecretsError {
  return new AgentSecretsError('bad_request', message);
}
