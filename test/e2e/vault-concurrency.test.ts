import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config.js';
import { createServices } from '../../src/services/index.js';
import { baseEnv, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const WRITER = fileURLToPath(new URL('./fixtures/vault-writer.mjs', import.meta.url));
const PASSPHRASE = 'concurrency-passphrase';

async function initVault(): Promise<string> {
  const home = await tempDir();
  const init = await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], {
    home,
    env: { AGENTSECRETS_PASSPHRASE: PASSPHRASE },
  });
  expect(init.code).toBe(0);
  return home;
}

function startWriter(home: string, prefix: string, count: number) {
  const child = spawn(process.execPath, [WRITER, prefix, String(count)], {
    env: baseEnv(home, { AGENTSECRETS_PASSPHRASE: PASSPHRASE }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const committed: string[] = [];
  let buffer = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) if (line.startsWith('committed ')) committed.push(line.slice(10));
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const done = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal })),
  );
  return { child, committed, done, stderr: () => stderr };
}

async function openVault(home: string) {
  const services = createServices(loadConfig({ AGENTSECRETS_HOME: home }, home), {
    passphrase: { forUnlock: async () => PASSPHRASE, forCreate: async () => PASSPHRASE },
  });
  const current = await services.workspaces.resolve();
  return { services, current, vault: await services.vault.unlock() };
}

describe('vault under concurrent writers', () => {
  it('two processes × 200 secrets at once: all 400 are there and decrypt', async () => {
    const home = await initVault();
    const a = startWriter(home, 'A', 200);
    const b = startWriter(home, 'B', 200);
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect(ra, a.stderr()).toEqual({ code: 0, signal: null });
    expect(rb, b.stderr()).toEqual({ code: 0, signal: null });

    const { vault, current, services } = await openVault(home);
    const values = await vault.getMany(current.selection);
    expect(values.size).toBe(400);
    for (const prefix of ['A', 'B']) {
      for (let i = 0; i < 200; i++) {
        expect(values.get(`${prefix}_${i}`)).toBe(`value-of-${prefix}_${i}`);
      }
    }
    expect((await services.vault.list(current.selection)).every((r) => r.version === 1)).toBe(true);
    const leftovers = (await readdir(home)).filter(
      (name) => name.endsWith('.tmp') || name.endsWith('.lock'),
    );
    expect(leftovers).toEqual([]);
  });

  it('a writer killed with SIGKILL mid-write leaves a vault that opens with every committed record', async () => {
    const home = await initVault();
    const writer = startWriter(home, 'K', 100_000);
    // Let it commit a good number of records, then kill it without warning.
    while (writer.committed.length < 60) await new Promise((r) => setTimeout(r, 5));
    writer.child.kill('SIGKILL');
    const result = await writer.done;
    expect(result.signal).toBe('SIGKILL');

    const { vault, current } = await openVault(home);
    const values = await vault.getMany(current.selection);
    for (const key of writer.committed) expect(values.get(key)).toBe(`value-of-${key}`);
    // At most one write was in flight when it died; nothing else beyond what was reported.
    expect(values.size).toBeGreaterThanOrEqual(writer.committed.length);
    expect(values.size).toBeLessThanOrEqual(writer.committed.length + 1);

    // The next writer takes over the dead writer's lock (if any) and cleans up its temp file.
    const after = startWriter(home, 'AFTER', 3);
    expect((await after.done).code).toBe(0);
    const names = await readdir(home);
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const reopened = await openVault(home);
    expect((await reopened.vault.getMany(reopened.current.selection)).get('AFTER_2')).toBe(
      'value-of-AFTER_2',
    );
  });
});
