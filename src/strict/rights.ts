import { createHash } from 'node:crypto';
import { canonicalJson, type RightsSeal, sealIsAuthentic } from '../core/rights-seal.js';
import { verifyVaultSeal } from '../vault/rights.js';
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

export {
  canonicalJson,
  parseSeal,
  RIGHTS_KEY_LABEL,
  type RightsSeal,
  seal,
  sealIsAuthentic,
  tamperedError,
} from '../core/rights-seal.js';
export {
  type RecordRights,
  sealedRecordRights,
  vaultMatches,
  vaultRights,
  verifyVaultSeal,
} from '../vault/rights.js';

/** The documents that carry a seal. */
export const RIGHTS_DOCUMENTS = [
  'workspaces.json',
  'agents.json',
  'vault.json',
  'approvals.json',
] as const;
export type RightsDocument = (typeof RIGHTS_DOCUMENTS)[number];

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

/** Verifies a document's seal against its current content. */
export function verifyDocument(
  key: Uint8Array,
  doc: RightsDocument,
  current:
    | { seal: RightsSeal | undefined; rights: unknown }
    | { seal: RightsSeal | undefined; vault: VaultFile },
): boolean {
  const s = current.seal;
  if ('vault' in current) return verifyVaultSeal(key, s, current.vault);
  if (s === undefined || !sealIsAuthentic(key, doc, s)) return false;
  return canonicalJson(s.rights) === canonicalJson(current.rights);
}
