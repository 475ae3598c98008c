import {
  applyJsonEdits,
  jsonEqual,
  mergeEntry,
  type Parsed,
  parseConfig,
  serversOf,
} from './jsonc.js';
import {
  type ConfigFormat,
  ENTRY_NAME,
  isObject,
  type JsonObject,
  type ServerEntry,
} from './registry.js';

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

export interface PlanTarget {
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
