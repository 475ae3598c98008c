import { hkdfSync, randomBytes } from 'node:crypto';
import { RIGHTS_KEY_LABEL, seal, tamperedError } from '../core/rights-seal.js';
import { vaultRights, verifyVaultSeal } from './rights.js';
import type { Paths } from '../core/config.js';
import { AgentSecretsError, UnlockFailedError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import { assertKeyName } from '../core/keys.js';
import { encodeAad, KEY_CHECK_AAD, vaultRecordAad } from '../crypto/aad.js';
import { aeadDecrypt, aeadEncrypt } from '../crypto/aead.js';
import { loadSodium, type Sodium } from '../crypto/sodium.js';
import { createDocumentStore, type DocumentStore } from '../store/document.js';
import {
  type KeyProviderKind,
  parseVaultFile,
  type SecretBinding,
  VAULT_FORMAT,
  type VaultFile,
  type VaultRecord,
} from './format.js';
import type { KeyProvider } from './key-providers.js';

/** Which workspace, project and environment a record belongs to. */
export interface Selection {
  workspace_id: string;
  project_id: string;
  environment: string;
}

/** A record without its ciphertext: everything `list` may show. */
export type RecordMeta = Omit<VaultRecord, 'nonce' | 'ciphertext'> & {
  /** The value's length in UTF-8 bytes (public anyway: the ciphertext has it, plus 16). */
  value_bytes: number;
};

/** What a write did to one key. */
export interface SetResult {
  key: string;
  action: 'created' | 'updated';
  version: number;
}

/** Reserved names (for our own keys) start with `@`, which the key grammar never allows. */
export const RESERVED_PREFIX = '@';
/** Reserved records are scoped to a workspace, not a project or environment. */
const RESERVED_SCOPE = '*';

export interface VaultDeps {
  paths: Paths;
  /** The provider that can open a vault whose header names `kind`. */
  provider: (kind: KeyProviderKind) => KeyProvider;
  now?: () => Date;
}

/** The vault: metadata without unlock, values only after unlock. */
export interface Vault {
  exists(): Promise<boolean>;
  /** The vault document; `not_initialized` if there is none. */
  read(): Promise<VaultFile>;
  /** Creates a new, empty vault whose data key is held by `provider`. */
  create(provider: KeyProvider): Promise<VaultFile>;
  /** Record metadata for a selection (or all), never values. Reserved records are hidden. */
  list(selection?: Partial<Selection>): Promise<RecordMeta[]>;
  /** Metadata of the named keys in a selection (absent keys are absent): the per-call look-up. */
  lookup(selection: Selection, keys: readonly string[]): Promise<Map<string, RecordMeta>>;
  /** Obtains the data key from the vault's key provider. */
  unlock(): Promise<UnlockedVault>;
  /** Deletes every record matching `selection` (ciphertext only; no unlock). Returns the count. */
  purge(selection: Partial<Selection>): Promise<number>;
}

/** Every value of the vault at one moment; the same object until the vault changes. */
export interface ScopeSnapshot {
  values: readonly { value: string; allowShort: boolean }[];
}

/** A vault whose data key is in memory. Every operation re-reads the file. */
export interface UnlockedVault {
  readonly vaultId: string;
  readonly provider: KeyProviderKind;
  /** Strict mode, as authenticated by the unwrap of the data key (not just the header's word). */
  readonly strict: boolean;
  /** A 32-byte key derived from the data key for one purpose (HKDF-SHA256, labelled). */
  subkey(label: string): Uint8Array;
  get(selection: Selection, key: string): Promise<string>;
  /** Values of `keys` (or every key) in a selection. Missing keys are absent from the map. */
  getMany(selection: Selection, keys?: readonly string[]): Promise<Map<string, string>>;
  set(
    selection: Selection,
    entries: readonly { key: string; value: string }[],
  ): Promise<SetResult[]>;
  /** Deletes a key; `not_found` when it is absent. */
  delete(selection: Selection, key: string): Promise<void>;
  setBinding(selection: Selection, key: string, binding: SecretBinding | null): Promise<void>;
  /** Allows (or no longer allows) a short value to be injected. */
  setAllowShort(selection: Selection, key: string, allow: boolean): Promise<void>;
  /**
   * Every value this vault holds, reserved ones included, for scrubbing output. The snapshot
   * object stays the same until the vault file changes, so callers can cache on it.
   */
  scope(): Promise<ScopeSnapshot>;
  /** The public prefix a `run` placeholder keeps (issue 13); null removes it. */
  setPlaceholderPrefix(selection: Selection, key: string, prefix: string | null): Promise<void>;
  getReserved(workspaceId: string, name: string): Promise<string | undefined>;
  setReserved(workspaceId: string, name: string, value: string): Promise<void>;
  deleteReserved(workspaceId: string, name: string): Promise<void>;
  /**
   * Records the outcome of a sync in one write: a pulled key gets its value; every listed key
   * gets `base_version` (the remote version it now matches) and `changed_since_sync: false`.
   * With `seen` (the record's local `version` when the sync read it, null if it was absent), a
   * record changed meanwhile keeps its local value and stays marked as changed: a pulled value
   * is not written over it, a pushed one only moves its base. Returns the keys so kept.
   */
  applySync(
    selection: Selection,
    updates: readonly {
      key: string;
      value?: string;
      base_version: number;
      seen?: number | null;
    }[],
  ): Promise<string[]>;
  /** Moves the data key to another provider; with `newDataKey`, re-encrypts every record too. */
  rekey(to: KeyProvider, options?: { newDataKey?: boolean }): Promise<void>;
  /** Seals the records' rights as they are now, without checking the old seal (strict enable). */
  resealRights(): Promise<void>;
  /** Wipes the data key from memory. */
  close(): void;
}

/** Creates the vault service over `vault.json`. */
export function createVault(deps: VaultDeps): Vault {
  const now = deps.now ?? (() => new Date());
  const store: DocumentStore<VaultFile> = createDocumentStore({
    path: deps.paths.vault,
    parse: parseVaultFile,
    cache: true,
  });

  async function read(): Promise<VaultFile> {
    const doc = await store.read();
    if (doc === undefined) throw notInitialized();
    return doc;
  }

  async function create(provider: KeyProvider): Promise<VaultFile> {
    const sodium = await loadSodium();
    const vaultId = randomId('vlt');
    const dataKey = new Uint8Array(randomBytes(32));
    try {
      const key = await provider.create(vaultId, dataKey);
      return await store.update((current) => {
        if (current !== undefined) {
          throw new AgentSecretsError(
            'already_initialized',
            `a vault already exists at ${deps.paths.vault}`,
          );
        }
        return {
          format: VAULT_FORMAT,
          vault_id: vaultId,
          created_at: now().toISOString(),
          key,
          key_check: aeadEncrypt(sodium, dataKey, keyCheckPlaintext(vaultId), keyCheckAad(vaultId)),
          records: [],
        };
      });
    } finally {
      sodium.memzero(dataKey);
    }
  }

  async function list(selection: Partial<Selection> = {}): Promise<RecordMeta[]> {
    const doc = await read();
    return doc.records
      .filter((r) => !r.key.startsWith(RESERVED_PREFIX) && matches(r, selection))
      .map(({ nonce: _n, ciphertext, ...meta }) => ({
        ...meta,
        value_bytes: sealedLength(ciphertext),
      }));
  }

  /** Plaintext length of a sealed value: base64 bytes less the 16-byte authentication tag. */
  function sealedLength(ciphertext: string): number {
    const padding = ciphertext.endsWith('==') ? 2 : ciphertext.endsWith('=') ? 1 : 0;
    return Math.max(0, Math.floor((ciphertext.length * 3) / 4) - padding - 16);
  }

  async function lookup(
    selection: Selection,
    keys: readonly string[],
  ): Promise<Map<string, RecordMeta>> {
    const doc = await read();
    const index = indexOf(doc);
    const found = new Map<string, RecordMeta>();
    for (const key of keys) {
      const r = index.get(recordKey(selection, key));
      if (r === undefined || r.key.startsWith(RESERVED_PREFIX)) continue;
      let meta = metas.get(r);
      if (meta === undefined) {
        const { nonce: _n, ciphertext, ...rest } = r;
        meta = { ...rest, value_bytes: sealedLength(ciphertext) };
        metas.set(r, meta);
      }
      found.set(r.key, meta);
    }
    return found;
  }

  async function unlock(): Promise<UnlockedVault> {
    const doc = await read();
    const provider = deps.provider(doc.key.provider);
    const dataKey = await provider.load(doc.vault_id, doc.key);
    const sodium = await loadSodium();
    try {
      aeadDecrypt(sodium, dataKey, doc.key_check, keyCheckAad(doc.vault_id));
    } catch (cause) {
      sodium.memzero(dataKey);
      throw new UnlockFailedError({ cause });
    }
    return openVault({
      sodium,
      store,
      dataKey,
      keyCheck: doc.key_check,
      doc,
      now,
      read,
      providerFor: deps.provider,
    });
  }

  return {
    async exists() {
      return (await store.read()) !== undefined;
    },
    read,
    create,
    list,
    lookup,
    unlock,
    async purge(selection) {
      let removed = 0;
      await store.update((doc) => {
        if (doc === undefined) throw notInitialized();
        const kept = doc.records.filter(
          (r) => r.key.startsWith(RESERVED_PREFIX) || !matches(r, selection),
        );
        removed = doc.records.length - kept.length;
        return { ...doc, records: kept };
      });
      return removed;
    },
  };
}

interface OpenState {
  sodium: Sodium;
  store: DocumentStore<VaultFile>;
  dataKey: Uint8Array;
  keyCheck: VaultFile['key_check'];
  doc: VaultFile;
  now: () => Date;
  read: () => Promise<VaultFile>;
  providerFor: (kind: KeyProviderKind) => KeyProvider;
}

function openVault(state: OpenState): UnlockedVault {
  const { sodium, store, now } = state;
  const vaultId = state.doc.vault_id;
  let dataKey = state.dataKey;
  let keyCheck = state.keyCheck;
  let closed = false;
  // The store hands out the same document object until the file changes.
  const snapshots = new WeakMap<VaultFile, ScopeSnapshot>();

  /** Every read checks that the key we hold is still the vault's key. */
  function assertSameKey(doc: VaultFile): void {
    if (closed)
      throw new AgentSecretsError('vault_locked', 'the vault was closed; unlock it again');
    if (doc.vault_id !== vaultId || doc.key_check.ciphertext !== keyCheck.ciphertext) {
      throw new AgentSecretsError(
        'vault_locked',
        'the vault was re-keyed or replaced since it was unlocked; unlock it again (restart a running proxy)',
      );
    }
  }

  async function current(): Promise<VaultFile> {
    const doc = await state.read();
    assertSameKey(doc);
    return doc;
  }

  // Values already opened, per record object (the store hands out the same objects until the
  // file changes): a key holder decrypts each value once, not on every call. They are in
  // memory anyway, in the scope snapshot the scrubber is compiled from.
  let opened = new WeakMap<VaultRecord, string>();
  function decryptCached(record: VaultRecord): string {
    let value = opened.get(record);
    if (value === undefined) {
      value = decrypt(record);
      opened.set(record, value);
    }
    return value;
  }

  function decrypt(record: VaultRecord): string {
    const plain = aeadDecrypt(
      sodium,
      dataKey,
      { nonce: record.nonce, ciphertext: record.ciphertext },
      vaultRecordAad({ vault_id: vaultId, ...record }),
    );
    return Buffer.from(plain).toString('utf8');
  }

  function encrypt(record: Omit<VaultRecord, 'nonce' | 'ciphertext'>, value: string) {
    return aeadEncrypt(
      sodium,
      dataKey,
      Buffer.from(value, 'utf8'),
      vaultRecordAad({ vault_id: vaultId, ...record }),
    );
  }

  function subkey(label: string, key: Uint8Array = dataKey): Uint8Array {
    return new Uint8Array(hkdfSync('sha256', key, Buffer.from(vaultId), Buffer.from(label), 32));
  }

  /**
   * Every write re-seals the records' rights (bindings, allow-short). In strict mode it first
   * checks the seal, so a hand-edited binding is never blessed by a later legitimate write.
   */
  async function mutate(
    fn: (doc: VaultFile) => VaultFile | Promise<VaultFile>,
    sealKey: () => Uint8Array = () => dataKey,
  ): Promise<void> {
    await store.update(async (doc) => {
      if (doc === undefined) throw notInitialized();
      assertSameKey(doc);
      const rightsKey = subkey(RIGHTS_KEY_LABEL);
      if (
        state.doc.key.provider === 'passphrase' &&
        state.doc.key.strict === true &&
        !verifyVaultSeal(rightsKey, doc.rights_seal, doc)
      ) {
        throw tamperedError('vault.json', store.path);
      }
      const next = await fn(doc);
      return {
        ...next,
        rights_seal: seal(subkey(RIGHTS_KEY_LABEL, sealKey()), 'vault.json', vaultRights(next)),
      };
    });
  }

  function upsert(
    doc: VaultFile,
    selection: Selection,
    key: string,
    value: string,
    stamp: string,
  ): SetResult {
    const index = doc.records.findIndex((r) => r.key === key && matches(r, selection));
    const previous = index === -1 ? undefined : doc.records[index];
    const meta = {
      id: previous?.id ?? randomId('rec'),
      ...selection,
      key,
      version: (previous?.version ?? 0) + 1,
      created_at: previous?.created_at ?? stamp,
      updated_at: stamp,
      base_version: previous?.base_version ?? null,
      changed_since_sync: true,
      binding: previous?.binding ?? null,
      allow_short: previous?.allow_short ?? false,
    };
    const record: VaultRecord = {
      ...meta,
      ...encrypt(meta, value),
      ...(previous?.placeholder_prefix == null
        ? {}
        : { placeholder_prefix: previous.placeholder_prefix }),
    };
    if (previous === undefined) doc.records.push(record);
    else doc.records[index] = record;
    return { key, action: previous === undefined ? 'created' : 'updated', version: record.version };
  }

  return {
    vaultId,
    get provider() {
      return state.doc.key.provider;
    },
    get strict() {
      // load() succeeded, so the header's flag matches the one bound into the wrapped key.
      return state.doc.key.provider === 'passphrase' && state.doc.key.strict === true;
    },
    subkey: (label) => subkey(label),
    async get(selection, key) {
      const doc = await current();
      const record = doc.records.find((r) => r.key === key && matches(r, selection));
      if (record === undefined) throw secretNotFound(key);
      return decrypt(record);
    },
    async getMany(selection, keys) {
      const doc = await current();
      const values = new Map<string, string>();
      if (keys !== undefined) {
        // The per-call path (the engine names its keys): an index look-up per key.
        const index = indexOf(doc);
        for (const key of keys) {
          const record = index.get(recordKey(selection, key));
          if (record === undefined || record.key.startsWith(RESERVED_PREFIX)) continue;
          values.set(record.key, decryptCached(record));
        }
        return values;
      }
      for (const record of doc.records) {
        if (record.key.startsWith(RESERVED_PREFIX) || !matches(record, selection)) continue;
        values.set(record.key, decryptCached(record));
      }
      return values;
    },
    async set(selection, entries) {
      for (const { key } of entries) assertKeyName(key);
      let results: SetResult[] = [];
      await mutate((doc) => {
        const stamp = now().toISOString();
        results = entries.map(({ key, value }) => upsert(doc, selection, key, value, stamp));
        return doc;
      });
      return results;
    },
    async delete(selection, key) {
      await mutate((doc) => {
        const index = doc.records.findIndex((r) => r.key === key && matches(r, selection));
        if (index === -1 || key.startsWith(RESERVED_PREFIX)) throw secretNotFound(key);
        doc.records.splice(index, 1);
        return doc;
      });
    },
    async setBinding(selection, key, binding) {
      await mutate((doc) => {
        const record = doc.records.find((r) => r.key === key && matches(r, selection));
        if (record === undefined || key.startsWith(RESERVED_PREFIX)) throw secretNotFound(key);
        record.binding = binding;
        return doc;
      });
    },
    async setAllowShort(selection, key, allow) {
      await mutate((doc) => {
        const record = doc.records.find((r) => r.key === key && matches(r, selection));
        if (record === undefined || key.startsWith(RESERVED_PREFIX)) throw secretNotFound(key);
        record.allow_short = allow;
        return doc;
      });
    },
    async scope() {
      const doc = await current();
      let snapshot = snapshots.get(doc);
      if (snapshot === undefined) {
        snapshot = {
          values: doc.records.map((r) => ({
            value: decryptCached(r),
            allowShort: r.allow_short,
          })),
        };
        snapshots.set(doc, snapshot);
      }
      return snapshot;
    },
    async setPlaceholderPrefix(selection, key, prefix) {
      await mutate((doc) => {
        const record = doc.records.find((r) => r.key === key && matches(r, selection));
        if (record === undefined || key.startsWith(RESERVED_PREFIX)) throw secretNotFound(key);
        if (prefix === null) delete record.placeholder_prefix;
        else record.placeholder_prefix = prefix;
        return doc;
      });
    },
    async getReserved(workspaceId, name) {
      const doc = await current();
      const record = doc.records.find(
        (r) => r.key === reserved(name) && isReservedFor(r, workspaceId),
      );
      return record === undefined ? undefined : decrypt(record);
    },
    async setReserved(workspaceId, name, value) {
      const selection = {
        workspace_id: workspaceId,
        project_id: RESERVED_SCOPE,
        environment: RESERVED_SCOPE,
      };
      await mutate((doc) => {
        upsert(doc, selection, reserved(name), value, now().toISOString());
        return doc;
      });
    },
    async deleteReserved(workspaceId, name) {
      await mutate((doc) => {
        doc.records = doc.records.filter(
          (r) => !(r.key === reserved(name) && isReservedFor(r, workspaceId)),
        );
        return doc;
      });
    },
    async applySync(selection, updates) {
      for (const { key } of updates) assertKeyName(key);
      const kept: string[] = [];
      await mutate((doc) => {
        const stamp = now().toISOString();
        for (const update of updates) {
          const find = () => doc.records.find((r) => r.key === update.key && matches(r, selection));
          const before = find();
          const moved = update.seen !== undefined && (before?.version ?? null) !== update.seen;
          if (moved) {
            kept.push(update.key);
            // Edited while the sync ran: keep the edit, still pending a push.
            if (update.value === undefined && before !== undefined)
              before.base_version = update.base_version;
            continue;
          }
          if (update.value !== undefined) upsert(doc, selection, update.key, update.value, stamp);
          const record = find();
          if (record === undefined) continue;
          record.base_version = update.base_version;
          record.changed_since_sync = false;
        }
        return doc;
      });
      return kept;
    },
    async rekey(to, options = {}) {
      const doc = await current();
      const nextKey = options.newDataKey
        ? new Uint8Array(randomBytes(32))
        : new Uint8Array(dataKey);
      const header = await to.create(vaultId, nextKey);
      const nextCheck = aeadEncrypt(
        sodium,
        nextKey,
        keyCheckPlaintext(vaultId),
        keyCheckAad(vaultId),
      );
      await mutate(
        (latest) => {
          const records = latest.records.map((record) => {
            if (!options.newDataKey) return record;
            const { nonce: _n, ciphertext: _c, ...meta } = record;
            const value = decrypt(record);
            const sealed = aeadEncrypt(
              sodium,
              nextKey,
              Buffer.from(value, 'utf8'),
              vaultRecordAad({ vault_id: vaultId, ...meta }),
            );
            return { ...meta, ...sealed };
          });
          return { ...latest, key: header, key_check: nextCheck, records };
        },
        () => nextKey,
      );
      // Forget the old key only after the new header is safely on disk.
      await state
        .providerFor(doc.key.provider)
        .discard(doc.key)
        .catch(() => undefined);
      sodium.memzero(dataKey);
      dataKey = nextKey;
      keyCheck = nextCheck;
      state.doc = { ...doc, key: header };
    },
    async resealRights() {
      await store.update((doc) => {
        if (doc === undefined) throw notInitialized();
        assertSameKey(doc);
        return {
          ...doc,
          rights_seal: seal(subkey(RIGHTS_KEY_LABEL), 'vault.json', vaultRights(doc)),
        };
      });
    },
    close() {
      if (!closed) sodium.memzero(dataKey);
      opened = new WeakMap();
      closed = true;
    },
  };
}

// Metadata of a record, per (cached, immutable) record object. Callers must not mutate it.
const metas = new WeakMap<VaultRecord, RecordMeta>();

// Records by selection and key, per (cached, immutable) vault document.
const indexes = new WeakMap<VaultFile, Map<string, VaultRecord>>();
function indexOf(doc: VaultFile): Map<string, VaultRecord> {
  let index = indexes.get(doc);
  if (index === undefined) {
    index = new Map();
    for (const r of doc.records) {
      const k = recordKey(r, r.key);
      // The last match wins, as the scan in file order did.
      index.set(k, r);
    }
    indexes.set(doc, index);
  }
  return index;
}

function recordKey(selection: Selection, key: string): string {
  return `${selection.workspace_id}\n${selection.project_id}\n${selection.environment}\n${key}`;
}

function matches(record: VaultRecord, selection: Partial<Selection>): boolean {
  return (
    (selection.workspace_id === undefined || record.workspace_id === selection.workspace_id) &&
    (selection.project_id === undefined || record.project_id === selection.project_id) &&
    (selection.environment === undefined || record.environment === selection.environment)
  );
}

function reserved(name: string): string {
  return name.startsWith(RESERVED_PREFIX) ? name : `${RESERVED_PREFIX}${name}`;
}

function isReservedFor(record: VaultRecord, workspaceId: string): boolean {
  return (
    record.workspace_id === workspaceId &&
    record.project_id === RESERVED_SCOPE &&
    record.environment === RESERVED_SCOPE
  );
}

function keyCheckAad(vaultId: string): Uint8Array {
  return encodeAad(KEY_CHECK_AAD, [vaultId]);
}

function keyCheckPlaintext(vaultId: string): Uint8Array {
  return Buffer.from(`agentsecrets key check ${vaultId}`, 'utf8');
}

function notInitialized(): AgentSecretsError {
  return new AgentSecretsError('not_initialized', 'no vault yet: run `agentsecrets init` first');
}

/** `secret 'KEY' not found`: the text the AgentSecrets Python SDK looks for (DESIGN §7). */
export function secretNotFound(key: string): AgentSecretsError {
  return new AgentSecretsError(
    'secret_not_found',
    `secret '${key}' not found; add it with \`agentsecrets secrets set ${key}\``,
    { context: { secret: key } },
  );
}
