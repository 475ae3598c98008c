/**
 * The workspace domain allowlist: parsing what a user types, and deciding whether a target URL
 * is on the list (DESIGN §7, §11). Pure: the proxy hands in a parsed `URL`, nothing resolves.
 *
 * Hosts are compared in one normal form on both sides (lower case, punycode, no trailing dot,
 * canonical IPv4 and compressed IPv6), so no spelling of a host can slip past an entry, and no
 * look-alike can borrow one.
 */

import { domainToASCII } from 'node:url';
import { AgentSecretsError } from '../core/errors.js';

/** One parsed allowlist entry. `host` is normalised and, for a wildcard, has no '*.' prefix. */
export interface AllowlistPattern {
  host: string;
  wildcard: boolean;
  port: number | undefined;
  /** The canonical display form, e.g. '*.example.com:8443' or '[::1]:8443'. */
  text: string;
}

/** The wildcard rule in one sentence, for CLI help. */
export const WILDCARD_RULE =
  "'*.example.com' matches exactly one extra label, as TLS wildcards do: a.example.com, but not a.b.example.com and not example.com itself (list that on its own); a port, when given, must match, and an entry without one admits only the scheme's default port.";

const EXAMPLES = "for example 'api.example.com', '*.example.com' or 'localhost:8443'";
const DEFAULT_PORTS: Readonly<Record<string, number>> = { 'https:': 443, 'http:': 80 };
// Letters, digits, '_' and inner '-', as DNS names are written after IDN mapping.
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const IPV4 = /^\d+\.\d+\.\d+\.\d+$/;

function normalizeIPv6(text: string): string {
  // The URL parser is the reference IPv6 parser and serialiser; zone ids and junk fail here.
  if (!/^[0-9a-fA-F:.]+$/.test(text)) return '';
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return '';
  }
}

/**
 * Normalises a hostname: lower case, one trailing dot removed, IDN → punycode, IPv4 spellings to
 * a dotted quad, IPv6 in brackets-free lower-case compressed form. Returns '' for invalid.
 */
export function normalizeHostname(host: string): string {
  if (host.startsWith('[')) return host.endsWith(']') ? normalizeIPv6(host.slice(1, -1)) : '';
  if (host.includes(':')) return normalizeIPv6(host);
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  // domainToASCII percent-decodes; a URL hostname never holds '%', so neither may an entry.
  if (name === '' || name.includes('%')) return '';
  const ascii = domainToASCII(name);
  if (ascii === '' || ascii.length > 253) return '';
  return ascii.split('.').every((label) => LABEL.test(label)) ? ascii : '';
}

function invalid(input: string, problem: string): AgentSecretsError {
  return new AgentSecretsError(
    'usage_error',
    `invalid allowlist entry ${JSON.stringify(input)}: ${problem}. Give a hostname with an optional port, ${EXAMPLES}.`,
  );
}

/** The host (and non-default port) of something typed as a URL, to suggest in an error. */
function hostOfUrl(entry: string): string {
  try {
    return new URL(entry).host;
  } catch {
    return 'api.example.com';
  }
}

function parsePort(input: string, text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw invalid(input, `the port ${JSON.stringify(text)} is not a number from 1 to 65535`);
  }
  return port;
}

function parseIPv6Entry(
  input: string,
  address: string,
  port: number | undefined,
): AllowlistPattern {
  if (address.includes('*'))
    throw invalid(input, 'a wildcard applies to hostnames, not IP addresses');
  const host = normalizeIPv6(address);
  if (host === '') {
    throw invalid(
      input,
      `'${address}' is not a valid IPv6 address; write one with a port as '[::1]:8443'`,
    );
  }
  return { host, wildcard: false, port, text: `[${host}]${port === undefined ? '' : `:${port}`}` };
}

function parseNameEntry(input: string, name: string, port: number | undefined): AllowlistPattern {
  if (name === '*' || name === '*.') {
    throw invalid(
      input,
      "a lone '*' would admit every host; list hosts, or use a wildcard such as '*.example.com'",
    );
  }
  const wildcard = name.startsWith('*.');
  const rest = wildcard ? name.slice(2) : name;
  if (rest.includes('*')) {
    throw invalid(input, "a wildcard must be the whole leftmost label, as in '*.example.com'");
  }
  const host = normalizeHostname(rest);
  if (host === '') {
    throw invalid(
      input,
      `'${rest}' is not a valid hostname (dot-separated labels of letters, digits, '-' and '_')`,
    );
  }
  if (IPV4.test(host)) {
    if (wildcard) throw invalid(input, 'a wildcard applies to hostnames, not IP addresses');
    // domainToASCII reads '127.1' and '0x7f.0.0.1' as IPv4; an entry should say what it means.
    if (rest.replace(/\.$/, '') !== host) {
      throw invalid(input, `write the IPv4 address as four decimal numbers, e.g. '${host}'`);
    }
  }
  if (wildcard && host.split('.').length < 2) {
    throw invalid(
      input,
      `'*.${host}' is too broad: a wildcard needs at least two labels after '*.', as in '*.example.com'`,
    );
  }
  const text = `${wildcard ? '*.' : ''}${host}${port === undefined ? '' : `:${port}`}`;
  return { host, wildcard, port, text };
}

// Domain lists parsed once per array: the documents and vault records that hold them are read
// through caches that hand out the same, never changed, arrays until their file changes.
const parsedLists = new WeakMap<readonly string[], AllowlistPattern[]>();

/** `domains.map(parseAllowlistEntry)`, remembered for as long as the array lives. */
export function domainPatterns(domains: readonly string[]): AllowlistPattern[] {
  let patterns = parsedLists.get(domains);
  if (patterns === undefined) {
    patterns = domains.map((d) => parseAllowlistEntry(d));
    parsedLists.set(domains, patterns);
  }
  return patterns;
}

/**
 * Parses user input such as 'api.stripe.com', '*.example.com', 'bücher.example', 'localhost:8443'
 * or '[::1]:8443' into a pattern. Anything else (schemes, paths, userinfo, misplaced or too broad
 * wildcards, bad ports, bad characters) throws a usage_error that shows a valid example.
 * A bare IPv6 address without brackets is accepted only without a port.
 */
export function parseAllowlistEntry(input: string): AllowlistPattern {
  const entry = input.trim();
  if (entry === '') throw invalid(input, 'it is empty');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) {
    throw invalid(input, `it is a URL; give only the host, e.g. '${hostOfUrl(entry)}'`);
  }
  if (entry.includes('@'))
    throw invalid(input, "it contains userinfo ('user@'); give only the host");
  if (entry.includes('/')) throw invalid(input, "it contains a path ('/…'); give only the host");
  if (entry.includes('?')) throw invalid(input, "it contains a query ('?…'); give only the host");
  if (entry.includes('#'))
    throw invalid(input, "it contains a fragment ('#…'); give only the host");
  if (/[\s\\]/.test(entry)) throw invalid(input, 'it contains whitespace or a backslash');

  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close < 0)
      throw invalid(input, "the '[' of an IPv6 address is not closed; write it as '[::1]:8443'");
    const rest = entry.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) {
      throw invalid(input, "expected ':port' after ']', as in '[::1]:8443'");
    }
    const port = rest === '' ? undefined : parsePort(input, rest.slice(1));
    return parseIPv6Entry(input, entry.slice(1, close), port);
  }
  const colons = entry.split(':').length - 1;
  if (colons > 1) return parseIPv6Entry(input, entry, undefined);
  if (colons === 1) {
    const colon = entry.indexOf(':');
    return parseNameEntry(input, entry.slice(0, colon), parsePort(input, entry.slice(colon + 1)));
  }
  return parseNameEntry(input, entry, undefined);
}

function hostMatches(pattern: AllowlistPattern, host: string): boolean {
  if (!pattern.wildcard) return host === pattern.host;
  const suffix = `.${pattern.host}`;
  if (!host.endsWith(suffix)) return false;
  const label = host.slice(0, -suffix.length);
  return label !== '' && !label.includes('.');
}

/**
 * The first pattern that admits this URL, or undefined. Only http: and https: URLs can match.
 * A pattern without a port admits only the scheme's default port (443 https, 80 http); a pattern
 * with a port admits only that port. '*.example.com' admits exactly one extra label. IP literal
 * patterns match only the identical address.
 */
export function matchAllowlist(
  url: URL,
  patterns: readonly AllowlistPattern[],
): AllowlistPattern | undefined {
  const defaultPort = DEFAULT_PORTS[url.protocol];
  if (defaultPort === undefined) return undefined;
  const host = normalizeHostname(url.hostname);
  if (host === '') return undefined;
  const port = url.port === '' ? defaultPort : Number(url.port);
  return patterns.find(
    (pattern) =>
      (pattern.port === undefined ? port === defaultPort : port === pattern.port) &&
      hostMatches(pattern, host),
  );
}
