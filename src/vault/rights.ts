import { canonicalJson, type RightsSeal, sealIsAuthentic } from '../core/rights-seal.js';
import type { VaultFile } from './format.js';

/**
 * The rights vault.json carries (strict mode, issue 14): each record's binding and allow-short
 * flag, sealed with the rights key (src/core/rights-seal.ts; the other documents are in
 * src/strict/rights.ts).
 */

/** One record's rights, keyed by where it lives. */
export interface RecordRights {
  where: string;
  binding: VaultFile['records'][number]['binding'];
  allow_short: boolean;
}

function recordWhere(r: {
  workspace_id: string;
  project_id: string;
  environment: string;
  key: string;
}) {
  return `${r.workspace_id}/${r.project_id}/${r.environment}/${r.key}`;
}

/** The rights in vault.json: the records that are bound or allowed short. */
export function vaultRights(file: VaultFile): RecordRights[] {
  return file.records
    .filter((r) => r.binding !== null || r.allow_short)
    .map((r) => ({ where: recordWhere(r), binding: r.binding, allow_short: r.allow_short }))
    .sort((a, b) => (a.where < b.where ? -1 : a.where > b.where ? 1 : 0));
}

/**
 * True when every record of vault.json carries exactly the sealed rights (none when the seal
 * has no entry). Records may be gone: removing a record removes its value too.
 */
export function vaultMatches(file: VaultFile, sealed: readonly RecordRights[]): boolean {
  const byWhere = new Map(sealed.map((r) => [r.where, r]));
  return file.records.every((r) => {
    const want = byWhere.get(recordWhere(r));
    return (
      canonicalJson(r.binding) === canonicalJson(want?.binding ?? null) &&
      r.allow_short === (want?.allow_short ?? false)
    );
  });
}

/** The sealed rights of a record, for serving the last verified copy. */
export function sealedRecordRights(
  sealed: readonly RecordRights[],
  r: { workspace_id: string; project_id: string; environment: string; key: string },
): { binding: RecordRights['binding']; allow_short: boolean } {
  const found = sealed.find((s) => s.where === recordWhere(r));
  return { binding: found?.binding ?? null, allow_short: found?.allow_short ?? false };
}

/** True when vault.json's seal is authentic and its records carry exactly the sealed rights. */
export function verifyVaultSeal(
  key: Uint8Array,
  s: RightsSeal | undefined,
  vault: VaultFile,
): boolean {
  if (s === undefined || !sealIsAuthentic(key, 'vault.json', s)) return false;
  return Array.isArray(s.rights) && vaultMatches(vault, s.rights as RecordRights[]);
}
