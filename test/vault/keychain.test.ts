import { readFile } from 'node:fs/promises';
import { describe, expect, inject, it } from 'vitest';
import { resolvePaths } from '../../src/core/config.js';
import type { AgentSecretsError } from '../../src/core/errors.js';
import { TEST_KDF_COST } from '../../src/crypto/kdf.js';
import type { VaultFile } from '../../src/vault/format.js';
import {
  createKeychainKeyProvider,
  createPassphraseKeyProvider,
  KEYCHAIN_SERVICE,
} from '../../src/vault/key-providers.js';
import { createOsKeyring, probeKeyring } from '../../src/vault/keyring.js';
import { createVault } from '../../src/vault/vault.js';
import { canary, scanTree } from '../helpers/canary.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

const bus = inject('keyringBus');
const missingReason = inject('keyringMissingReason');
const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

// Under CI=true these tests must run against the real keyring: a missing keyring fails here.
if (bus === '' && ci) {
  describe('keychain (real Secret Service)', () => {
    it('has a keyring to test against under CI', () => {
      throw new Error(`CI=true but no Secret Service could be started: ${missingReason}`);
    });
  });
} else if (bus === '') {
  console.warn(`[keychain tests skipped] no Secret Service: ${missingReason}`);
}

const SEL = { workspace_id: 'ws_k', project_id: 'prj_k', environment: 'development' };

describe.runIf(bus !== '')('keychain (real Secret Service via gnome-keyring)', () => {
  // The keyring library reads the bus address from this process's environment.
  process.env.DBUS_SESSION_BUS_ADDRESS = bus;
  const keyring = createOsKeyring({ timeoutMs: 5000 });

  it('passes the auto probe', async () => {
    expect(await probeKeyring(keyring, 5000)).toEqual({ ok: true });
  });

  it('holds the data key; a second process-like instance unlocks silently', async () => {
    const home = await tempDir();
    const provider = createKeychainKeyProvider(keyring);
    const vault = createVault({ paths: resolvePaths(home), provider: () => provider });
    const doc = await vault.create(provider);
    expect(doc.key.provider).toBe('keychain');
    const value = canary();
    const open = await vault.unlock();
    await open.set(SEL, [{ key: 'K', value }]);
    open.close();

    const again = createVault({
      paths: resolvePaths(home),
      provider: () => createKeychainKeyProvider(createOsKeyring({ timeoutMs: 5000 })),
    });
    expect(await (await again.unlock()).get(SEL, 'K')).toBe(value);
    // The key is in the keyring, not in the state folder.
    const header = doc.key as Extract<VaultFile['key'], { provider: 'keychain' }>;
    expect(await keyring.get(KEYCHAIN_SERVICE, header.account)).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(await scanTree(home, value)).toEqual([]);
  });

  it('moves the key to a passphrase and deletes the keychain entry', async () => {
    const home = await tempDir();
    const provider = createKeychainKeyProvider(keyring);
    const vault = createVault({ paths: resolvePaths(home), provider: () => provider });
    const doc = await vault.create(provider);
    const header = doc.key as Extract<VaultFile['key'], { provider: 'keychain' }>;
    const open = await vault.unlock();
    await open.set(SEL, [{ key: 'K', value: 'moved' }]);
    const passphrase = createPassphraseKeyProvider({
      source: {
        forUnlock: async () => 'keychain-to-pass',
        forCreate: async () => 'keychain-to-pass',
      },
      cost: TEST_KDF_COST,
    });
    await open.rekey(passphrase);
    expect(await keyring.get(KEYCHAIN_SERVICE, header.account)).toBeNull();
    const reopened = createVault({ paths: resolvePaths(home), provider: () => passphrase });
    expect(await (await reopened.unlock()).get(SEL, 'K')).toBe('moved');
  });

  it('reports a deleted keychain entry as vault_locked, with what to do', async () => {
    const home = await tempDir();
    const provider = createKeychainKeyProvider(keyring);
    const vault = createVault({ paths: resolvePaths(home), provider: () => provider });
    const doc = await vault.create(provider);
    const header = doc.key as Extract<VaultFile['key'], { provider: 'keychain' }>;
    await keyring.delete(KEYCHAIN_SERVICE, header.account);
    const err = (await vault.unlock().catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('vault_locked');
    expect(err.message).toContain('missing from the OS keychain');
  });

  it('CLI: init --backend auto picks the keychain when one is running', async () => {
    const home = await tempDir();
    const result = await runCli(['init', '--json'], {
      home,
      env: { DBUS_SESSION_BUS_ADDRESS: bus },
    });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ backend: 'keychain', vault_created: true });
    const value = canary();
    const set = await runCli(['secrets', 'set', 'K'], {
      home,
      input: value,
      env: { DBUS_SESSION_BUS_ADDRESS: bus },
    });
    expect(set.code).toBe(0);
    const env = await runCli(
      ['env', '--', process.execPath, '-e', 'process.stdout.write(String(process.env.K.length))'],
      {
        home,
        env: { DBUS_SESSION_BUS_ADDRESS: bus },
      },
    );
    expect(env.stdout).toBe(String(value.length));
    const doc = JSON.parse(await readFile(resolvePaths(home).vault, 'utf8')) as VaultFile;
    expect(doc.key.provider).toBe('keychain');

    // Without the bus, the same vault cannot be opened: exit 4, a clear message.
    const locked = await runCli(['env', '--', 'true'], { home });
    expect(locked.code).toBe(4);
    expect(locked.stderr).toContain('keychain_unavailable');
    expect(locked.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('keychain auto-detection without a Secret Service', () => {
  it('falls back to a passphrase vault and says so', async () => {
    const home = await tempDir();
    const result = await runCli(['init', '--json', '--weak-kdf-for-tests'], {
      home,
      env: { AGENTSECRETS_PASSPHRASE: 'fallback-passphrase', DBUS_SESSION_BUS_ADDRESS: undefined },
    });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ backend: 'passphrase' });
    expect(result.stderr).toContain('OS keychain is not available');
    expect(result.stderr).toContain('passphrase');
  });

  it('never falls back to plaintext: no passphrase and no terminal is an error', async () => {
    const home = await tempDir();
    const result = await runCli(['init'], { home, env: { DBUS_SESSION_BUS_ADDRESS: undefined } });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('AGENTSECRETS_PASSPHRASE');
  });
});

describe('vault rekey --to keychain without a keychain', () => {
  it('says the vault keeps its passphrase key, and does not suggest creating a passphrase vault', async () => {
    const home = await tempDir();
    const env = {
      DBUS_SESSION_BUS_ADDRESS: undefined,
      AGENTSECRETS_PASSPHRASE: 'a-long-test-passphrase',
    };
    const init = await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], {
      home,
      env,
    });
    expect(init.code, init.stderr).toBe(0);
    const rekey = await runCli(['vault', 'rekey', '--to', 'keychain'], { home, env });
    expect(rekey.code).not.toBe(0);
    expect(rekey.stderr).toContain('keeps its passphrase key');
    expect(rekey.stderr).not.toContain('init --backend passphrase');
  });
});
