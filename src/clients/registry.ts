import { posix, win32 } from 'node:path';

/**
 * MCP client configurations, without I/O: which file each client reads (per OS and scope),
 * and the entry we put there. Editing is ./jsonc.ts, planning ./plan.ts, credential detection
 * ./scan.ts; the CLI commands do the reading and writing (src/cli/commands/mcp-install.ts,
 * mcp-scan.ts).
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
