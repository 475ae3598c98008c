import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import { AgentSecretsError } from '../core/errors.js';
import type { SecretBinding } from '../vault/format.js';
import { type Injection, type OutboundRequest, safeDecode } from './inject.js';

/**
 * Placeholder substitution for `run` (issue 13). Pure: a request, the run's placeholders and
 * the values in; the places found, and the rewritten request, out. A substitution is an
 * Injection (so the engine's allowlist, binding, policy, redaction and audit all apply to it)
 * that also names the placeholder it replaces.
 */

/** One place where a placeholder was found: its style is where it sits in the request. */
export interface Substitution extends Injection {
  placeholder: string;
}

/** What every generated placeholder contains, whatever public prefix it keeps. */
export const PLACEHOLDER_MARK = 'agentsecrets-ph-';

/** Headers that belong to the transport or the proxy: a placeholder there is never replaced. */
const FORBIDDEN_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-connection',
]);

/** Body styles that a human must allow for a secret before a placeholder is replaced there. */
const BODY_OR_QUERY = new Set(['query', 'body', 'form']);

/** Largest decoded body checked for a placeholder inside a compressed request. */
const MAX_INFLATE = 16 * 1024 * 1024;

/**
 * Finds where this run's placeholders (placeholder → key) occur: header values (Bearer and
 * Basic recognised), query parameters and the body. Refuses placeholders in places that are
 * never substituted (URL path, transport headers, compressed bodies) with a clear error.
 */
export function findPlaceholders(
  request: { url: URL; headers: readonly [string, string][]; body: Buffer | undefined },
  placeholders: ReadonlyMap<string, string>,
): Substitution[] {
  const found: Substitution[] = [];
  const all = [...placeholders.keys()];
  const add = (placeholder: string, style: Substitution['style'], target?: string) => {
    const key = placeholders.get(placeholder)!;
    found.push(
      target === undefined ? { key, placeholder, style } : { key, placeholder, style, target },
    );
  };

  for (const [name, value] of request.headers) {
    const lower = name.toLowerCase();
    const basic = lower === 'authorization' ? decodeBasic(value) : undefined;
    for (const ph of all) {
      const inValue = value.includes(ph);
      const inBasic = basic?.includes(ph) === true;
      if (!inValue && !inBasic) continue;
      if (FORBIDDEN_HEADERS.has(lower)) {
        throw badRequest(`a placeholder in the ${name} header is never replaced`);
      }
      if (inBasic) add(ph, 'basic', name);
      else if (lower === 'authorization' && /^bearer\s+/i.test(value)) add(ph, 'bearer');
      else add(ph, 'header', name);
    }
  }

  const path = safeDecode(request.url.pathname);
  if (all.some((ph) => path.includes(ph) || request.url.hash.includes(ph))) {
    throw badRequest(
      'a placeholder in the URL path is never replaced; send the credential in a header (or, if a human allows it, the query string)',
    );
  }
  for (const pair of request.url.search.slice(1).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = safeDecode(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? '' : safeDecode(pair.slice(eq + 1));
    for (const ph of all) {
      if (name.includes(ph))
        throw badRequest('a placeholder in a query parameter name is never replaced');
      if (value.includes(ph)) add(ph, 'query', name);
    }
  }

  const body = request.body;
  if (body !== undefined && body.length > 0) {
    const encoding = headerValue(request.headers, 'content-encoding')?.trim().toLowerCase();
    if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
      const plain = inflate(body, encoding);
      if (plain !== undefined && all.some((ph) => plain.includes(ph))) {
        throw badRequest(
          `a placeholder inside a ${encoding}-compressed request body cannot be replaced; send the body uncompressed`,
        );
      }
      return found;
    }
    const type = (headerValue(request.headers, 'content-type') ?? '').toLowerCase();
    const style = type.includes('application/x-www-form-urlencoded') ? 'form' : 'body';
    for (const ph of all) {
      if (body.includes(ph))
        add(ph, style, type.includes('json') ? 'json' : style === 'form' ? 'form' : 'text');
    }
  }
  return found;
}

/**
 * Substitution only where the secret's binding allows: a bound secret with styles goes only
 * into those styles (the engine checks), and into the query or a body only when a human
 * listed that style; an unbound secret, or one bound without styles, only into headers.
 */
export function checkSubstitutionPlaces(
  substitutions: readonly Injection[],
  bindings: ReadonlyMap<string, SecretBinding | null>,
): void {
  for (const sub of substitutions) {
    if (!BODY_OR_QUERY.has(sub.style)) continue;
    const binding = bindings.get(sub.key) ?? null;
    if (binding !== null && binding.styles.includes(sub.style)) continue;
    const where = sub.style === 'query' ? 'the query string' : 'a request body';
    throw new AgentSecretsError(
      'secret_binding_mismatch',
      `the placeholder of '${sub.key}' is in ${where}, where it is replaced only if a human allows it (an API may store what it receives): agentsecrets secrets bind ${sub.key} <domain> --styles header,bearer,${sub.style}`,
      { context: { secret: sub.key } },
    );
  }
}

/** Replaces each found placeholder by its value, encoded for the place it sits in. */
export function applySubstitutions(
  request: OutboundRequest,
  substitutions: readonly Substitution[],
  values: ReadonlyMap<string, string>,
): OutboundRequest {
  const valueOf = (sub: Substitution) => {
    const value = values.get(sub.key);
    if (value === undefined) throw new Error(`value for ${sub.key} was not resolved`);
    return value;
  };
  // Header lists and pairs are replaced, never changed in place (the caller's stay as given).
  let headers = request.headers.slice();
  // A copy of the URL only when a query value is replaced in it.
  let url = request.url;
  let body = request.body;
  for (const sub of substitutions) {
    const value = valueOf(sub);
    switch (sub.style) {
      case 'bearer':
      case 'header': {
        if (/[\r\n\0]/.test(value)) {
          throw badRequest(
            `secret '${sub.key}' contains a line break, which a header cannot carry`,
          );
        }
        const target = (sub.target ?? 'authorization').toLowerCase();
        headers = headers.map(([n, v]) =>
          n.toLowerCase() === target ? [n, v.split(sub.placeholder).join(value)] : [n, v],
        );
        break;
      }
      case 'basic':
        headers = headers.map(([n, v]) => {
          if (n.toLowerCase() !== 'authorization') return [n, v];
          const decoded = decodeBasic(v);
          if (decoded === undefined || !decoded.includes(sub.placeholder)) return [n, v];
          const replaced = decoded.split(sub.placeholder).join(value);
          return [n, `Basic ${Buffer.from(replaced, 'utf8').toString('base64')}`];
        });
        break;
      case 'query':
        if (url === request.url) url = new URL(request.url.href);
        url.search = url.search.split(sub.placeholder).join(encodeURIComponent(value));
        break;
      case 'body':
      case 'form': {
        const encoded =
          sub.target === 'json'
            ? JSON.stringify(value).slice(1, -1)
            : sub.target === 'form'
              ? encodeURIComponent(value)
              : value;
        body = replaceAll(body ?? Buffer.alloc(0), sub.placeholder, encoded);
        break;
      }
    }
  }
  return { method: request.method, url, headers, body };
}

function replaceAll(buffer: Buffer, needle: string, replacement: string): Buffer {
  const from = Buffer.from(needle, 'utf8');
  const to = Buffer.from(replacement, 'utf8');
  const parts: Buffer[] = [];
  let start = 0;
  for (let at = buffer.indexOf(from); at !== -1; at = buffer.indexOf(from, start)) {
    parts.push(buffer.subarray(start, at), to);
    start = at + from.length;
  }
  if (start === 0) return buffer;
  parts.push(buffer.subarray(start));
  return Buffer.concat(parts);
}

function decodeBasic(value: string): string | undefined {
  const match = /^basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(value);
  if (match === null) return undefined;
  return Buffer.from(match[1]!, 'base64').toString('utf8');
}

function inflate(body: Buffer, encoding: string): Buffer | undefined {
  try {
    const options = { maxOutputLength: MAX_INFLATE };
    if (encoding === 'gzip' || encoding === 'x-gzip') return gunzipSync(body, options);
    if (encoding === 'deflate') return inflateSync(body, options);
    if (encoding === 'br') return brotliDecompressSync(body, options);
  } catch {
    return undefined;
  }
  return undefined;
}

function headerValue(headers: readonly [string, string][], name: string): string | undefined {
  return headers.find(([n]) => n.toLowerCase() === name)?.[1];
}

function badRequest(message: string): AgentSecretsError {
  return new AgentSecretsError('bad_request', message);
}
