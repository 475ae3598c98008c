import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chmod, copyFile, readFile, realpath, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, posix, win32 } from 'node:path';
import { AgentSecretsError } from '../../core/errors.js';
import { packageRoot } from '../../core/package-root.js';
import type { issueToken } from '../../identity/tokens.js';
import {
  backupPath,
  isObject,
  type JsonObject,
  type PathContext,
  shellCommand,
} from '../../clients/index.js';
import { ensurePrivateDir, isErrno, writeFileAtomic } from '../../store/fs.js';
import { type CliContext } from '../context.js';
import { EXIT } from '../exit.js';

/* Reading and writing MCP client config files, shared by `mcp install` and `mcp scan`. */

/** Stands in for a token that is issued only once a human has confirmed. */
export const TOKEN_PLACEHOLDER = '<issued on install>';

/** A token just issued; only its id and expiry are ever shown. */
export type Issued = Awaited<ReturnType<typeof issueToken>>;

/** A config file as read from disk. */
export interface ConfigFile {
  /** The file actually written: a symlinked config keeps its link. */
  realFile: string;
  text: string | undefined;
  mode: number | undefined;
}

export function pathContext(ctx: CliContext): PathContext {
  return {
    platform: process.platform,
    env: ctx.config.env,
    homedir: homedir(),
    cwd: ctx.config.cwd,
  };
}

/** The absolute node binary and built CLI an entry runs: no PATH, nvm or npx involved. */
export function serverPaths(): { nodePath: string; cliPath: string } {
  return {
    nodePath: process.execPath,
    cliPath: join(packageRoot(import.meta.url), 'dist', 'src', 'cli', 'main.js'),
  };
}

/** Where `mcp install` keeps a token for a client configured by command line. */
export function tokenFilePath(ctx: CliContext, tokenId: string): string {
  return join(ctx.config.paths.home, 'tokens', `${tokenId}.token`);
}

export async function writeTokenFile(ctx: CliContext, issued: Issued): Promise<string> {
  const path = tokenFilePath(ctx, issued.tokenId);
  await ensurePrivateDir(dirname(path));
  await writeFileAtomic(path, `${issued.token}\n`);
  return path;
}

/** AGENTSECRETS_HOME for the entry, when the user has set one (so both find the same vault). */
export function stateHome(ctx: CliContext): string | undefined {
  const set = ctx.config.env.AGENTSECRETS_HOME;
  return set === undefined || set.trim() === '' ? undefined : ctx.config.paths.home;
}

export async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() === true;
}

export async function readConfigFile(file: string): Promise<ConfigFile> {
  let realFile: string;
  try {
    realFile = await realpath(file);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { realFile: file, text: undefined, mode: undefined };
    throw err;
  }
  const [text, info] = await Promise.all([readFile(realFile, 'utf8'), stat(realFile)]);
  return { realFile, text, mode: info.mode & 0o7777 };
}

export async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** Copies the current file next to itself as `<file>.bak-<UTC stamp>`; returns its path. */
export async function makeBackup(file: string, now: Date): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const target = backupPath(file, now, attempt);
    try {
      await copyFile(file, target, constants.COPYFILE_EXCL);
      return target;
    } catch (err) {
      if (!isErrno(err, 'EEXIST') || attempt >= 99) throw err;
    }
  }
}

/**
 * Backs up and atomically replaces a config file, keeping its mode (tightened to owner-only
 * when it will hold a token). Refuses when the file changed since it was read.
 */
export async function commit(
  file: ConfigFile,
  text: string,
  options: { now: Date; holdsToken: boolean; shown: string },
): Promise<string | undefined> {
  if ((await readText(file.realFile)) !== file.text) {
    throw new AgentSecretsError(
      'conflict',
      `${options.shown} changed while agentsecrets was editing it; nothing was written there, run the command again`,
    );
  }
  const backup = file.text === undefined ? undefined : await makeBackup(file.realFile, options.now);
  const base = file.mode ?? (options.holdsToken ? 0o600 : 0o644);
  const mode = options.holdsToken ? base & ~0o077 : base;
  await writeFileAtomic(file.realFile, text, mode);
  // An existing file keeps its exact mode; a new one gets the mode through the umask.
  if (file.mode !== undefined) await chmod(file.realFile, mode);
  return backup;
}

/** The executable `name` on PATH (with PATHEXT on Windows), if there is one. */
export async function findOnPath(
  name: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string | undefined> {
  const windows = process.platform === 'win32';
  const p = windows ? win32 : posix;
  const dirs = (env.PATH ?? env.Path ?? '').split(p.delimiter).filter((d) => d !== '');
  const exts = windows ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = p.join(dir, name + ext.toLowerCase());
      const info = await stat(candidate).catch(() => undefined);
      if (info?.isFile() !== true) continue;
      if (windows) return candidate;
      if (
        await access(candidate, constants.X_OK).then(
          () => true,
          () => false,
        )
      )
        return candidate;
    }
  }
  return undefined;
}

/** Runs the `claude` CLI; the token (if any) is scrubbed from what it printed. */
export function runClaude(
  ctx: CliContext,
  claude: string,
  args: string[],
  token: string | undefined,
): Promise<{ code: number; output: string }> {
  const shell = process.platform === 'win32' && /\.(cmd|bat)$/i.test(claude);
  return new Promise((resolve) => {
    execFile(
      shell ? shellCommand([claude, ...args], 'win32') : claude,
      shell ? [] : args,
      { env: { ...ctx.config.env }, timeout: 60_000, windowsHide: true, shell },
      (err, stdout, stderr) => {
        let output = `${stdout}\n${stderr}`.trim();
        if (token !== undefined) output = output.split(token).join('[REDACTED_BY_AGENTSECRETS]');
        const code =
          err === null ? 0 : typeof err.code === 'number' ? err.code : EXIT.commandNotFound;
        resolve({ code, output });
      },
    );
  });
}

export function errnoCode(err: unknown): string {
  return isObject(err) && typeof err.code === 'string' ? err.code : 'unreadable';
}

export function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim() !== '') ?? '(no output)';
}

/** The entry for display: env values other than AGENTSECRETS_HOME are never shown. */
export function shownEntry(entry: JsonObject | undefined): JsonObject | undefined {
  if (entry === undefined) return undefined;
  const env = isObject(entry.env) ? entry.env : {};
  const hidden = Object.fromEntries(
    Object.entries(env).map(([k, v]) => [
      k,
      k === 'AGENTSECRETS_HOME' || v === TOKEN_PLACEHOLDER ? v : '<kept, not shown>',
    ]),
  );
  return { ...entry, env: hidden };
}

/** A file target that parsed, with its plan. */
