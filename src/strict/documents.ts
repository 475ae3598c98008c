import type { Paths } from '../core/config.js';
import { type AgentsFile, createAgentStore } from '../identity/agents.js';
import {
  approvalsPath,
  type ApprovalsFile,
  createApprovalsStore,
} from '../store/approvals-file.js';
import type { UnlockedVault, Vault } from '../vault/vault.js';
import type { Workspace } from '../workspace/model.js';
import type { WorkspaceService } from '../workspace/service.js';
import {
  agentsRights,
  approvalsRights,
  sealedWorkspaceIds,
  RIGHTS_KEY_LABEL,
  type RightsDocument,
  type RightsSeal,
  seal,
  tamperedError,
  verifyDocument,
  workspacesRights,
} from './rights.js';

/** What the sealed writers need: the files, and an unlocked vault for the key. */
export interface SealDeps {
  paths: Paths;
  workspaces: WorkspaceService;
  vault: Vault;
}

/** One document's verification outcome. */
export interface DocumentCheck {
  doc: RightsDocument;
  path: string;
  ok: boolean;
}

/** The rights key of an unlocked vault. */
export function rightsKeyOf(vault: UnlockedVault): Uint8Array {
  return vault.subkey(RIGHTS_KEY_LABEL);
}

/** Verifies the four rights documents against their seals. */
export async function verifyAll(deps: SealDeps, key: Uint8Array): Promise<DocumentCheck[]> {
  const ws = await deps.workspaces.readWorkspaces();
  const agents = await createAgentStore(deps.paths).read();
  const vault = await deps.vault.read();
  const approvals = await createApprovalsStore(deps.paths).read();
  return [
    {
      doc: 'workspaces.json',
      path: deps.paths.workspaces,
      ok: verifyDocument(key, 'workspaces.json', {
        seal: ws.rights_seal,
        rights: workspacesRights(ws),
      }),
    },
    {
      doc: 'agents.json',
      path: deps.paths.agents,
      ok: verifyDocument(key, 'agents.json', {
        seal: agents.rights_seal,
        rights: agentsRights(agents, sealedWorkspaceIds(ws)),
      }),
    },
    {
      doc: 'vault.json',
      path: deps.paths.vault,
      ok: verifyDocument(key, 'vault.json', { seal: vault.rights_seal, vault }),
    },
    {
      doc: 'approvals.json',
      path: approvalsPath(deps.paths),
      ok: verifyDocument(key, 'approvals.json', {
        seal: approvals.rights_seal,
        rights: approvalsRights(approvals),
      }),
    },
  ];
}

/** Seals all four documents as they are now (strict enable, reseal: after a human's check). */
export async function sealAll(deps: SealDeps, vault: UnlockedVault): Promise<void> {
  const key = rightsKeyOf(vault);
  const ws = await deps.workspaces.updateWorkspacesFile((file) => ({
    ...file,
    rights_seal: seal(key, 'workspaces.json', workspacesRights(file)),
  }));
  const sealedIds = sealedWorkspaceIds(ws);
  await createAgentStore(deps.paths).update((file) => {
    file.rights_seal = seal(key, 'agents.json', agentsRights(file, sealedIds));
  });
  await vault.resealRights();
  await createApprovalsStore(deps.paths).update((file) => {
    file.rights_seal = seal(key, 'approvals.json', approvalsRights(file));
  });
}

/**
 * With a strict vault, refuses (`state_tampered`) a document whose content no longer matches its
 * seal, so that a write never blesses a hand edit.
 */
function requireSealed(
  vault: UnlockedVault,
  key: Uint8Array,
  doc: RightsDocument,
  path: string,
  current: { seal: RightsSeal | undefined; rights: unknown },
): void {
  if (vault.strict && !verifyDocument(key, doc, current)) throw tamperedError(doc, path);
}

/**
 * Changes approvals.json and re-seals it. With a strict vault, the current content must match
 * its seal first: a rule deleted by hand is refused, never blessed by a later write.
 */
export async function sealedApprovalsChange(
  deps: Pick<SealDeps, 'paths'>,
  vault: UnlockedVault,
  change: (file: ApprovalsFile) => void,
): Promise<ApprovalsFile> {
  const key = rightsKeyOf(vault);
  return createApprovalsStore(deps.paths).update((file) => {
    requireSealed(vault, key, 'approvals.json', approvalsPath(deps.paths), {
      seal: file.rights_seal,
      rights: approvalsRights(file),
    });
    change(file);
    file.rights_seal = seal(key, 'approvals.json', approvalsRights(file));
  });
}

/**
 * Changes a local workspace and re-seals workspaces.json. With `strict`, the current content
 * must match its seal first: a hand edit is refused, never blessed by a later write.
 */
export async function sealedWorkspaceChange(
  deps: SealDeps,
  vault: UnlockedVault,
  id: string,
  change: (w: Workspace) => void,
): Promise<void> {
  const key = rightsKeyOf(vault);
  await deps.workspaces.updateWorkspacesFile((file) => {
    requireSealed(vault, key, 'workspaces.json', deps.paths.workspaces, {
      seal: file.rights_seal,
      rights: workspacesRights(file),
    });
    const target = file.workspaces.find((w) => w.id === id);
    if (target !== undefined) change(target);
    return { ...file, rights_seal: seal(key, 'workspaces.json', workspacesRights(file)) };
  });
}

/** Changes agents.json and re-seals it (checked first in strict mode). */
export async function sealedAgentsChange(
  deps: SealDeps,
  vault: UnlockedVault,
  change: (file: AgentsFile) => void,
): Promise<void> {
  const key = rightsKeyOf(vault);
  const sealedIds = sealedWorkspaceIds(await deps.workspaces.readWorkspaces());
  await createAgentStore(deps.paths).update((file) => {
    requireSealed(vault, key, 'agents.json', deps.paths.agents, {
      seal: file.rights_seal,
      rights: agentsRights(file, sealedIds),
    });
    change(file);
    file.rights_seal = seal(key, 'agents.json', agentsRights(file, sealedIds));
  });
}

/**
 * Writes a verified team document's copy here (the workspace entry and its agents) and
 * re-seals both files with the vault's rights key. In strict mode the files must match their
 * seals first: a hand edit elsewhere in them is refused, never blessed by this write.
 */
export async function sealedTeamApply(
  deps: SealDeps,
  vault: UnlockedVault,
  change: { workspace: Workspace; agents: (file: AgentsFile) => void },
): Promise<void> {
  const key = rightsKeyOf(vault);
  const before = sealedWorkspaceIds(await deps.workspaces.readWorkspaces());
  const ws = await deps.workspaces.updateWorkspacesFile((file) => {
    requireSealed(vault, key, 'workspaces.json', deps.paths.workspaces, {
      seal: file.rights_seal,
      rights: workspacesRights(file),
    });
    const workspaces = [
      ...file.workspaces.filter((w) => w.id !== change.workspace.id),
      change.workspace,
    ];
    const next = { ...file, workspaces };
    return { ...next, rights_seal: seal(key, 'workspaces.json', workspacesRights(next)) };
  });
  const after = sealedWorkspaceIds(ws);
  await createAgentStore(deps.paths).update((file) => {
    requireSealed(vault, key, 'agents.json', deps.paths.agents, {
      seal: file.rights_seal,
      rights: agentsRights(file, before),
    });
    change.agents(file);
    file.rights_seal = seal(key, 'agents.json', agentsRights(file, after));
  });
}
