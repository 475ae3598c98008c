/**
 * The one canonical encoding of associated data, used by the vault, the sync client and the
 * sync server alike (DESIGN §4): a context label, then each field as a 4-byte big-endian
 * length followed by its UTF-8 bytes. Length prefixes make the encoding injective over text:
 * no two different lists of field texts encode to the same bytes. Numbers are encoded as
 * their decimal text, so each field position must always carry the same type (it does: the
 * label fixes the layout).
 */
export function encodeAad(label: string, fields: readonly (string | number)[]): Uint8Array {
  const parts = [label, ...fields.map(String)].map((field) => Buffer.from(field, 'utf8'));
  const out = Buffer.alloc(parts.reduce((sum, part) => sum + 4 + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.writeUInt32BE(part.length, offset);
    part.copy(out, offset + 4);
    offset += 4 + part.length;
  }
  return out;
}

/** Label of the associated data of a local vault record. */
export const VAULT_RECORD_AAD = 'agentsecrets/vault-record/v1';
/** Label of the associated data of the wrapped data key. */
export const WRAPPED_KEY_AAD = 'agentsecrets/wrapped-data-key/v1';
/** Label of the associated data of the data-key check value. */
/** The wrapped data key of a strict-mode vault: the flag is bound, so removing it breaks the unwrap. */
export const WRAPPED_KEY_STRICT_AAD = 'agentsecrets/wrapped-data-key/strict/v1';
export const KEY_CHECK_AAD = 'agentsecrets/key-check/v1';

/** Identifies one vault record; every field is bound into its associated data. */
export interface RecordAddress {
  vault_id: string;
  workspace_id: string;
  project_id: string;
  environment: string;
  key: string;
  version: number;
}

/** The associated data of a vault record: ids, never display names (DESIGN §4). */
export function vaultRecordAad(address: RecordAddress): Uint8Array {
  return encodeAad(VAULT_RECORD_AAD, [
    address.vault_id,
    address.workspace_id,
    address.project_id,
    address.environment,
    address.key,
    address.version,
  ]);
}
