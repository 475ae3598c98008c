import { isIP } from 'node:net';
import { AgentSecretsError } from '../core/errors.js';
import { type Resolver, systemResolver } from './forward.js';

/**
 * AGENTSECRETS_RESOLVE=host=ip,… (like curl's --resolve): fixed addresses for named hosts, so
 * tests and local development can reach a local upstream under a real host name. Read only
 * from the key holder's own start environment, never from a request; the SSRF guard still
 * checks the address (a private one needs AGENTSECRETS_ALLOW_PRIVATE as well).
 */
export interface ResolveTable {
  readonly entries: ReadonlyMap<string, string[]>;
  /** As written in audit entries and in the start warning, e.g. `api.openai.com=127.0.0.1`. */
  readonly source: string;
}

/** Parses `host=ip[,host=ip…]`; a host may repeat to give several addresses. */
export function parseResolveList(text: string | undefined): ResolveTable {
  const entries = new Map<string, string[]>();
  for (const item of (text ?? '').split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') continue;
    const eq = trimmed.indexOf('=');
    const host = trimmed.slice(0, eq).trim().toLowerCase();
    const address = trimmed
      .slice(eq + 1)
      .trim()
      .replace(/^\[|\]$/g, '');
    if (eq <= 0 || host === '' || isIP(address) === 0) {
      throw new AgentSecretsError(
        'usage_error',
        `AGENTSECRETS_RESOLVE: '${trimmed}' is not host=ip (e.g. api.openai.com=127.0.0.1)`,
      );
    }
    entries.set(host, [...(entries.get(host) ?? []), address]);
  }
  const source = [...entries]
    .flatMap(([host, addresses]) => addresses.map((a) => `${host}=${a}`))
    .join(',');
  return { entries, source };
}

/** A resolver that answers the table's hosts itself and asks `fallback` for the rest. */
export function tableFirstResolver(
  table: ResolveTable,
  fallback: Resolver = systemResolver,
): Resolver {
  if (table.entries.size === 0) return fallback;
  return async (hostname) => {
    const fixed = table.entries.get(hostname.toLowerCase());
    if (fixed === undefined) return fallback(hostname);
    return fixed.map((address) => ({ address, family: isIP(address) }));
  };
}

/** The note recorded in every audit entry: the private override and the resolve table. */
export function overrideNoteOf(privateSource: string | null, table: ResolveTable): string | null {
  const parts = [
    ...(privateSource === null ? [] : [privateSource]),
    ...(table.source === '' ? [] : [`resolve ${table.source}`]),
  ];
  return parts.length === 0 ? null : parts.join('; ');
}
