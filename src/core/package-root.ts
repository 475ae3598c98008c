import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder holding agentsecrets' own package.json, found from a module's URL. */
export function packageRoot(moduleUrl: string): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, '.agent'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('agentsecrets package root not found');
    dir = parent;
  }
}
