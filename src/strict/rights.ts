import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { AgentSecretsError } from '../core/errors.js';
import type { RightsSeal } from '../core/rights-seal.js';
import type { AgentsFile } from '../identity/agents.js';
import type { ApprovalsFile } from '../store/approvals-file.js';
import type { VaultFile } from '../vault/format.js';
import type { WorkspacesFile } from '../workspace/model.js';

/**
 * Rights documents (issue 14): the parts of workspaces.json, agents.json and vault.json that
 * grant something (allowlist, policy, agents' tokens and rules, secret bindings and
 * allow-short) are sealed with a MAC under a key derived from the vault's data key. Each file
 * carries its seal: `rights_seal: {rights, mac}`, the sealed copy of its rights. A hand edit
 * that changes a right no longer matches the seal, and without the data key nobody can make a
 * new one. Pure functions: the key and the documents come in as values.
 */

/** The HKDF label of the rights key. */
export const RIGHTS_KEY_LABEL = 'agentsecrets/rights-mac/v1';

/** The documents that carry a seal. */
export const RIGHTS_DOCUMENTS = [
  'workspaces.json',
  'agents.json',
  'vault.json',
  'approvals.json',
] as const;
export type RightsDocument = (typeof RIGHTS_DOCUMENTS)[number];

export { parseSeal, type RightsSeal } from '../core/rights-seal.js';

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

function macOf(key: Uint8Array, doc: RightsDocument, rights: unknown): string {
  return createHmac('sha256', key)
    .update(`${doc}\n${canonicalJson(rights)}`)
    .digest('hex');
}

/** Seals `rights` for one document. */
export function seal(key: Uint8Array, doc: RightsDocument, rights: unknown): RightsSeal {
  return { rights, mac: macOf(key, doc, rights) };
}

/** True when the seal was made with `key` for `doc`. */
export function sealIsAuthentic(key: Uint8Array, doc: RightsDocument, s: RightsSeal): boolean {
  const expected = Buffer.from(macOf(key, doc, s.rights), 'hex');
  const actual = Buffer.from(s.mac, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

function byId<T extends { id: string }>(a: T, b: T): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The rights in workspaces.json: each workspace's allowlist and policy. A team workspace's come
 * from its admin-signed document, but the copy here is what the engine reads, so it is sealed
 * too, with what it was verified against: the server and account, the pinned admin keys, and
 * the document (its seq and a digest of its body and signature, which also carries the team's
 * token public key). Only a process that verified the document and holds the vault key (the
 * key holder's follower, a `pull` that unlocked the vault) re-seals it.
 */
export function workspacesRights(file: WorkspacesFile): unknown {
  return [...file.workspaces].sort(byId).map((w) => ({
    id: w.id,
    kind: w.kind,
    allowlist: w.allowlist.map((e) => e.pattern),
    policy: w.policy,
    ...(w.team === undefined
      ? {}
      : {
          team: {
            server_url: w.team.server_url,
            user_id: w.team.user_id,
            pinned: w.team.pinned,
            doc_seq: w.team.doc_seq,
            doc: createHash('sha256')
              .update(`${w.team.doc.body}\n${w.team.doc.signature}\n${w.team.doc.signer}`)
              .digest('hex'),
          },
        }),
  }));
}

/** Ids of the workspaces whose agents are sealed: every workspace, local and team. */
export function sealedWorkspaceIds(file: WorkspacesFile): Set<string> {
  return new Set(file.workspaces.map((w) => w.id));
}

/**
 * The rights in agents.json: agents (of every workspace) that hold tokens or rules (an agent
 * with neither grants nothing), with token ids, expiry and revocation, generation and rules.
 */
export function agentsRights(file: AgentsFile, sealedIds: ReadonlySet<string>): unknown {
  return file.agents
    .filter((a) => sealedIds.has(a.workspace_id) && (a.tokens.length > 0 || a.rules !== null))
    .sort(byId)
    .map((a) => ({
      id: a.id,
      name: a.name,
      workspace_id: a.workspace_id,
      generation: a.generation,
      tokens: a.tokens.map((t) => ({
        id: t.id,
        expires_at: t.expires_at,
        revoked_at: t.revoked_at,
      })),
      rules: a.rules,
    }));
}

/**
 * The rights in approvals.json: the `approve` rules and the settings. Rules only hold calls
 * back, so it is removing one (or turning asking off) that a hand edit must not do. An absent
 * file reads as the empty default, which carries no seal: deleting the file is tampering too.
 */
export function approvalsRights(file: ApprovalsFile): unknown {
  return {
    ask_unlisted: file.ask_unlisted,
    timeout_s: file.timeout_s,
    rules: [...file.rules].sort(byId),
  };
}

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

/** The error for a document whose rights do not match its seal. */
export function tamperedError(doc: RightsDocument, path: string): AgentSecretsError {
  return new AgentSecretsError(
    'state_tampered',
    `${doc} (${path}) was changed outside agentsecrets: its rights (allowlist, policy, agents, tokens, bindings or approval rules) no longer match their seal, so they are not used. Restore the file from a backup, or check it and accept it with \`agentsecrets strict reseal\` (asks for the passphrase).`,
    { context: { file: doc } },
  );
}

/** Verifies a document's seal against its current content. */
export function verifyDocument(
  key: Uint8Array,
  doc: RightsDocument,
  current:
    | { seal: RightsSeal | undefined; rights: unknown }
    | { seal: RightsSeal | undefined; vault: VaultFile },
): boolean {
  const s = current.seal;
  if (s === undefined || !sealIsAuthentic(key, doc, s)) return false;
  if ('vault' in current)
    return Array.isArray(s.rights) && vaultMatches(current.vault, s.rights as RecordRights[]);
  return canonicalJson(s.rights) === canonicalJson(current.rights);
}
