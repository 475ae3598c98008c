import type { Config } from '../core/config.js';
import { AgentSecretsError } from '../core/errors.js';
import type { KeyProviderKind } from '../vault/format.js';
import {
  createKeychainKeyProvider,
  createMemoryKeyProvider,
  createPassphraseKeyProvider,
  type KeyProvider,
  type PassphraseSource,
} from '../vault/key-providers.js';
import { createOsKeyring, type Keyring } from '../vault/keyring.js';
import { createVault, type Vault } from '../vault/vault.js';
import { createWorkspaceService, type WorkspaceService } from '../workspace/service.js';

/** Everything a face (CLI, proxy, MCP server, SDK host) needs, wired once. */
export interface Services {
  readonly config: Config;
  readonly workspaces: WorkspaceService;
  readonly vault: Vault;
  readonly keyring: Keyring;
  /**
   * The key provider of a kind. `target` selects the passphrase source for a new key
   * (`vault rekey`), which differs from the one that unlocks the current vault.
   */
  keyProvider(
    kind: KeyProviderKind,
    target?: 'current' | 'new',
    options?: { strict?: boolean },
  ): KeyProvider;
}

/** Options that replace the defaults (tests, the demo, and the CLI's prompts). */
export interface ServiceOptions {
  passphrase?: PassphraseSource;
  newPassphrase?: PassphraseSource;
  keyring?: Keyring;
  /** Shared by every vault of this process that uses the `memory` provider. */
  memoryKeys?: KeyProvider;
  /** Argon2id cost for new passphrase keys (tests may lower it explicitly). */
  kdfCost?: { ops: number; mem: number };
  now?: () => Date;
}

/** The composition root: builds the services for one process. */
export function createServices(config: Config, options: ServiceOptions = {}): Services {
  const keyring = options.keyring ?? createOsKeyring();
  const memoryKeys = options.memoryKeys ?? createMemoryKeyProvider();
  const missingPassphrase: PassphraseSource = {
    forUnlock: () => Promise.reject(noPassphrase()),
    forCreate: () => Promise.reject(noPassphrase()),
  };

  function keyProvider(
    kind: KeyProviderKind,
    target: 'current' | 'new' = 'current',
    extra: { strict?: boolean } = {},
  ): KeyProvider {
    switch (kind) {
      case 'keychain':
        return createKeychainKeyProvider(keyring);
      case 'passphrase': {
        const source =
          target === 'new'
            ? (options.newPassphrase ?? options.passphrase ?? missingPassphrase)
            : (options.passphrase ?? missingPassphrase);
        return createPassphraseKeyProvider({
          source,
          ...(extra.strict === true ? { strict: true } : {}),
          ...(options.kdfCost === undefined ? {} : { cost: options.kdfCost }),
        });
      }
      case 'memory':
        return memoryKeys;
    }
  }

  const vault = createVault({
    paths: config.paths,
    provider: (kind) => keyProvider(kind),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const workspaces = createWorkspaceService({
    config,
    ...(options.now === undefined ? {} : { now: options.now }),
  });

  return { config, workspaces, vault, keyring, keyProvider };
}

function noPassphrase(): AgentSecretsError {
  return new AgentSecretsError(
    'vault_locked',
    'the vault is locked and no passphrase source is configured: set AGENTSECRETS_PASSPHRASE',
  );
}
