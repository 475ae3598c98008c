/**
 * The `rights_seal` field that vault.json, workspaces.json and agents.json carry (strict mode,
 * src/strict/rights.ts). Only its shape lives here, below the documents that hold it, so that
 * the vault, workspace and identity models need not import strict mode.
 */

/** A sealed copy of a document's rights. */
export interface RightsSeal {
  rights: unknown;
  mac: string;
}

/** Parses a `rights_seal` field (absent or malformed: undefined). */
export function parseSeal(raw: unknown): RightsSeal | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const s = raw as Record<string, unknown>;
  return typeof s.mac === 'string' && 'rights' in s ? { rights: s.rights, mac: s.mac } : undefined;
}
