import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Gives the whole run a private temp folder (TMPDIR, inherited by workers and by the CLIs
 * the tests spawn), and fails the run if a test left an agentsecrets-* folder in it: every
 * test removes what it creates (test/helpers/tmp.ts does it for `tempDir()`).
 */
export default function setup(): () => void {
  const previous = process.env.TMPDIR;
  const root = mkdtempSync(join(tmpdir(), 'agentsecrets-run-'));
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    const left = readdirSync(root).filter((name) => name.startsWith('agentsecrets-'));
    rmSync(root, { recursive: true, force: true });
    if (left.length > 0) {
      // vitest reports an error thrown here but still exits 0: set the exit code as well.
      process.exitCode = 1;
      throw new Error(
        `the tests left ${left.length} temp folder(s) behind (${left.slice(0, 10).join(', ')}${left.length > 10 ? ', …' : ''}): remove them in the test that creates them, e.g. with tempDir() from test/helpers/tmp.ts`,
      );
    }
  };
}
