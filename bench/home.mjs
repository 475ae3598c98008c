// A state folder for a benchmark: a passphrase vault (weak KDF: unlock cost is not what these
// benchmarks measure), a local workspace, the given secrets, and loopback upstreams allowed.
import { loadConfig } from '../dist/src/core/config.js';
import { TEST_KDF_COST } from '../dist/src/crypto/kdf.js';
import { createServices } from '../dist/src/services/index.js';

export async function prepareHome({ home, passphrase, secrets, allowPorts, allowPatterns = [] }) {
  const source = { forUnlock: async () => passphrase, forCreate: async () => passphrase };
  const services = createServices(loadConfig({ AGENTSECRETS_HOME: home }, home), {
    passphrase: source,
    kdfCost: TEST_KDF_COST,
  });
  await services.vault.create(services.keyProvider('passphrase'));
  const { workspace } = await services.workspaces.initLocal({
    projectName: 'bench',
    backend: 'passphrase',
  });
  const current = await services.workspaces.resolve();
  const vault = await services.vault.unlock();
  await vault.set(
    current.selection,
    Object.entries(secrets).map(([key, value]) => ({ key, value })),
  );
  vault.close();
  await services.workspaces.updateWorkspace(workspace.id, (w) => {
    w.allowlist = [...allowPorts.map((port) => `127.0.0.1:${port}`), ...allowPatterns].map(
      (pattern) => ({
        pattern,
        added_by: 'bench',
        added_at: new Date().toISOString(),
      }),
    );
  });
}
