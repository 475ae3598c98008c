import { constants } from 'node:fs';
import { access, lstat, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * `doctor`'s checks (issue 14). Each returns a finding: `ok`, `warn` (advice; does not fail)
 * or `fail`. File-system probes only; the command wires in the vault, key holder and server.
 */

export type Level = 'ok' | 'warn' | 'fail';

/** One finding. */
export interface Finding {
  check: string;
  level: Level;
  detail: string;
  /** What to do about it (absent when all is well). */
  fix?: string;
}

const PASSPHRASE_VARIABLES = ['AGENTSECRETS_PASSPHRASE', 'AGENTSECRETS_NEW_PASSPHRASE'];

/** Shell start-up files that could hold an exported passphrase. */
export const SHELL_RC_FILES = [
  '.bashrc',
  '.bash_profile',
  '.profile',
  '.zshrc',
  '.zprofile',
  '.zshenv',
  '.config/fish/config.fish',
];

/** Files under `home` and `.env*` files under `project` that mention a passphrase variable. */
export async function passphraseFiles(home: string, project: string): Promise<string[]> {
  const candidates = SHELL_RC_FILES.map((f) => join(home, f));
  candidates.push(...(await envFiles(project, 3)));
  const found: string[] = [];
  for (const path of candidates) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      continue;
    }
    if (PASSPHRASE_VARIABLES.some((v) => new RegExp(`\\b${v}\\s*=`).test(text))) found.push(path);
  }
  return found;
}

async function envFiles(dir: string, depth: number): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const entry of entries) {
    if (entry.isFile() && /^\.env(\..*)?$/.test(entry.name)) out.push(join(dir, entry.name));
    else if (
      entry.isDirectory() &&
      depth > 0 &&
      !['node_modules', '.git', 'dist'].includes(entry.name)
    ) {
      out.push(...(await envFiles(join(dir, entry.name), depth - 1)));
    }
  }
  return out;
}

/** Paths under `root` this user can write (at most `limit` are reported). */
export async function writableProgramFiles(
  root: string,
  limit = 5,
  budget = 20_000,
): Promise<string[]> {
  const found: string[] = [];
  const queue = [root];
  let seen = 0;
  while (queue.length > 0 && found.length < limit && seen < budget) {
    const path = queue.shift()!;
    seen++;
    try {
      await access(path, constants.W_OK);
      found.push(path);
      continue;
    } catch {
      // not writable: good
    }
    const info = await lstat(path).catch(() => undefined);
    if (info?.isDirectory()) {
      const names = await readdir(path).catch(() => []);
      queue.push(...names.map((n) => join(path, n)));
    }
  }
  return found;
}

/** Yama's ptrace_scope, or null when Yama is absent. */
export async function ptraceScope(): Promise<number | null> {
  try {
    return Number((await readFile('/proc/sys/kernel/yama/ptrace_scope', 'utf8')).trim());
  } catch {
    return null;
  }
}

/** State files whose mode lets anyone else in (folders must be 0700, files 0600). */
export async function looseModes(home: string): Promise<string[]> {
  const loose: string[] = [];
  async function walk(path: string): Promise<void> {
    const info = await lstat(path).catch(() => undefined);
    if (info === undefined || info.isSymbolicLink()) return;
    if ((info.mode & 0o077) !== 0) loose.push(`${path} (${(info.mode & 0o777).toString(8)})`);
    if (info.isDirectory()) {
      for (const name of await readdir(path).catch(() => [])) await walk(join(path, name));
    }
  }
  await walk(home);
  return loose;
}

/** The owner of /proc/PID/mem: root (0) once the process made itself non-dumpable. */
export async function procOwner(pid: number): Promise<number | null> {
  try {
    return (await stat(`/proc/${pid}/mem`)).uid;
  } catch {
    return null;
  }
}
