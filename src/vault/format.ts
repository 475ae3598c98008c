import type { Sealed } from '../crypto/aead.js';
import type { KdfParams } from '../crypto/kdf.js';
import { parseSeal, type RightsSeal } from '../core/rights-seal.js';
import { arr, bool, num, obj, oneOf, ShapeError, str, strArr } from '../core/validate.js';

/** The vault file format version. */
export const VAULT_FORMAT = 1;

/** Where the data key lives. */
export const KEY_PROVIDERS = ['keychain', 'passphrase', 'memory'] as const;
export type KeyProviderKind = (typeof KEY_PROVIDERS)[number];

/** How the data key is held, as recorded in the vault header. */
export type KeyHeader =
  | { provider: 'passphrase'; kdf: KdfParams; wrapped: Sealed; strict?: boolean }
  | { provider: 'keychain'; service: string; account: string }
  | { provider: 'memory'; slot: string };

/** Where a secret may be sent, and how (DESIGN §6 secret bindings). */
export interface SecretBinding {
  domains: string[];
  /** Injection styles allowed; empty means any style. */
  styles: string[];
}

/** One encrypted record. Everything but `nonce`/`ciphertext` is metadata, readable without unlock. */
export interface VaultRecord {
  id: string;
  workspace_id: string;
  project_id: string;
  environment: string;
  key: string;
  version: number;
  created_at: string;
  updated_at: string;
  nonce: string;
  ciphertext: string;
  /** The remote version this record was last synced with, or null if never synced. */
  base_version: number | null;
  changed_since_sync: boolean;
  binding: SecretBinding | null;
  /** A human allowed this short value to be injected (`secrets set --allow-short`). */
  allow_short: boolean;
  /** A public prefix the `run` placeholder keeps (e.g. `sk_live_`), set by a human. */
  placeholder_prefix?: string | null;
}

/** The whole vault.json document. */
export interface VaultFile {
  format: typeof VAULT_FORMAT;
  vault_id: string;
  created_at: string;
  key: KeyHeader;
  /** The data key encrypts a fixed check value, so a wrong key is detected before any record. */
  key_check: Sealed;
  records: VaultRecord[];
  /** Sealed copy of the rights the records carry (bindings, allow-short); see src/strict. */
  rights_seal?: RightsSeal;
}

/** Validates a parsed vault.json; throws ShapeError with the offending path. */
export function parseVaultFile(raw: unknown): VaultFile {
  const doc = obj(raw, 'vault');
  const format = num(doc.format, 'vault.format');
  if (format !== VAULT_FORMAT) {
    throw new ShapeError(
      'vault.format',
      `format ${VAULT_FORMAT} (this vault is format ${format}; upgrade agentsecrets)`,
    );
  }
  return {
    format: VAULT_FORMAT,
    vault_id: str(doc.vault_id, 'vault.vault_id'),
    created_at: str(doc.created_at, 'vault.created_at'),
    key: parseKeyHeader(doc.key),
    key_check: parseSealed(doc.key_check, 'vault.key_check'),
    records: arr(doc.records, 'vault.records').map((r, i) => parseRecord(r, `vault.records[${i}]`)),
    ...withSeal(doc.rights_seal),
  };
}

function parseKeyHeader(raw: unknown): KeyHeader {
  const key = obj(raw, 'vault.key');
  const provider = oneOf(key.provider, KEY_PROVIDERS, 'vault.key.provider');
  switch (provider) {
    case 'passphrase': {
      const kdf = obj(key.kdf, 'vault.key.kdf');
      return {
        provider,
        kdf: {
          alg: oneOf(kdf.alg, ['argon2id13'], 'vault.key.kdf.alg'),
          ops: num(kdf.ops, 'vault.key.kdf.ops'),
          mem: num(kdf.mem, 'vault.key.kdf.mem'),
          salt: str(kdf.salt, 'vault.key.kdf.salt'),
        },
        wrapped: parseSealed(key.wrapped, 'vault.key.wrapped'),
        ...(key.strict === true ? { strict: true } : {}),
      };
    }
    case 'keychain':
      return {
        provider,
        service: str(key.service, 'vault.key.service'),
        account: str(key.account, 'vault.key.account'),
      };
    case 'memory':
      return { provider, slot: str(key.slot, 'vault.key.slot') };
  }
}

function parseSealed(raw: unknown, path: string): Sealed {
  const sealed = obj(raw, path);
  return {
    nonce: str(sealed.nonce, `${path}.nonce`),
    ciphertext: str(sealed.ciphertext, `${path}.ciphertext`),
  };
}

function parseRecord(raw: unknown, path: string): VaultRecord {
  const r = obj(raw, path);
  const base = r.base_version;
  return {
    id: str(r.id, `${path}.id`),
    workspace_id: str(r.workspace_id, `${path}.workspace_id`),
    project_id: str(r.project_id, `${path}.project_id`),
    environment: str(r.environment, `${path}.environment`),
    key: str(r.key, `${path}.key`),
    version: num(r.version, `${path}.version`),
    created_at: str(r.created_at, `${path}.created_at`),
    updated_at: str(r.updated_at, `${path}.updated_at`),
    nonce: str(r.nonce, `${path}.nonce`),
    ciphertext: str(r.ciphertext, `${path}.ciphertext`),
    base_version: base === null || base === undefined ? null : num(base, `${path}.base_version`),
    changed_since_sync: bool(r.changed_since_sync, `${path}.changed_since_sync`),
    binding: parseBinding(r.binding, `${path}.binding`),
    allow_short: r.allow_short === undefined ? false : bool(r.allow_short, `${path}.allow_short`),
    ...(r.placeholder_prefix === undefined || r.placeholder_prefix === null
      ? {}
      : { placeholder_prefix: str(r.placeholder_prefix, `${path}.placeholder_prefix`) }),
  };
}

function parseBinding(raw: unknown, path: string): SecretBinding | null {
  if (raw === null || raw === undefined) return null;
  const b = obj(raw, path);
  return {
    domains: strArr(b.domains, `${path}.domains`),
    styles: strArr(b.styles ?? [], `${path}.styles`),
  };
}

/** `{rights_seal}` when the raw field is a seal, else nothing. */
export function withSeal(raw: unknown): { rights_seal?: RightsSeal } {
  const parsed = parseSeal(raw);
  return parsed === undefined ? {} : { rights_seal: parsed };
}
