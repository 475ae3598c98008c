import { AgentSecretsError } from '../core/errors.js';
import type { Injection } from '../proxy/inject.js';

/*
 * One call request, however a face describes it: the CLI's flags, the MCP tools' arguments and
 * the SDK's options all name injections as maps, send a body as text, and read the response
 * headers grouped by name. Pure functions; no I/O.
 */

/** Place → key, as an object or as pairs (repeated CLI flags keep every pair). */
export type InjectionMap =
  Readonly<Record<string, string>> | readonly (readonly [string, string])[];

/** Which secret goes where, by key name: the shape every face's call options share. */
export interface InjectionMaps {
  bearer?: string | undefined;
  basic?: string | undefined;
  /** Header name → key. */
  header?: InjectionMap | undefined;
  /** Query parameter → key. */
  query?: InjectionMap | undefined;
  /** Dotted JSON path → key. */
  body?: InjectionMap | undefined;
  /** Form field → key. */
  form?: InjectionMap | undefined;
}

const MAP_STYLES = ['header', 'query', 'body', 'form'] as const;

/** The injections of a call, in one order: bearer, basic, header, query, body, form. */
export function injectionsFrom(maps: InjectionMaps): Injection[] {
  const injections: Injection[] = [];
  if (maps.bearer !== undefined) injections.push({ style: 'bearer', key: maps.bearer });
  if (maps.basic !== undefined) injections.push({ style: 'basic', key: maps.basic });
  for (const style of MAP_STYLES) {
    const map = maps[style] ?? [];
    for (const [target, key] of isPairs(map) ? map : Object.entries(map))
      injections.push({ style, target, key });
  }
  return injections;
}

function isPairs(map: InjectionMap): map is readonly (readonly [string, string])[] {
  return Array.isArray(map);
}

/**
 * Injections from the Go tool's spec map (`api_call`): `bearer`, `basic`, `header:Name`,
 * `query:param`, `body:json.path`, `form:field` → key.
 */
export function injectionsFromSpecs(specs: Readonly<Record<string, string>>): Injection[] {
  return Object.entries(specs).map(([spec, key]) => {
    if (spec === 'bearer' || spec === 'basic') return { style: spec, key };
    const colon = spec.indexOf(':');
    const style = colon === -1 ? spec : spec.slice(0, colon);
    const target = colon === -1 ? '' : spec.slice(colon + 1);
    const mapped = (MAP_STYLES as readonly string[]).includes(style)
      ? (style as Injection['style'])
      : undefined;
    if (mapped === undefined || target === '') {
      throw new AgentSecretsError(
        'bad_request',
        `unknown injection '${spec}': use bearer, basic, header:Name, query:param, body:json.path or form:field`,
      );
    }
    return { style: mapped, target, key };
  });
}

const HEADER_OF: Record<Injection['style'], string> = {
  bearer: 'X-AS-Inject-Bearer',
  basic: 'X-AS-Inject-Basic',
  header: 'X-AS-Inject-Header-',
  query: 'X-AS-Inject-Query-',
  body: 'X-AS-Inject-Body-',
  form: 'X-AS-Inject-Form-',
};

/** Injections as the proxy protocol's `X-AS-Inject-*` headers (the SDK's wire form). */
export function injectionHeaders(injections: readonly Injection[]): [string, string][] {
  return injections.map((i) => [
    i.style === 'bearer' || i.style === 'basic'
      ? HEADER_OF[i.style]
      : `${HEADER_OF[i.style]}${i.target}`,
    i.key,
  ]);
}

/** The Content-Type guessed for a text body: JSON when it parses as JSON, else plain text. */
export function contentTypeFor(body: string): string {
  try {
    JSON.parse(body);
    return 'application/json';
  } catch {
    return 'text/plain; charset=utf-8';
  }
}

/** `headers` plus a guessed Content-Type when a body is sent without one. */
export function withContentType(
  headers: readonly [string, string][],
  body: string | undefined,
): [string, string][] {
  const out = [...headers];
  if (body !== undefined && !out.some(([n]) => n.toLowerCase() === 'content-type'))
    out.push(['Content-Type', contentTypeFor(body)]);
  return out;
}

/** Response headers grouped by lower-case name, in arrival order. */
export function groupHeaders(headers: readonly [string, string][]): Record<string, string[]> {
  const grouped: Record<string, string[]> = {};
  for (const [name, value] of headers) (grouped[name.toLowerCase()] ??= []).push(value);
  return grouped;
}

/** A body as text when it is valid UTF-8, else base64. */
export function encodeBody(body: Buffer): { text: string; encoding: 'utf8' | 'base64' } {
  const text = body.toString('utf8');
  return Buffer.from(text, 'utf8').equals(body)
    ? { text, encoding: 'utf8' }
    : { text: body.toString('base64'), encoding: 'base64' };
}
