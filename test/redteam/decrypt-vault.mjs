// Red-team helper: decrypt vault.json with everything a same-user program can reach: the
// files on disk, the OS keychain (through agentsecrets' own code, with no CLI checks in the
// way), and any passphrase in the environment. Prints every value it manages to decrypt.
const dist = new URL('../../dist/src/', import.meta.url);
const { loadConfig } = await import(new URL('core/config.js', dist));
const { createServices } = await import(new URL('services/index.js', dist));
const config = loadConfig();
const guess = process.env.AGENTSECRETS_PASSPHRASE ?? 'password123';
const services = createServices(config, {
  passphrase: { forUnlock: async () => guess, forCreate: async () => guess },
});
try {
  const vault = await services.vault.unlock();
  const doc = await services.vault.read();
  for (const r of doc.records) {
    if (r.key.startsWith('@')) continue;
    const sel = {
      workspace_id: r.workspace_id,
      project_id: r.project_id,
      environment: r.environment,
    };
    console.log(`${r.key}=${await vault.get(sel, r.key)}`);
  }
} catch (err) {
  console.log(`FAILED ${err.code ?? ''} ${err.message}`);
  process.exit(1);
}
