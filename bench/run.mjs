// Runs every benchmark in turn (`npm run bench`); exits 1 if any target was missed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const benches = [
  'cli-list.mjs',
  'kdf.mjs',
  'identity.mjs',
  'proxy.mjs',
  'mcp.mjs',
  'audit.mjs',
  'intercept.mjs',
  'proxy-cpu.mjs',
  ...process.argv.slice(2),
];
let failed = false;
for (const bench of benches) {
  console.log(`\n== bench/${bench}`);
  const result = spawnSync(process.execPath, [fileURLToPath(new URL(bench, import.meta.url))], {
    stdio: 'inherit',
  });
  if (result.status !== 0) failed = true;
}
process.exitCode = failed ? 1 : 0;
