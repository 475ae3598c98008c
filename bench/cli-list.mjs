// `agentsecrets secrets list` with 1,000 secrets versus `node -e 0`, interleaved in one run.
// Target (issue 2): median wall time at most 4x that of `node -e 0`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../dist/src/core/config.js';
import { TEST_KDF_COST } from '../dist/src/crypto/kdf.js';
import { createServices } from '../dist/src/services/index.js';
import { median, ms, timeCommand } from './lib.mjs';

const RUNS = Number(process.env.RUNS ?? 30);
const SECRETS = 1000;
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const home = await mkdtemp(join(tmpdir(), 'agentsecrets-bench-'));
try {
  const passphrase = {
    forUnlock: async () => 'bench-passphrase',
    forCreate: async () => 'bench-passphrase',
  };
  const services = createServices(loadConfig({ AGENTSECRETS_HOME: home }, home), {
    passphrase,
    kdfCost: TEST_KDF_COST,
  });
  await services.vault.create(services.keyProvider('passphrase'));
  await services.workspaces.initLocal({ projectName: 'bench', backend: 'passphrase' });
  const current = await services.workspaces.resolve();
  const vault = await services.vault.unlock();
  const entries = Array.from({ length: SECRETS }, (_, i) => ({
    key: `KEY_${i}`,
    value: `value-${i}`,
  }));
  await vault.set(current.selection, entries);
  vault.close();

  const env = { PATH: process.env.PATH, HOME: home, AGENTSECRETS_HOME: home };
  const baseline = [];
  const list = [];
  const listJson = [];
  for (let i = 0; i < 3; i++)
    timeCommand(process.execPath, [cli, 'secrets', 'list'], { env, cwd: home });
  for (let i = 0; i < RUNS; i++) {
    baseline.push(timeCommand(process.execPath, ['-e', '0'], { env }));
    list.push(timeCommand(process.execPath, [cli, 'secrets', 'list'], { env, cwd: home }));
    listJson.push(
      timeCommand(process.execPath, [cli, 'secrets', 'list', '--json'], { env, cwd: home }),
    );
  }
  const b = median(baseline);
  const l = median(list);
  const j = median(listJson);
  console.log(`secrets list, ${SECRETS} secrets, ${RUNS} interleaved runs`);
  console.log(`  node -e 0                  median ${ms(b)}`);
  console.log(
    `  agentsecrets secrets list  median ${ms(l)}  (${(l / b).toFixed(2)}x node -e 0; target <= 4x)`,
  );
  console.log(`  ... --json                 median ${ms(j)}  (${(j / b).toFixed(2)}x)`);
  process.exitCode = l / b <= 4 ? 0 : 1;
} finally {
  await rm(home, { recursive: true, force: true });
}
