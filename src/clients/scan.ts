import {
  ENTRY_NAME,
  type FileLocation,
  isObject,
  type JsonObject,
  TOKEN_VARIABLE,
} from './registry.js';

// Plaintext credentials in other servers' entries (`mcp scan`).
/** Why a value looks like a credential. Never includes the value or a part of it. */
export type FindingReason =
  'known credential prefix' | 'credential-like name' | 'high-entropy value' | 'password in URL';

/** One suspicious value: where it is, never what it is. */
export interface Finding {
  server: string;
  /** `env` variables can be migrated; args, headers and URLs must be fixed by hand. */
  kind: 'env' | 'arg' | 'header' | 'url';
  /** The variable or header name, `args[N]`, or `url`. */
  name: string;
  reason: FindingReason;
}

/** The findings in one server entry. */
export interface ServerScan {
  server: string;
  /** Has a command (a stdio server), so it can run through `agentsecrets env`. */
  stdio: boolean;
  /** Already runs agentsecrets. */
  ours: boolean;
  findings: Finding[];
}

const KNOWN_PREFIXES = (
  'sk- sk_live_ sk_test_ rk_live_ rk_test_ ghp_ gho_ ghu_ ghs_ ghr_ github_pat_ glpat- ' +
  'xoxb- xoxp- xoxa- xapp- AKIA ASIA AIza hf_ npm_ pypi- SG. shpat_ shpss_'
).split(' ');
/** Names that hold our own identity credential, which is not a secret value (DESIGN §9). */
const IDENTITY_VARIABLES = [TOKEN_VARIABLE, 'AS_AGENT_TOKEN'];
const NAME_PARTS = ['TOKEN', 'SECRET', 'PASSWORD', 'PASSWD', 'CREDENTIAL', 'APIKEY', 'ACCESSKEY'];
const NAME_WORDS = ['KEY', 'KEYS', 'AUTH', 'API', 'PAT', 'PASS', 'PWD'];
const PLAIN_WORDS = new Set(
  'true false yes no on off none null enabled disabled required optional production development staging test'.split(
    ' ',
  ),
);
const CREDENTIAL_BODY = /^[A-Za-z0-9_\-.+/=]{8,}$/;

/** True when a variable, header or flag name suggests a credential. */
export function credentialLikeName(name: string): boolean {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase()
    .split(/[^A-Z0-9]+/)
    .filter((w) => w !== '');
  const joined = words.join('');
  return NAME_PARTS.some((p) => joined.includes(p)) || words.some((w) => NAME_WORDS.includes(w));
}

/** `${VAR}`, `${env:VAR}`, `${input:x}` anywhere, or a whole value `$VAR`: resolved elsewhere. */
function withoutReferences(value: string): string {
  if (/^\$[A-Za-z_][A-Za-z0-9_]*$/.test(value.trim())) return '';
  return value.replace(/\$\{[^}]*\}/g, '').trim();
}

function isPathOrUrl(value: string): boolean {
  return (
    /^[a-z][a-z0-9+.-]*:\/\//i.test(value) || /^(\/|~[/\\]|\.{1,2}[/\\]|[A-Za-z]:[\\/])/.test(value)
  );
}

function hasKnownPrefix(value: string): boolean {
  if (/^(bearer|basic)\s+\S{8,}$/i.test(value)) return true;
  return KNOWN_PREFIXES.some(
    (prefix) => value.startsWith(prefix) && CREDENTIAL_BODY.test(value.slice(prefix.length)),
  );
}

function passwordInUrl(value: string): boolean {
  try {
    const url = new URL(value);
    if (url.password !== '' && withoutReferences(decodeURIComponent(url.password)) !== '') {
      return true;
    }
    for (const [key, param] of url.searchParams) {
      if (credentialLikeName(key) && withoutReferences(param).length >= 8) return true;
    }
  } catch {
    // Not a URL.
  }
  return false;
}

function entropy(value: string): number {
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / value.length) * Math.log2(n / value.length);
  return bits;
}

function highEntropy(value: string): boolean {
  return (
    value.length >= 24 &&
    !/\s/.test(value) &&
    !isPathOrUrl(value) &&
    !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value) &&
    /[A-Za-z]/.test(value) &&
    /[0-9]/.test(value) &&
    entropy(value) >= 3.5
  );
}

/** A value under a credential-like name that is a literal, not a word, number or path. */
function literalUnderName(value: string): boolean {
  return (
    value.length >= 8 &&
    !/\s/.test(value) &&
    !isPathOrUrl(value) &&
    !/^[\d.]+$/.test(value) &&
    !PLAIN_WORDS.has(value.toLowerCase())
  );
}

/**
 * Why a value looks like a plaintext credential, or undefined. `name` is the variable,
 * header or flag it sits under, if any. References (`${env:X}`) never count.
 */
export function secretReason(name: string | undefined, value: string): FindingReason | undefined {
  if (name !== undefined && IDENTITY_VARIABLES.includes(name)) return undefined;
  const literal = withoutReferences(value);
  // Empty, or one of our own issued tokens: an identity, revocable, not a secret value.
  if (literal === '' || /^(bearer\s+)?agt_/i.test(literal)) return undefined;
  if (hasKnownPrefix(literal)) return 'known credential prefix';
  if (passwordInUrl(literal)) return 'password in URL';
  if (name !== undefined && credentialLikeName(name) && literalUnderName(literal)) {
    return 'credential-like name';
  }
  if (highEntropy(literal)) return 'high-entropy value';
  return undefined;
}

function scanArgs(server: string, args: readonly unknown[]): Finding[] {
  const found: Finding[] = [];
  const flag = (at: number, reason: FindingReason | undefined) => {
    if (reason !== undefined && !found.some((f) => f.name === `args[${at}]`)) {
      found.push({ server, kind: 'arg', name: `args[${at}]`, reason });
    }
  };
  args.forEach((arg, i) => {
    if (typeof arg !== 'string') return;
    // --token=VALUE, -e NAME=VALUE, NAME=VALUE
    const assignment = /^(-{0,2})([A-Za-z_][A-Za-z0-9_.-]*)=(.*)$/s.exec(arg);
    if (assignment !== null) {
      const [, , name, value] = assignment as unknown as [string, string, string, string];
      flag(i, credentialLikeName(name) ? secretReason(name, value) : undefined);
    }
    // --api-key VALUE
    const next = args[i + 1];
    if (
      /^--?[A-Za-z][A-Za-z0-9-]*$/.test(arg) &&
      typeof next === 'string' &&
      !next.startsWith('-')
    ) {
      if (credentialLikeName(arg)) flag(i + 1, secretReason(arg.replace(/^-+/, ''), next));
    }
    const literal = withoutReferences(arg);
    if (literal !== '' && (hasKnownPrefix(literal) || passwordInUrl(literal))) {
      flag(i, hasKnownPrefix(literal) ? 'known credential prefix' : 'password in URL');
    }
  });
  return found;
}

/** True when an entry already runs agentsecrets (ours, or one `mcp scan --migrate` wrote). */
export function isAgentsecretsServer(name: string, entry: JsonObject, cliPath: string): boolean {
  if (name === ENTRY_NAME) return true;
  const base = (s: unknown) =>
    typeof s === 'string' ? (s.split(/[\\/]/).pop() ?? '').replace(/\.(cmd|exe|js)$/i, '') : '';
  const args = Array.isArray(entry.args) ? entry.args : [];
  if (base(entry.command) === ENTRY_NAME || args[0] === cliPath) return true;
  if (['npx', 'pnpx', 'bunx'].includes(base(entry.command))) {
    return args.some(
      (a) => a === ENTRY_NAME || (typeof a === 'string' && a.startsWith(`${ENTRY_NAME}@`)),
    );
  }
  return false;
}

/** Looks through every server of a config for plaintext credentials. */
export function scanServers(servers: JsonObject, cliPath: string): ServerScan[] {
  return Object.entries(servers).flatMap(([server, entry]) => {
    if (!isObject(entry)) return [];
    const findings: Finding[] = [];
    if (isObject(entry.env)) {
      for (const [name, value] of Object.entries(entry.env)) {
        const reason = typeof value === 'string' ? secretReason(name, value) : undefined;
        if (reason !== undefined) findings.push({ server, kind: 'env', name, reason });
      }
    }
    if (Array.isArray(entry.args)) findings.push(...scanArgs(server, entry.args));
    if (isObject(entry.headers)) {
      for (const [name, value] of Object.entries(entry.headers)) {
        const reason = typeof value === 'string' ? secretReason(name, value) : undefined;
        if (reason !== undefined) findings.push({ server, kind: 'header', name, reason });
      }
    }
    for (const key of ['url', 'serverUrl']) {
      const value = entry[key];
      if (typeof value === 'string' && passwordInUrl(value)) {
        findings.push({ server, kind: 'url', name: key, reason: 'password in URL' });
      }
    }
    return [
      {
        server,
        stdio: typeof entry.command === 'string' && entry.command !== '',
        ours: isAgentsecretsServer(server, entry, cliPath),
        findings,
      },
    ];
  });
}

/**
 * Scans a parsed config. In Claude Code's ~/.claude.json, the servers of each project
 * (`projects.<folder>.mcpServers`) are scanned too, labelled with their folder.
 */
export function scanDocument(
  root: JsonObject,
  location: Pick<FileLocation, 'rootKey' | 'readOnly'>,
  cliPath: string,
): ServerScan[] {
  const groups: [string, unknown][] = [['', root[location.rootKey]]];
  if (location.readOnly === true && isObject(root.projects)) {
    for (const [folder, project] of Object.entries(root.projects)) {
      if (isObject(project)) groups.push([folder, project.mcpServers]);
    }
  }
  return groups.flatMap(([folder, servers]) => {
    if (!isObject(servers)) return [];
    return scanServers(servers, cliPath).map((scan) => {
      if (folder === '') return scan;
      const server = `${scan.server} (project ${folder})`;
      return { ...scan, server, findings: scan.findings.map((f) => ({ ...f, server })) };
    });
  });
}
