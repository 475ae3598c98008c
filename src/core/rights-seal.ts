/**
 * The `rights_seal` field that the rights documents carry (strict mode, src/strict/rights.ts),
 * and the MAC that makes one. Only the shape and the primitives live here, below the documents
 * that hold them, so that the vault, workspace and identity models need not import strict mode.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { AgentSecretsError } from './errors.js';

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

/** The HKDF label of the rights key. */
export const RIGHTS_KEY_LABEL = 'agentsecrets/rights-mac/v1';

/** JSON with sorted object keys: the bytes a MAC covers. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function macOf(key: Uint8Array, doc: string, rights: unknown): string {
  return createHmac('sha256', key)
    .update(`${doc}\n${canonicalJson(rights)}`)
    .digest('hex');
}

/** Seals `rights` for one document. */
export function seal(key: Uint8Array, doc: string, rights: unknown): RightsSeal {
  return { rights, mac: macOf(key, doc, rights) };
}

/** True when the seal was made with `key` for `doc`. */
export function sealIsAuthentic(key: Uint8Array, doc: string, s: RightsSeal): boolean {
  const expected = Buffer.from(macOf(key, doc, s.rights), 'hex');
  const actual = Buffer.from(s.mac, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** The error for a document whose rights do not match its seal. */
export function tamperedError(doc: string, path: string): AgentSecretsError {
  return new AgentSecretsError(
    'state_tampered',
    `${doc} (${path}) was changed outside agentsecrets: its rights (allowlist, policy, agents, tokens, bindings or approval rules) no longer match their seal, so they are not used. Restore the file from a backup, or check it and accept it with \`agentsecrets strict reseal\` (asks for the passphrase).`,
    { context: { file: doc } },
  );
}
