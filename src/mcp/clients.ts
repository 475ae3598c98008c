import { posix, win32 } from 'node:path';
import {
  applyEdits,
  type FormattingOptions,
  modify,
  type ParseError,
  parse as parseJsonc,
  printParseErrorCode,
  stripComments,
} from 'jsonc-parser';

/**
 * MCP client configurations, without I/O: which file each client reads (per OS and scope),
 * the entry we put there, merge and uninstall plans over a file's text, and detection of
 * plaintext credentials in other servers' entries. The CLI command does the reading and
 * writing (src/cli/commands/mcp-install.ts).
 */

/** The clients `mcp install` knows (reference/dependencies.md §3). */
export const CLIENT_IDS = [
  'claude-desktop',
  'cursor',
  'vscode',
  'claude-code',
  'windsurf',
  'zed',
] as const;
export type ClientId = (typeof CLIENT_IDS)[number];
export type Scope = 'user' | 'project';
/** `jsonc` files are edited in place with jsonc-parser, so comments survive. */
export type ConfigFormat = 'json' | 'jsonc';

/** The name of our entry in every client. */
export const ENTRY_NAME = 'agentsecrets';
/** The variable an issued token travels in (DESIGN §6). */
export const TOKEN_VARIABLE = 'AGENTSECRETS_AGENT_TOKEN';
/** Names a 0600 file holding the token: keeps it out of the argv of `claude mcp add`. */
export const TOKEN_FILE_VARIABLE = 'AGENTSECRETS_AGENT_TOKEN_FILE';

interface ClientInfo {
  label: string;
  /** The object that holds the servers. */
  rootKey: string;
  format: ConfigFormat;
  /** Entries carry `"type": "stdio"`. */
  typed: boolean;
}

/** Display name, servers key, file format and entry style of each client. */
export const CLIENTS: Readonly<Record<ClientId, ClientInfo>> = {
  'claude-desktop': {
    label: 'Claude Desktop',
    rootKey: 'mcpServers',
    format: 'json',
    typed: false,
  },
  cursor: { label: 'Cursor', rootKey: 'mcpServers', format: 'json', typed: false },
  // VS Code opens mcp.json as JSON with comments; edit it like Zed's settings.
  vscode: { label: 'VS Code', rootKey: 'servers', format: 'jsonc', typed: true },
  'claude-code': { label: 'Claude Code', rootKey: 'mcpServers', format: 'json', typed: true },
  windsurf: { label: 'Windsurf', rootKey: 'mcpServers', format: 'json', typed: false },
  zed: { label: 'Zed', rootKey: 'context_servers', format: 'jsonc', typed: false },
};

/** What the paths depend on; injected so tests can ask for macOS and Windows paths. */
export interface PathContext {
  platform: NodeJS.Platform;
  env: Readonly<Record<string, string | undefined>>;
  /** `os.homedir()`, used when the environment names no home. */
  homedir: string;
  cwd: string;
}

/** A config file a client reads. */
export interface FileLocation {
  kind: 'file';
  client: ClientId;
  scope: Scope;
  file: string;
  /** The folder whose existence says the client is there. */
  dir: string;
  format: ConfigFormat;
  rootKey: string;
  typed: boolean;
  /** Scanned, never written (Claude Code's own ~/.claude.json). */
  readOnly?: boolean;
}

/** Where a client's configuration lives for a scope. */
export type ConfigLocation =
  | FileLocation
  /** Claude Code's user scope: through `claude mcp add/remove`, never by editing the file. */
  | { kind: 'claude-cli'; client: 'claude-code'; scope: 'user'; file: string }
  | { kind: 'unsupported'; client: ClientId; scope: Scope; reason: string };

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** The home folder: HOME (USERPROFILE first on Windows), else `os.homedir()`. */
export function homeDir(ctx: PathContext): string {
  const { env } = ctx;
  const fromEnv =
    ctx.platform === 'win32'
      ? (nonEmpty(env.USERPROFILE) ?? nonEmpty(env.HOME))
      : nonEmpty(env.HOME);
  return fromEnv ?? ctx.homedir;
}

/** Where a client keeps its configuration for a scope. */
export function configLocation(client: ClientId, scope: Scope, ctx: PathContext): ConfigLocation {
  const p = ctx.platform === 'win32' ? win32 : posix;
  const home = homeDir(ctx);
  const appData = nonEmpty(ctx.env.APPDATA) ?? p.join(home, 'AppData', 'Roaming');
  const xdg = nonEmpty(ctx.env.XDG_CONFIG_HOME) ?? p.join(home, '.config');
  const { label, rootKey, format, typed } = CLIENTS[client];
  const at = (dir: string, name: string): FileLocation => ({
    kind: 'file',
    client,
    scope,
    file: p.join(dir, name),
    dir,
    format,
    rootKey,
    typed,
  });
  const userDir = (mac: string[], windows: string[], linux: string[]) =>
    ctx.platform === 'darwin'
      ? p.join(home, 'Library', 'Application Support', ...mac)
      : ctx.platform === 'win32'
        ? p.join(appData, ...windows)
        : p.join(xdg, ...linux);
  if (scope === 'project') {
    switch (client) {
      case 'cursor':
        return at(p.join(ctx.cwd, '.cursor'), 'mcp.json');
      case 'vscode':
        return at(p.join(ctx.cwd, '.vscode'), 'mcp.json');
      case 'claude-code':
        return at(ctx.cwd, '.mcp.json');
      case 'zed':
        return at(p.join(ctx.cwd, '.zed'), 'settings.json');
      default:
        return {
          kind: 'unsupported',
          client,
          scope,
          reason: `${label} has no project scope; use --scope user`,
        };
    }
  }
  switch (client) {
    case 'claude-desktop':
      return at(userDir(['Claude'], ['Claude'], ['Claude']), 'claude_desktop_config.json');
    case 'cursor':
      return at(p.join(home, '.cursor'), 'mcp.json');
    case 'vscode':
      return at(userDir(['Code', 'User'], ['Code', 'User'], ['Code', 'User']), 'mcp.json');
    case 'claude-code':
      return { kind: 'claude-cli', client, scope, file: p.join(home, '.claude.json') };
    case 'windsurf':
      return at(p.join(home, '.codeium', 'windsurf'), 'mcp_config.json');
    case 'zed':
      return at(
        ctx.platform === 'win32' ? p.join(appData, 'Zed') : p.join(home, '.config', 'zed'),
        'settings.json',
      );
  }
}

/** Every file `mcp scan` reads: user and project scope, plus Claude Code's ~/.claude.json. */
export function scanLocations(ctx: PathContext): FileLocation[] {
  const p = ctx.platform === 'win32' ? win32 : posix;
  const found: FileLocation[] = [];
  for (const scope of ['user', 'project'] as const) {
    for (const client of CLIENT_IDS) {
      const location = configLocation(client, scope, ctx);
      if (location.kind === 'file') found.push(location);
      if (location.kind === 'claude-cli') {
        found.push({
          kind: 'file',
          client,
          scope,
          file: location.file,
          dir: p.dirname(location.file),
          format: 'json',
          rootKey: 'mcpServers',
          typed: true,
          readOnly: true,
        });
      }
    }
  }
  // With the working folder at home, a project file can be a user file too.
  return found.filter((l, i) => found.findIndex((o) => o.file === l.file) === i);
}

/** Our entry, before a client's shape is applied. */
export interface ServerEntry {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** The entry that runs `agentsecrets mcp serve` with absolute paths (no PATH, nvm or npx). */
export function buildEntry(options: {
  nodePath: string;
  cliPath: string;
  agent?: string | undefined;
  home?: string | undefined;
  token?: string | undefined;
  /** A 0600 file holding the token, for clients configured through a command line. */
  tokenFile?: string | undefined;
}): ServerEntry {
  const env: Record<string, string> = {};
  if (options.home !== undefined) env.AGENTSECRETS_HOME = options.home;
  if (options.token !== undefined) env[TOKEN_VARIABLE] = options.token;
  if (options.tokenFile !== undefined) env[TOKEN_FILE_VARIABLE] = options.tokenFile;
  return {
    command: options.nodePath,
    args: [
      options.cliPath,
      'mcp',
      'serve',
      ...(options.agent === undefined ? [] : ['--agent-id', options.agent]),
    ],
    env,
  };
}

/** The entry as a client writes it (VS Code and Claude Code's .mcp.json add `type`). */
export function shapeEntry(location: { typed: boolean }, entry: ServerEntry): JsonObject {
  return location.typed ? { type: 'stdio', ...entry } : { ...entry };
}

export type JsonObject = Record<string, unknown>;

/** True for a plain JSON object (not an array, not null). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Where and why a file could not be used. Never quotes the file's content. */
export interface ParseFailure {
  message: string;
  offset: number;
  line: number;
  column: number;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; failure: ParseFailure };

function failure(text: string, offset: number, what: string): { ok: false; failure: ParseFailure } {
  const before = text.slice(0, offset).split('\n');
  const line = before.length;
  const column = before[before.length - 1]!.length + 1;
  return {
    ok: false,
    failure: {
      message: `${what} at line ${line}, column ${column} (offset ${offset})`,
      offset,
      line,
      column,
    },
  };
}

function stripBom(text: string): string {
  return text.startsWith('\ufeff') ? text.slice(1) : text;
}

/**
 * Parses a config file: JSON, or JSONC (also trailing commas). Comments are accepted in
 * both, because users put them in every client's file and they are kept on edit. An empty
 * file is an empty object. The failure names a position and an error kind, never content.
 */
export function parseConfig(text: string | undefined, format: ConfigFormat): Parsed<JsonObject> {
  const body = stripBom(text ?? '');
  if (body.trim() === '') return { ok: true, value: {} };
  const errors: ParseError[] = [];
  const value: unknown = parseJsonc(body, errors, {
    disallowComments: false,
    allowTrailingComma: format === 'jsonc',
    allowEmptyContent: true,
  });
  const first = errors[0];
  const kind = format === 'json' ? 'invalid JSON' : 'invalid JSON with comments';
  // Comments become spaces, so positions in JSON.parse's messages still match the file.
  if (first !== undefined) {
    return failure(body, first.offset, `${kind} (${printParseErrorCode(first.error)})`);
  }
  if (format === 'json') {
    try {
      JSON.parse(stripComments(body, ' '));
    } catch (err) {
      // V8 quotes the text around the error; keep only the position.
      const at = /position (\d+)/.exec(err instanceof Error ? err.message : '');
      return failure(body, at === null ? 0 : Number(at[1]), kind);
    }
  }
  if (!isObject(value)) return failure(body, 0, 'the top level is not a JSON object');
  return { ok: true, value };
}

/** The servers object of a parsed config (`{}` when absent); a failure if it is not an object. */
export function serversOf(
  root: JsonObject,
  rootKey: string,
  text: string | undefined,
): Parsed<JsonObject> {
  if (!Object.hasOwn(root, rootKey)) return { ok: true, value: {} };
  const servers = root[rootKey];
  if (isObject(servers)) return { ok: true, value: servers };
  return failure(stripBom(text ?? ''), 0, `"${rootKey}" is not an object (remove or fix it first)`);
}

/** One change to a JSON document: set `value` at `path`, or delete it when undefined. */
export interface JsonEdit {
  path: string[];
  value: unknown;
}

function setOwn(target: JsonObject, key: string, value: unknown): void {
  // defineProperty, so a key named __proto__ stays an ordinary key.
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

function formatting(text: string): FormattingOptions {
  const indent = /^([ \t]+)\S/m.exec(text)?.[1];
  return {
    insertSpaces: indent === undefined || !indent.startsWith('\t'),
    tabSize: indent === undefined || indent.startsWith('\t') ? 2 : indent.length,
    eol: text.includes('\r\n') ? '\r\n' : '\n',
  };
}

/**
 * Applies edits to a config's text. JSON is re-serialized with two spaces; JSONC is edited
 * in place, so comments and formatting elsewhere survive. Both end with a newline.
 */
export function applyJsonEdits(
  text: string | undefined,
  format: ConfigFormat,
  edits: readonly JsonEdit[],
): string {
  const bom = text?.startsWith('\ufeff') ? '\ufeff' : '';
  const body = stripBom(text ?? '');
  const start = body.trim() === '' ? '{}' : body;
  // A JSON file with comments is edited in place too, so that its comments survive.
  if (format === 'jsonc' || stripComments(start) !== start) {
    const formattingOptions = formatting(start);
    let out = start;
    for (const edit of edits) {
      out = applyEdits(out, modify(out, edit.path, edit.value, { formattingOptions }));
    }
    const eol = formattingOptions.eol!;
    return bom + (out.endsWith('\n') ? out : out + eol);
  }
  const root = JSON.parse(start) as JsonObject;
  for (const { path, value } of edits) {
    let node: JsonObject | undefined = root;
    for (const key of path.slice(0, -1)) {
      if (!Object.hasOwn(node, key) || !isObject(node[key])) {
        if (value === undefined) {
          node = undefined;
          break;
        }
        setOwn(node, key, {});
      }
      node = node[key] as JsonObject;
    }
    const last = path[path.length - 1]!;
    if (node === undefined) continue;
    if (value === undefined) delete node[last];
    else setOwn(node, last, value);
  }
  return `${bom}${JSON.stringify(root, null, 2)}\n`;
}

/** Deep equality of JSON values, ignoring key order. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, i) => jsonEqual(item, b[i]))
    );
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]))
    );
  }
  return a === b;
}

/**
 * Our entry over the one already there: keys the user added to it (`disabled`, extra env
 * variables, an earlier token) stay; command, args, type and our variables are replaced.
 */
export function mergeEntry(existing: unknown, shaped: JsonObject): JsonObject {
  if (!isObject(existing)) return shaped;
  const env = {
    ...(isObject(existing.env) ? existing.env : {}),
    ...(shaped.env as JsonObject),
  };
  return { ...existing, ...shaped, env };
}

/** What installing or uninstalling does to one file. */
export interface FilePlan {
  action: 'install' | 'update' | 'unchanged' | 'remove' | 'absent';
  /** The new text (the old text when nothing changes). */
  text: string;
  /** Our entry before the change, if there was one. */
  before: unknown;
  /** Our entry after the change, if there is one. */
  after: JsonObject | undefined;
}

interface PlanTarget {
  format: ConfigFormat;
  rootKey: string;
}

/** Plans adding (or refreshing) our entry in a config's text. */
export function planInstall(
  text: string | undefined,
  target: PlanTarget,
  shaped: JsonObject,
): Parsed<FilePlan> {
  const parsed = parseConfig(text, target.format);
  if (!parsed.ok) return parsed;
  const servers = serversOf(parsed.value, target.rootKey, text);
  if (!servers.ok) return servers;
  const before = Object.hasOwn(servers.value, ENTRY_NAME) ? servers.value[ENTRY_NAME] : undefined;
  const after = mergeEntry(before, shaped);
  if (before !== undefined && jsonEqual(before, after)) {
    return { ok: true, value: { action: 'unchanged', text: text ?? '', before, after } };
  }
  return {
    ok: true,
    value: {
      action: before === undefined ? 'install' : 'update',
      text: applyJsonEdits(text, target.format, [
        { path: [target.rootKey, ENTRY_NAME], value: after },
      ]),
      before,
      after,
    },
  };
}

/** Plans removing our entry (only ours) from a config's text. */
export function planUninstall(text: string | undefined, target: PlanTarget): Parsed<FilePlan> {
  const parsed = parseConfig(text, target.format);
  if (!parsed.ok) return parsed;
  const servers = serversOf(parsed.value, target.rootKey, text);
  if (!servers.ok) return servers;
  if (!Object.hasOwn(servers.value, ENTRY_NAME)) {
    return {
      ok: true,
      value: { action: 'absent', text: text ?? '', before: undefined, after: undefined },
    };
  }
  return {
    ok: true,
    value: {
      action: 'remove',
      text: applyJsonEdits(text, target.format, [
        { path: [target.rootKey, ENTRY_NAME], value: undefined },
      ]),
      before: servers.value[ENTRY_NAME],
      after: undefined,
    },
  };
}

/** The `claude mcp add` arguments for Claude Code's user scope. */
export function claudeAddArgs(entry: ServerEntry): string[] {
  return [
    'mcp',
    'add',
    '-s',
    'user',
    ENTRY_NAME,
    ...Object.entries(entry.env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    '--',
    entry.command,
    ...entry.args,
  ];
}

/** The `claude mcp remove` arguments for Claude Code's user scope. */
export function claudeRemoveArgs(): string[] {
  return ['mcp', 'remove', '-s', 'user', ENTRY_NAME];
}

/** A command line a user can paste into their shell. */
export function shellCommand(argv: readonly string[], platform: NodeJS.Platform): string {
  return argv
    .map((arg) => {
      if (/^[A-Za-z0-9_@%+=:,./\\-]+$/.test(arg)) return arg;
      return platform === 'win32'
        ? `"${arg.replace(/"/g, '\\"')}"`
        : `'${arg.replace(/'/g, `'\\''`)}'`;
    })
    .join(' ');
}

/** `<file>.bak-YYYYMMDDTHHMMSSZ`, with `-N` when that name is taken. */
export function backupPath(file: string, now: Date, attempt = 0): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${file}.bak-${stamp}${attempt === 0 ? '' : `-${attempt}`}`;
}

/**
 * The id and agent name of an issued token, read without verifying it: enough to tell
 * the user which token to revoke. Undefined for anything that is not an `agt_` JWS.
 */
export function tokenInfo(token: unknown): { id: string; agent: string } | undefined {
  if (typeof token !== 'string' || !token.startsWith('agt_')) return undefined;
  try {
    const payload = JSON.parse(
      Buffer.from(token.slice(4).split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as unknown;
    if (isObject(payload) && typeof payload.jti === 'string' && typeof payload.name === 'string') {
      return { id: payload.jti, agent: payload.name };
    }
  } catch {
    // Not a token of ours.
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
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

/** How a migrated server is run: `node main.js env … --only VARS -- <original command>`. */
export interface MigrationWrap {
  nodePath: string;
  cliPath: string;
  project: string;
  environment: string;
  /** AGENTSECRETS_HOME to pin, if the user has one. */
  home?: string | undefined;
}

/**
 * Rewrites one server so it runs through `agentsecrets env --only VARS` and no longer holds
 * those variables. `--project`/`--env` pin the selection, since a client starts servers in
 * a folder of its choosing. Output stays masked: the redactor releases each complete line
 * at once, so a line-based stdio protocol is not held up.
 */
export function planMigration(
  text: string,
  target: PlanTarget,
  server: string,
  variables: readonly string[],
  wrap: MigrationWrap,
): Parsed<string> {
  const parsed = parseConfig(text, target.format);
  if (!parsed.ok) return parsed;
  const servers = serversOf(parsed.value, target.rootKey, text);
  if (!servers.ok) return servers;
  const entry = servers.value[server];
  if (!isObject(entry) || typeof entry.command !== 'string') {
    return failure(text, 0, `server "${server}" is not a stdio server`);
  }
  const path = [target.rootKey, server];
  const originalArgs = Array.isArray(entry.args) ? entry.args : [];
  const edits: JsonEdit[] = [
    { path: [...path, 'command'], value: wrap.nodePath },
    {
      path: [...path, 'args'],
      value: [
        wrap.cliPath,
        'env',
        '--project',
        wrap.project,
        '--env',
        wrap.environment,
        '--only',
        variables.join(','),
        '--',
        entry.command,
        ...originalArgs,
      ],
    },
    ...variables.map((name) => ({ path: [...path, 'env', name], value: undefined })),
  ];
  if (wrap.home !== undefined) {
    edits.push({ path: [...path, 'env', 'AGENTSECRETS_HOME'], value: wrap.home });
  }
  return { ok: true, value: applyJsonEdits(text, target.format, edits) };
}
