import { readFile, writeFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';

/** Variables of ours that a child must never inherit. */
export const WITHHELD = [
  'AGENTSECRETS_PASSPHRASE',
  'AGENTSECRETS_NEW_PASSPHRASE',
  'AGENTSECRETS_PASSWORD',
];

/** Every variable through which common tools take a CA bundle (issue 13). */
export const CA_VARIABLES = [
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'REQUESTS_CA_BUNDLE',
  'CURL_CA_BUNDLE',
  'GIT_SSL_CAINFO',
  'AWS_CA_BUNDLE',
  'DENO_CERT',
] as const;

/** Proxy variables, in both cases (curl reads only lower-case http_proxy). */
export const PROXY_VARIABLES = [
  'HTTPS_PROXY',
  'https_proxy',
  'HTTP_PROXY',
  'http_proxy',
  'ALL_PROXY',
  'all_proxy',
] as const;

const SYSTEM_BUNDLES = ['/etc/ssl/certs/ca-certificates.crt', '/etc/pki/tls/certs/ca-bundle.crt'];

/**
 * Writes the CA bundle a run child trusts: the system roots (Node's bundled set, the OS
 * bundle when there is one, and any bundle the parent already pointed its tools at), plus
 * our CA. Everything in it is public.
 */
export async function writeCaBundle(
  path: string,
  caPem: string,
  parent: Readonly<Record<string, string | undefined>>,
): Promise<void> {
  const parts = [...rootCertificates];
  const extra = new Set<string>(SYSTEM_BUNDLES);
  for (const variable of CA_VARIABLES) {
    const file = parent[variable];
    if (file !== undefined && file !== '') extra.add(file);
  }
  for (const file of extra) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined && text.includes('-----BEGIN CERTIFICATE-----')) parts.push(text.trim());
  }
  parts.push(caPem.trim());
  await writeFile(path, `${parts.join('\n')}\n`, { mode: 0o600 });
}

export interface ChildEnvOptions {
  parent: Readonly<Record<string, string | undefined>>;
  /** KEY → placeholder. */
  placeholders: Readonly<Record<string, string>>;
  runId: string;
  proxyUrl: string;
  bundlePath: string;
  /** file: URL of the Node preload (src/run/preload.ts, built). */
  preloadUrl: string;
  /** The workspace allowlist: never in NO_PROXY, so those hosts always go through the proxy. */
  allowlist: readonly string[];
}

/** The environment of a `run` child: placeholders, proxy, CA bundle and Node preload. */
export function buildChildEnv(options: ChildEnvOptions): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(options.parent)) {
    if (value !== undefined && !WITHHELD.includes(name)) env[name] = value;
  }
  for (const [key, placeholder] of Object.entries(options.placeholders)) env[key] = placeholder;
  for (const variable of PROXY_VARIABLES) env[variable] = options.proxyUrl;
  const allowed = new Set(options.allowlist.map((p) => p.toLowerCase().replace(/:\d+$/, '')));
  const inherited = (options.parent.NO_PROXY ?? options.parent.no_proxy ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '' && e !== '*' && !coversAllowed(e.toLowerCase(), allowed));
  const noProxy = [...new Set(['localhost', '127.0.0.1', '::1', ...inherited])].join(',');
  env.NO_PROXY = noProxy;
  env.no_proxy = noProxy;
  for (const variable of CA_VARIABLES) env[variable] = options.bundlePath;
  const preload = `--import=${options.preloadUrl}`;
  env.NODE_OPTIONS = [options.parent.NODE_OPTIONS, preload].filter((o) => o).join(' ');
  env.AGENTSECRETS_RUN_ID = options.runId;
  return env;
}

/** True when a NO_PROXY entry would send an allowlisted host around the proxy. */
function coversAllowed(entry: string, allowed: ReadonlySet<string>): boolean {
  const bare = entry.replace(/^\*?\./, '');
  for (const pattern of allowed) {
    const host = pattern.replace(/^\*\./, '');
    if (host === bare || host.endsWith(`.${bare}`) || bare.endsWith(`.${host}`)) return true;
  }
  return false;
}

/** The built Node preload beside this module. */
export function preloadUrl(): string {
  return new URL('./preload.js', import.meta.url).href;
}
