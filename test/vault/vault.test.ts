import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { resolvePaths } from '../../src/core/config.js';
import { AgentSecretsError } from '../../src/core/errors.js';
import { TEST_KDF_COST } from '../../src/crypto/kdf.js';
import type { KeyProviderKind, VaultFile } from '../../src/vault/format.js';
import {
  createMemoryKeyProvider,
  createPassphraseKeyProvider,
  type KeyProvider,
  type PassphraseSource,
} from '../../src/vault/key-providers.js';
import { createVault, type Selection } from '../../src/vault/vault.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { tempDir } from '../helpers/tmp.js';

const SEL: Selection = { workspace_id: 'ws_1', project_id: 'prj_1', environment: 'development' };

function fixedPassphrase(value: string): PassphraseSource {
  return { forUnlock: async () => value, forCreate: async () => value };
}

async function memoryVault() {
  const home = await tempDir();
  const memory = createMemoryKeyProvider();
  const vault = createVault({ paths: resolvePaths(home), provider: () => memory });
  await vault.create(memory);
  return { home, vault, memory };
}

async function passphraseVault(passphrase: string) {
  const home = await tempDir();
  const providers: Record<string, KeyProvider> = {
    passphrase: createPassphraseKeyProvider({
      source: fixedPassphrase(passphrase),
      cost: TEST_KDF_COST,
    }),
  };
  const vault = createVault({
    paths: resolvePaths(home),
    provider: (kind: KeyProviderKind) => providers[kind]!,
  });
  await vault.create(providers.passphrase!);
  return { home, vault, providers };
}

async function readDoc(home: string): Promise<VaultFile> {
  return JSON.parse(await readFile(resolvePaths(home).vault, 'utf8')) as VaultFile;
}

async function writeDoc(home: string, doc: VaultFile): Promise<void> {
  await writeFile(resolvePaths(home).vault, JSON.stringify(doc));
}

describe('vault', () => {
  it('stores, reads and lists secrets; listing shows metadata only', async () => {
    const { home, vault } = await memoryVault();
    const value = canary();
    const open = await vault.unlock();
    const results = await open.set(SEL, [
      { key: 'STRIPE_KEY', value },
      { key: 'OTHER', value: 'x' },
    ]);
    expect(results).toEqual([
      { key: 'STRIPE_KEY', action: 'created', version: 1 },
      { key: 'OTHER', action: 'created', version: 1 },
    ]);
    expect(await open.get(SEL, 'STRIPE_KEY')).toBe(value);

    const listed = await vault.list(SEL);
    expect(listed.map((r) => r.key).sort()).toEqual(['OTHER', 'STRIPE_KEY']);
    for (const meta of listed) {
      expect(meta).not.toHaveProperty('ciphertext');
      expect(meta).not.toHaveProperty('nonce');
      expect(meta.changed_since_sync).toBe(true);
      expect(meta.base_version).toBeNull();
    }
    expect(findLeaks(await readFile(resolvePaths(home).vault), value)).toEqual([]);
  });

  it('increments the version on every write and keeps created_at', async () => {
    const { vault } = await memoryVault();
    const open = await vault.unlock();
    await open.set(SEL, [{ key: 'K', value: 'one' }]);
    const first = (await vault.list(SEL))[0]!;
    const [second] = await open.set(SEL, [{ key: 'K', value: 'two' }]);
    expect(second).toEqual({ key: 'K', action: 'updated', version: 2 });
    const meta = (await vault.list(SEL))[0]!;
    expect(meta.created_at).toBe(first.created_at);
    expect(meta.id).toBe(first.id);
    expect(await open.get(SEL, 'K')).toBe('two');
  });

  it('keeps projects and environments apart', async () => {
    const { vault } = await memoryVault();
    const open = await vault.unlock();
    const staging = { ...SEL, environment: 'staging' };
    const other = { ...SEL, project_id: 'prj_2' };
    await open.set(SEL, [{ key: 'K', value: 'dev' }]);
    await open.set(staging, [{ key: 'K', value: 'stg' }]);
    await open.set(other, [{ key: 'K', value: 'p2' }]);
    expect(await open.get(SEL, 'K')).toBe('dev');
    expect(await open.get(staging, 'K')).toBe('stg');
    expect(await open.get(other, 'K')).toBe('p2');
    expect((await open.getMany(SEL)).get('K')).toBe('dev');
  });

  it('reports a missing key with the SDK-compatible message', async () => {
    const { vault } = await memoryVault();
    const open = await vault.unlock();
    const err = await open.get(SEL, 'NOPE').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentSecretsError);
    expect((err as AgentSecretsError).code).toBe('secret_not_found');
    expect((err as AgentSecretsError).message).toContain("secret 'NOPE' not found");
  });

  it('rejects invalid key names without echoing them', async () => {
    const { vault } = await memoryVault();
    const open = await vault.unlock();
    const bad = 'sk-live-pasted-value';
    const err = (await open
      .set(SEL, [{ key: bad, value: 'v' }])
      .catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('invalid_key_name');
    expect(err.message).not.toContain(bad);
  });

  // Each row moves or alters stored fields so that a ciphertext is presented under an
  // address it was not sealed for. The AAD binds vault, workspace, project, environment,
  // key and version, so every one must fail to decrypt.
  const swaps: [string, (doc: VaultFile) => void][] = [
    [
      'ciphertexts swapped between two keys',
      (doc) => {
        const [a, b] = doc.records;
        [a!.nonce, b!.nonce] = [b!.nonce, a!.nonce];
        [a!.ciphertext, b!.ciphertext] = [b!.ciphertext, a!.ciphertext];
      },
    ],
    ['record renamed to another key', (doc) => void (doc.records[0]!.key = 'RENAMED')],
    ['record moved to another project', (doc) => void (doc.records[0]!.project_id = 'prj_other')],
    [
      'record moved to another environment',
      (doc) => void (doc.records[0]!.environment = 'production'),
    ],
    [
      'record moved to another workspace',
      (doc) => void (doc.records[0]!.workspace_id = 'ws_other'),
    ],
    ['version number rolled back', (doc) => void (doc.records[0]!.version = 0)],
  ];

  it.each(swaps)('refuses to decrypt when %s', async (_name, tamper) => {
    const { home, vault } = await memoryVault();
    const open = await vault.unlock();
    await open.set(SEL, [
      { key: 'FIRST', value: 'first-value' },
      { key: 'SECOND', value: 'second-value' },
    ]);
    const doc = await readDoc(home);
    tamper(doc);
    await writeDoc(home, doc);
    const record = doc.records[0]!;
    const err = await open
      .get(
        {
          workspace_id: record.workspace_id,
          project_id: record.project_id,
          environment: record.environment,
        },
        record.key,
      )
      .catch((e: unknown) => e);
    expect((err as AgentSecretsError).code).toBe('decryption_failed');
    expect((err as Error).message).not.toMatch(/first-value|second-value/);
  });

  it('hides reserved records from list and getMany', async () => {
    const { vault } = await memoryVault();
    const open = await vault.unlock();
    await open.setReserved('ws_1', 'token-signing-key', 'private-material');
    await open.set(SEL, [{ key: 'VISIBLE', value: 'v' }]);
    expect((await vault.list()).map((r) => r.key)).toEqual(['VISIBLE']);
    expect([...(await open.getMany(SEL)).keys()]).toEqual(['VISIBLE']);
    expect(await open.getReserved('ws_1', 'token-signing-key')).toBe('private-material');
    expect(await open.getReserved('ws_2', 'token-signing-key')).toBeUndefined();
  });

  it('purges a project without unlocking', async () => {
    const { vault } = await memoryVault();
    const open = await vault.unlock();
    await open.set(SEL, [{ key: 'A', value: '1' }]);
    await open.set({ ...SEL, project_id: 'prj_2' }, [{ key: 'B', value: '2' }]);
    expect(await vault.purge({ project_id: 'prj_1' })).toBe(1);
    expect((await vault.list()).map((r) => r.key)).toEqual(['B']);
  });

  it('refuses to create a second vault over the first', async () => {
    const { vault, memory } = await memoryVault();
    const err = (await vault.create(memory).catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('already_initialized');
  });

  it('reports not_initialized before init', async () => {
    const home = await tempDir();
    const vault = createVault({
      paths: resolvePaths(home),
      provider: () => createMemoryKeyProvider(),
    });
    expect(await vault.exists()).toBe(false);
    const err = (await vault.list().catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('not_initialized');
    expect(err.message).toContain('agentsecrets init');
  });
});

describe('passphrase vault', () => {
  it('opens with the right passphrase and fails with one generic error otherwise', async () => {
    const passphrase = canary('PASS');
    const { home, vault } = await passphraseVault(passphrase);
    const open = await vault.unlock();
    await open.set(SEL, [{ key: 'K', value: 'v' }]);
    open.close();

    const wrong = createVault({
      paths: resolvePaths(home),
      provider: () =>
        createPassphraseKeyProvider({
          source: fixedPassphrase('not-the-passphrase'),
          cost: TEST_KDF_COST,
        }),
    });
    const err = (await wrong.unlock().catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('unlock_failed');
    expect(err.message).toBe(
      'could not unlock the vault: wrong passphrase or damaged key. Check the passphrase and try again.',
    );
    expect(findLeaks(await readFile(resolvePaths(home).vault), passphrase)).toEqual([]);
  });

  it('stores the KDF parameters in the header', async () => {
    const { home } = await passphraseVault('a-long-passphrase');
    const doc = await readDoc(home);
    expect(doc.key).toMatchObject({
      provider: 'passphrase',
      kdf: { alg: 'argon2id13', ops: TEST_KDF_COST.ops, mem: TEST_KDF_COST.mem },
    });
  });

  it('refuses a short passphrase for a new vault', async () => {
    const home = await tempDir();
    const provider = createPassphraseKeyProvider({
      source: fixedPassphrase('short'),
      cost: TEST_KDF_COST,
    });
    const vault = createVault({ paths: resolvePaths(home), provider: () => provider });
    const err = (await vault.create(provider).catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('usage_error');
    expect(await vault.exists()).toBe(false);
  });

  it('rekeys to a new passphrase; the old one stops working, values survive', async () => {
    const { home, vault } = await passphraseVault('old-passphrase');
    const open = await vault.unlock();
    await open.set(SEL, [{ key: 'K', value: 'kept' }]);
    const next = createPassphraseKeyProvider({
      source: fixedPassphrase('new-passphrase'),
      cost: TEST_KDF_COST,
    });
    await open.rekey(next);
    expect(await open.get(SEL, 'K')).toBe('kept');
    open.close();

    const withOld = createVault({
      paths: resolvePaths(home),
      provider: () =>
        createPassphraseKeyProvider({
          source: fixedPassphrase('old-passphrase'),
          cost: TEST_KDF_COST,
        }),
    });
    expect(((await withOld.unlock().catch((e: unknown) => e)) as AgentSecretsError).code).toBe(
      'unlock_failed',
    );
    const withNew = createVault({ paths: resolvePaths(home), provider: () => next });
    expect(await (await withNew.unlock()).get(SEL, 'K')).toBe('kept');
  });

  it('rekeys with a new data key: every record is re-encrypted', async () => {
    const { home, vault, providers } = await passphraseVault('passphrase-one');
    const open = await vault.unlock();
    await open.set(SEL, [
      { key: 'A', value: 'alpha' },
      { key: 'B', value: 'beta' },
    ]);
    const before = await readDoc(home);
    await open.rekey(providers.passphrase!, { newDataKey: true });
    const after = await readDoc(home);
    expect(after.records.map((r) => r.ciphertext)).not.toEqual(
      before.records.map((r) => r.ciphertext),
    );
    expect(after.key_check).not.toEqual(before.key_check);
    const reopened = await vault.unlock();
    expect(await reopened.get(SEL, 'A')).toBe('alpha');
    expect(await reopened.get(SEL, 'B')).toBe('beta');
  });

  it('notices when another process re-keyed the vault under it', async () => {
    const { vault, providers } = await passphraseVault('passphrase-one');
    const first = await vault.unlock();
    const second = await vault.unlock();
    await second.rekey(providers.passphrase!, { newDataKey: true });
    const err = (await first.get(SEL, 'A').catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('vault_locked');
    expect(err.message).toContain('unlock it again');
  });

  it('moves the key from memory to a passphrase and discards the old slot', async () => {
    const { home, vault, memory } = await memoryVault();
    const open = await vault.unlock();
    await open.set(SEL, [{ key: 'K', value: 'v' }]);
    const oldHeader = (await readDoc(home)).key;
    const passphrase = createPassphraseKeyProvider({
      source: fixedPassphrase('moved-passphrase'),
      cost: TEST_KDF_COST,
    });
    await open.rekey(passphrase);
    expect((await readDoc(home)).key.provider).toBe('passphrase');
    const err = (await memory.load('x', oldHeader).catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('vault_locked');
  });
});

describe('applySync (the outcome of a push or pull)', () => {
  it('marks keys synced, writes pulled values, and keeps edits made while the sync ran', async () => {
    const { vault } = await memoryVault();
    const open = await vault.unlock();
    await open.set(SEL, [
      { key: 'PUSHED', value: 'p1' },
      { key: 'EDITED_DURING_PUSH', value: 'e1' },
      { key: 'EDITED_DURING_PULL', value: 'l1' },
    ]);
    const seen = new Map((await vault.list(SEL)).map((r) => [r.key, r.version]));
    // Edits that land between the sync's read and its write.
    await open.set(SEL, [
      { key: 'EDITED_DURING_PUSH', value: 'e2' },
      { key: 'EDITED_DURING_PULL', value: 'l2' },
    ]);
    const kept = await open.applySync(SEL, [
      { key: 'PUSHED', base_version: 3, seen: seen.get('PUSHED')! },
      { key: 'EDITED_DURING_PUSH', base_version: 5, seen: seen.get('EDITED_DURING_PUSH')! },
      {
        key: 'EDITED_DURING_PULL',
        value: 'remote',
        base_version: 7,
        seen: seen.get('EDITED_DURING_PULL')!,
      },
      { key: 'NEW_FROM_REMOTE', value: 'n1', base_version: 2, seen: null },
    ]);
    expect(kept.sort(), JSON.stringify([...seen])).toEqual([
      'EDITED_DURING_PULL',
      'EDITED_DURING_PUSH',
    ]);
    const meta = new Map((await vault.list(SEL)).map((r) => [r.key, r]));
    expect(meta.get('PUSHED')).toMatchObject({ base_version: 3, changed_since_sync: false });
    // The pushed version is the base, but the newer edit is still to be pushed.
    expect(meta.get('EDITED_DURING_PUSH')).toMatchObject({
      base_version: 5,
      changed_since_sync: true,
    });
    expect(await open.get(SEL, 'EDITED_DURING_PUSH')).toBe('e2');
    // A pull does not write over an edit it did not see.
    expect(await open.get(SEL, 'EDITED_DURING_PULL')).toBe('l2');
    expect(meta.get('EDITED_DURING_PULL')).toMatchObject({ changed_since_sync: true });
    expect(await open.get(SEL, 'NEW_FROM_REMOTE')).toBe('n1');
    expect(meta.get('NEW_FROM_REMOTE')).toMatchObject({
      base_version: 2,
      changed_since_sync: false,
    });
  });
});
