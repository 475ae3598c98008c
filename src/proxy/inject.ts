import { AgentSecretsError } from '../core/errors.js';
import { connectionNames } from './protocol.js';

/**
 * The injection engine (DESIGN §7). Pure: a request and the values in, the rewritten request
 * out. Names keep their exact case. Nothing here logs, and no error message carries a value.
 */

export const INJECTION_STYLES = ['bearer', 'basic', 'header', 'query', 'body', 'form'] as const;
export type InjectionStyle = (typeof INJECTION_STYLES)[number];

/** One injection: a style, its target name (header, parameter, JSON path, field) and a key. */
export interface Injection {
  style: InjectionStyle;
  /** Header name, query parameter, dotted JSON path or form field; absent for bearer/basic. */
  target?: string;
  key: string;
}

/** An outbound request as the engine sees it. Headers are ordered pairs with exact names. */
export interface OutboundRequest {
  method: string;
  url: URL;
  headers: [string, string][];
  body: Buffer | undefined;
}

/** Header names an injection may never set: they belong to the transport. */
const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-authenticate',
]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Refuses a header injection the forwarder would drop before the call leaves, so that no call
 * goes out without its secret while its audit entry names the secret: Accept-Encoding (the
 * proxy asks for plain bytes), X-AS-* (the proxy's own), and any header the request's
 * Connection header names (hop-by-hop, removed on the way).
 */
function assertForwarded(name: string, lower: string, headers: readonly [string, string][]): void {
  if (lower === 'accept-encoding' || lower.startsWith('x-as-')) {
    throw badRequest(
      `the ${name} header is set or removed by the proxy and never reaches the upstream, so it cannot carry a secret`,
    );
  }
  if (connectionNames(headers)?.has(lower) === true) {
    throw badRequest(
      `the request's Connection header names ${name}, which removes it before the call leaves; take ${name} out of the Connection header`,
    );
  }
}

/** Applies every injection; `values` maps key names to values. Returns a new request. */
export function applyInjections(
  request: OutboundRequest,
  injections: readonly Injection[],
  values: ReadonlyMap<string, string>,
): OutboundRequest {
  // A copy only when a query parameter is set in it; the caller's URL is never changed.
  let url = request.url;
  let urlCopied = false;
  // Our own list (the caller's is never changed); pairs are replaced, never changed in place.
  const headers = request.headers.slice();
  let body = request.body;
  let bodyStyle = false;
  let formStyle = false;
  for (const injection of injections) {
    if (injection.style === 'body') bodyStyle = true;
    else if (injection.style === 'form') formStyle = true;
  }
  if (bodyStyle && formStyle) {
    throw badRequest('a request can carry JSON body injections or form injections, not both');
  }

  let json: Record<string, unknown> | undefined;
  let form: URLSearchParams | undefined;
  for (const injection of injections) {
    const value = values.get(injection.key);
    if (value === undefined) throw new Error(`value for ${injection.key} was not resolved`);
    switch (injection.style) {
      case 'bearer':
        assertForwarded('Authorization', 'authorization', headers);
        assertHeaderSafe(injection.key, value);
        replaceHeader(headers, 'Authorization', `Bearer ${wireBytes(value)}`);
        break;
      case 'basic': {
        if (!value.includes(':')) throw invalidSecretValue(injection.key);
        assertForwarded('Authorization', 'authorization', headers);
        replaceHeader(
          headers,
          'Authorization',
          `Basic ${Buffer.from(value, 'utf8').toString('base64')}`,
        );
        break;
      }
      case 'header': {
        const name = requireTarget(injection);
        if (!TOKEN.test(name)) throw badRequest(`'${name}' is not a valid header name`);
        const lower = name.toLowerCase();
        if (RESERVED_HEADERS.has(lower)) {
          throw badRequest(`the ${name} header belongs to the transport and cannot carry a secret`);
        }
        assertForwarded(name, lower, headers);
        assertHeaderSafe(injection.key, value);
        replaceHeader(headers, name, wireBytes(value));
        break;
      }
      case 'query':
        if (!wellFormed(value)) throw invalidSecretValue(injection.key);
        if (!urlCopied) {
          url = new URL(request.url.href);
          urlCopied = true;
        }
        setQueryParam(url, requireTarget(injection), value);
        break;
      case 'body':
        json ??= parseJsonBody(body);
        setJsonPath(json, requireTarget(injection), value);
        break;
      case 'form':
        form ??= new URLSearchParams(body === undefined ? '' : body.toString('utf8'));
        form.set(requireTarget(injection), value);
        break;
    }
  }
  if (json !== undefined) {
    body = Buffer.from(JSON.stringify(json), 'utf8');
    replaceHeader(headers, 'Content-Type', 'application/json');
  }
  if (form !== undefined) {
    body = Buffer.from(form.toString(), 'utf8');
    replaceHeader(headers, 'Content-Type', 'application/x-www-form-urlencoded');
  }
  return { method: request.method, url, headers, body };
}

/** setHeader on a list of our own: in place, the new header last. */
function replaceHeader(headers: [string, string][], name: string, value: string): void {
  const lower = name.toLowerCase();
  let kept = 0;
  for (let i = 0; i < headers.length; i++) {
    const pair = headers[i]!;
    if (pair[0].toLowerCase() !== lower) headers[kept++] = pair;
  }
  headers.length = kept;
  headers.push([name, value]);
}

/** Replaces every header of this name (case-insensitively) by one with the given value. */
export function setHeader(
  headers: [string, string][],
  name: string,
  value: string,
): [string, string][] {
  const copy = headers.slice();
  replaceHeader(copy, name, value);
  return copy;
}

/**
 * Sets one query parameter, keeping every other parameter byte for byte (no re-encoding of
 * the rest of the query, unlike URLSearchParams). The name keeps its exact case.
 */
export function setQueryParam(url: URL, name: string, value: string): void {
  const encodedName = encodeURIComponent(name);
  const kept = url.search
    .slice(1)
    .split('&')
    .filter((pair) => pair !== '' && safeDecode(pair.split('=')[0]!) !== name);
  kept.push(`${encodedName}=${encodeURIComponent(value)}`);
  url.search = `?${kept.join('&')}`;
}

/** Percent-decodes (with `+` as a space) a query part or path; the text as it is if malformed. */
export function safeDecode(text: string): string {
  // Nothing to decode: the text as it is, no copy.
  if (!text.includes('%') && !text.includes('+')) return text;
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

function parseJsonBody(body: Buffer | undefined): Record<string, unknown> {
  if (body === undefined || body.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    // JSON.parse quotes the input in its message; say nothing about the content.
    throw badRequest('the request body is not valid JSON, so a secret cannot be placed in it');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badRequest('body injection needs a JSON object as the request body');
  }
  return parsed as Record<string, unknown>;
}

/**
 * Sets `path` (dot-separated; numeric segments index existing arrays) to `value`, creating
 * objects on the way as needed.
 */
export function setJsonPath(root: Record<string, unknown>, path: string, value: string): void {
  const segments = path.split('.');
  if (segments.some((s) => s === ''))
    throw badRequest(`'${path}' is not a valid JSON path (empty segment)`);
  if (segments.some((s) => s === '__proto__' || s === 'constructor' || s === 'prototype')) {
    throw badRequest(`'${path}' is not an allowed JSON path`);
  }
  let node: unknown = root;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (Array.isArray(node)) {
      const index = Number(segment);
      if (!Number.isInteger(index) || index < 0 || index >= node.length) {
        throw badRequest(`'${path}': '${segment}' is not an index of the array there`);
      }
      if (last) node[index] = value;
      else node = descend(node, index, path);
      continue;
    }
    const object = node as Record<string, unknown>;
    if (last) {
      object[segment] = value;
    } else {
      if (
        !Object.hasOwn(object, segment) ||
        object[segment] === undefined ||
        object[segment] === null
      ) {
        object[segment] = {};
      }
      node = descend(object, segment, path);
    }
  }
}

function descend(
  container: Record<string, unknown> | unknown[],
  key: string | number,
  path: string,
): unknown {
  const next = (container as Record<string | number, unknown>)[key];
  if (typeof next !== 'object' || next === null) {
    throw badRequest(
      `'${path}': '${key}' holds a ${next === null ? 'null' : typeof next}, not an object`,
    );
  }
  return next;
}

/**
 * A value that goes into a header must not break the header (CR, LF, NUL). The error is the
 * same for every reason a value cannot be injected, so it tells an agent nothing about it.
 */
function assertHeaderSafe(key: string, value: string): void {
  if (/[\r\n\0]/.test(value) || !wellFormed(value)) throw invalidSecretValue(key);
}

/**
 * A header value as the bytes that go on the wire. HTTP clients send header strings as
 * Latin-1, one byte per character; values are defined as UTF-8 on the wire (every injection
 * style), so each UTF-8 byte becomes one character here.
 */
export function wireBytes(value: string): string {
  return isAscii(value) ? value : Buffer.from(value, 'utf8').toString('latin1');
}

/** Whether a string is well-formed UTF-16 (no lone surrogate), so it has a UTF-8 form. */
function wellFormed(value: string): boolean {
  // String.prototype.isWellFormed (every Node the package supports; not in the ES2023 types).
  return (value as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/** The one error for a value that cannot be injected as stored; it names only the key. */
export function invalidSecretValue(key: string): AgentSecretsError {
  return new AgentSecretsError(
    'invalid_secret_value',
    `secret '${key}' cannot be injected this way as it is stored; a human checks it with \`agentsecrets secrets list\` and stores it again with \`agentsecrets secrets set ${key}\``,
    { context: { secret: key } },
  );
}

function requireTarget(injection: Injection): string {
  if (injection.target === undefined || injection.target === '') {
    throw badRequest(
      `a ${injection.style} injection needs a name (header, parameter, path or field)`,
    );
  }
  return injection.target;
}

function badRequest(message: string): AgentSecretsError {
  return new AgentSecretsError('bad_request', message);
}

/** Whether a string is all ASCII (code units below 0x80). */
export function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}
