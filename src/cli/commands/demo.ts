import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig } from '../../core/config.js';
import { runWithSecrets } from '../../env/runner.js';
import { createServices } from '../../services.js';
import { createMemoryKeyProvider } from '../../vault/key-providers.js';
import type { CliContext } from '../context.js';

/**
 * `agentsecrets demo`: the main job, end to end, with embedded defaults. It uses a throw-away
 * state folder and an in-memory vault key, so it needs no keychain, passphrase, server or
 * account, and leaves nothing behind.
 */
export async function demo(ctx: CliContext, options: { keep?: boolean }): Promise<number> {
  const { out } = ctx;
  const home = await mkdtemp(join(tmpdir(), 'agentsecrets-demo-'));
  const memory = createMemoryKeyProvider();
  const config = loadConfig(
    { ...ctx.config.env, AGENTSECRETS_HOME: home, AGENTSECRETS_ENV: '' },
    home,
  );
  const services = createServices(config, { memoryKeys: memory });
  const step = (n: number, text: string) => out.line(`\n${n}. ${text}`);
  try {
    out.line('agentsecrets demo: an agent uses a credential without ever seeing it.');
    out.line(`(throw-away state folder ${home}, in-memory vault key)`);

    step(1, 'Create an encrypted vault and a local workspace');
    await services.vault.create(memory);
    const { project } = await services.workspaces.initLocal({
      projectName: 'demo',
      backend: 'passphrase',
    });
    out.line(`   project '${project.name}', environment 'development'`);

    step(2, 'A human stores a credential (the value is random and never printed)');
    const value = `sk_demo_${randomBytes(16).toString('hex')}`;
    const current = await services.workspaces.resolve();
    const vault = await services.vault.unlock();
    await vault.set(current.selection, [{ key: 'DEMO_API_KEY', value }]);
    const onDisk = (await services.vault.read()).records[0]!;
    out.line(`   vault.json holds ciphertext only: ${onDisk.ciphertext.slice(0, 24)}…`);

    step(3, 'The agent lists what exists: names and metadata, no values');
    for (const meta of await services.vault.list(current.selection)) {
      out.line(`   ${meta.key}  version ${meta.version}  updated ${meta.updated_at}`);
    }

    step(4, 'The agent runs a program with the credential injected; output to a pipe is masked');
    const captured = new PassThrough();
    let text = '';
    captured.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    const result = await runWithSecrets({
      command: process.execPath,
      args: [
        '-e',
        'console.log("the program sees a key of length " + process.env.DEMO_API_KEY.length + ": " + process.env.DEMO_API_KEY)',
      ],
      env: { PATH: ctx.config.env.PATH ?? '', DEMO_API_KEY: value },
      mask: [value],
      noMask: false,
      streams: { stdout: captured, stderr: captured },
    });
    vault.close();
    out.line(`   program output: ${text.trim()}`);
    out.line(`   exit code ${result.exitCode}, ${result.redactions} value(s) masked`);

    out.line('\nDone. To set up for real: agentsecrets init, then agentsecrets secrets set KEY.');
    return result.exitCode === 0 && !text.includes(value) ? 0 : 1;
  } finally {
    if (options.keep) out.notice(`kept ${home}`);
    else await rm(home, { recursive: true, force: true });
  }
}
