import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    if (!(await stat(path)).isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where `command` would be found, as a shell looks it up: a name with a slash is taken
 * relative to `cwd`; a bare name is searched in PATH. Undefined when nothing runnable is there.
 */
export async function findProgram(
  command: string,
  options: { path: string | undefined; cwd: string },
): Promise<string | undefined> {
  if (command === '') return undefined;
  if (command.includes('/')) {
    const full = isAbsolute(command) ? command : resolve(options.cwd, command);
    return (await isExecutableFile(full)) ? full : undefined;
  }
  for (const dir of (options.path ?? '').split(delimiter)) {
    // An empty PATH entry means the current folder, as in a shell.
    const candidate = join(dir === '' ? options.cwd : resolve(options.cwd, dir), command);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}
