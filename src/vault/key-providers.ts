import { randomBytes } from 'node:crypto';
import { AgentSecretsError, isAgentSecretsError, UnlockFailedError } from '../core/errors.js';
import { encodeAad, WRAPPED_KEY_AAD, WRAPPED_KEY_STRICT_AAD } from '../crypto/aad.js';
import { aeadDecrypt, aeadEncrypt } from '../crypto/aead.js';
import { DEFAULT_KDF_COST, deriveKeyIsolated, newKdfParams } from '../crypto/kdf.js';
import { loadSodium } from '../crypto/sodium.js';
import type { KeyHeader, KeyProviderKind } from './format.js';
import type { Keyring } from './keyring.js';

/** Holds the vault's data key somewhere other than the vault file. */
export interface KeyProvider {
  readonly kind: KeyProviderKind;
  /** Puts a new data key in its place; returns the header that finds it again. */
  create(vaultId: string, dataKey: Uint8Array): Promise<KeyHeader>;
  /** Returns the data key the header points to. */
  load(vaultId: string, header: KeyHeader): Promise<Uint8Array>;
  /** Forgets the data key the header points to (after moving it elsewhere). */
  discard(header: KeyHeader): Promise<void>;
}

/** Where a passphrase comes from: `AGENTSECRETS_PASSPHRASE`, or a hidden terminal prompt. */
export interface PassphraseSource {
  /** The passphrase of an existing vault. */
  forUnlock(): Promise<string>;
  /** A new passphrase, confirmed by typing it twice at a terminal. */
  forCreate(): Promise<string>;
}

/** Minimum passphrase length accepted for a new vault. */
export const MIN_PASSPHRASE_LENGTH = 8;

/** An Argon2id key from a passphrase wraps the data key; the parameters live in the header. */
export function createPassphraseKeyProvider(options: {
  source: PassphraseSource;
  cost?: { ops: number; mem: number };
  /** Wrap for strict mode: the flag is bound into the wrap's associated data. */
  strict?: boolean;
}): KeyProvider {
  const cost = options.cost ?? DEFAULT_KDF_COST;
  const aad = (vaultId: string, strict = false) =>
    encodeAad(strict ? WRAPPED_KEY_STRICT_AAD : WRAPPED_KEY_AAD, [vaultId]);
  return {
    kind: 'passphrase',
    async create(vaultId, dataKey) {
      const passphrase = await options.source.forCreate();
      if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
        throw new AgentSecretsError(
          'usage_error',
          `the passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`,
        );
      }
      const sodium = await loadSodium();
      const kdf = newKdfParams(sodium, cost);
      const kek = await deriveKeyIsolated(passphrase, kdf);
      try {
        return {
          provider: 'passphrase',
          kdf,
          wrapped: aeadEncrypt(sodium, kek, dataKey, aad(vaultId, options.strict === true)),
          ...(options.strict === true ? { strict: true } : {}),
        };
      } finally {
        sodium.memzero(kek);
      }
    },
    async load(vaultId, header) {
      if (header.provider !== 'passphrase') throw wrongProvider('passphrase', header);
      const passphrase = await options.source.forUnlock();
      const sodium = await loadSodium();
      const kek = await deriveKeyIsolated(passphrase, header.kdf);
      const strict = header.strict === true;
      try {
        return aeadDecrypt(sodium, kek, header.wrapped, aad(vaultId, strict));
      } catch (cause) {
        // The right passphrase under the other flag: the strict flag was edited by hand.
        let flipped = false;
        try {
          sodium.memzero(aeadDecrypt(sodium, kek, header.wrapped, aad(vaultId, !strict)));
          flipped = true;
        } catch {
          // a wrong passphrase (or a damaged header)
        }
        if (flipped) {
          throw new AgentSecretsError(
            'state_tampered',
            `vault.json: the strict-mode flag in the key header was changed by hand (it says ${strict ? 'on' : 'off'}, the wrapped key says ${strict ? 'off' : 'on'}). Restore vault.json from a backup, or put the flag back as it was.`,
            { context: { file: 'vault.json' } },
          );
        }
        throw new UnlockFailedError({ cause });
      } finally {
        sodium.memzero(kek);
      }
    },
    async discard() {
      // The wrapped key lives in the header; replacing the header discards it.
    },
  };
}

/** Service name of the vault's entry in the OS keychain. */
export const KEYCHAIN_SERVICE = 'agentsecrets';

/** The data key lives in the OS keychain as one entry per vault. */
export function createKeychainKeyProvider(keyring: Keyring): KeyProvider {
  return {
    kind: 'keychain',
    async create(vaultId, dataKey) {
      // A fresh account per data key: a re-key writes the new entry before the vault file
      // points at it, and deletes the old one only afterwards, so a crash loses nothing.
      const account = `vault-dek:${vaultId}:${randomBytes(6).toString('hex')}`;
      await keyring.set(KEYCHAIN_SERVICE, account, Buffer.from(dataKey).toString('base64'));
      return { provider: 'keychain', service: KEYCHAIN_SERVICE, account };
    },
    async load(_vaultId, header) {
      if (header.provider !== 'keychain') throw wrongProvider('keychain', header);
      const stored = await keyring.get(header.service, header.account);
      if (stored === null) {
        throw new AgentSecretsError(
          'vault_locked',
          'the vault key is missing from the OS keychain (it was deleted, or this is another user or machine). Restore the keychain entry, or recover with your passphrase if you set one with `agentsecrets vault rekey`.',
        );
      }
      const key = Buffer.from(stored, 'base64');
      if (key.length !== 32) throw new UnlockFailedError();
      return new Uint8Array(key);
    },
    async discard(header) {
      if (header.provider !== 'keychain') return;
      await keyring.delete(header.service, header.account);
    },
  };
}

/** Keeps data keys in this process only. For tests; nothing survives the process. */
export function createMemoryKeyProvider(): KeyProvider {
  const slots = new Map<string, Uint8Array>();
  return {
    kind: 'memory',
    async create(_vaultId, dataKey) {
      const slot = randomBytes(8).toString('hex');
      slots.set(slot, new Uint8Array(dataKey));
      return { provider: 'memory', slot };
    },
    async load(_vaultId, header) {
      if (header.provider !== 'memory') throw wrongProvider('memory', header);
      const key = slots.get(header.slot);
      if (key === undefined) {
        throw new AgentSecretsError(
          'vault_locked',
          'this in-memory vault key belongs to another process',
        );
      }
      return new Uint8Array(key);
    },
    async discard(header) {
      if (header.provider === 'memory') slots.delete(header.slot);
    },
  };
}

function wrongProvider(expected: KeyProviderKind, header: KeyHeader): AgentSecretsError {
  return new AgentSecretsError(
    'internal_error',
    `the ${expected} key provider was asked to open a ${header.provider} vault`,
  );
}

/** True for errors that mean "could not get the key", as opposed to a bug. */
export function isUnlockError(err: unknown): boolean {
  return isAgentSecretsError(err, 'vault_locked', 'unlock_failed', 'keychain_unavailable');
}
