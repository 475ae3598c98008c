import type { Paths } from '../core/config.js';
import type { AgentStore, AgentsFile } from '../identity/agents.js';
import { agentNotFound } from '../identity/agents.js';
import {
  approvalsPath,
  type ApprovalsFile,
  createApprovalsStore,
} from '../store/approvals-file.js';
import type { Vault } from '../vault/vault.js';
import type { WorkspacesFile } from '../workspace/model.js';
import type { WorkspaceService } from '../workspace/service.js';
import {
  agentsRights,
  approvalsRights,
  sealedWorkspaceIds,
  type RecordRights,
  type RightsDocument,
  sealedRecordRights,
  tamperedError,
  verifyDocument,
  workspacesRights,
} from './rights.js';

/**
 * The strict key holder's view of the rights documents: each read is checked against its
 * seal; a document that fails is not acted on (reported once as `state_tampered`, naming the
 * file) and the last verified copy keeps serving.
 */
export interface RightsGuard {
  /** Verifies all four documents now; throws `state_tampered` naming the first that fails. */
  checkAll(): Promise<void>;
  workspaces(): Promise<WorkspacesFile>;
  /** An agent store whose reads are the verified agents.json. */
  agentStore(): AgentStore;
  /** The verified rights of a record. */
  recordRights(r: {
    workspace_id: string;
    project_id: string;
    environment: string;
    key: string;
  }): Promise<{ binding: RecordRights['binding']; allow_short: boolean }>;
  /** The verified approvals.json (rules and settings). */
  approvals(): Promise<ApprovalsFile>;
  /** Documents that currently fail verification. */
  tampered(): Promise<RightsDocument[]>;
}

export interface RightsGuardOptions {
  paths: Paths;
  key: Uint8Array;
  workspaces: WorkspaceService;
  agents: AgentStore;
  vault: Vault;
  /** Told once per distinct edit of a document. */
  onTamper: (doc: RightsDocument, path: string) => void;
}

/** Creates the guard. */
export function createRightsGuard(options: RightsGuardOptions): RightsGuard {
  const { key, paths } = options;
  // Parsed documents are cached by the stores and stay the same object until the file
  // changes, so a verdict is remembered per object.
  const verdicts = new WeakMap<object, boolean>();
  const reported = new WeakSet<object>();
  let lastWorkspaces: WorkspacesFile | undefined;
  let lastAgents: AgentsFile | undefined;
  let lastVaultRights: RecordRights[] | undefined;
  let lastApprovals: ApprovalsFile | undefined;
  const approvalsStore = createApprovalsStore(paths);
  const approvalsFile = approvalsPath(paths);

  function judge(doc: RightsDocument, file: object, ok: () => boolean, path: string): boolean {
    let verdict = verdicts.get(file);
    if (verdict === undefined) {
      verdict = ok();
      verdicts.set(file, verdict);
    }
    if (!verdict && !reported.has(file)) {
      reported.add(file);
      options.onTamper(doc, path);
    }
    return verdict;
  }

  async function workspaces(): Promise<WorkspacesFile> {
    const current = await options.workspaces.readWorkspaces();
    const ok = judge(
      'workspaces.json',
      current,
      () =>
        verifyDocument(key, 'workspaces.json', {
          seal: current.rights_seal,
          rights: workspacesRights(current),
        }),
      paths.workspaces,
    );
    if (ok) lastWorkspaces = current;
    if (lastWorkspaces === undefined) throw tamperedError('workspaces.json', paths.workspaces);
    return lastWorkspaces;
  }

  async function agents(): Promise<AgentsFile> {
    const sealedIds = sealedWorkspaceIds(await workspaces());
    const current = await options.agents.read();
    const ok = judge(
      'agents.json',
      current,
      () =>
        verifyDocument(key, 'agents.json', {
          seal: current.rights_seal,
          rights: agentsRights(current, sealedIds),
        }),
      paths.agents,
    );
    if (ok) lastAgents = current;
    if (lastAgents === undefined) throw tamperedError('agents.json', paths.agents);
    return lastAgents;
  }

  async function vaultRights(): Promise<RecordRights[]> {
    const current = await options.vault.read();
    const ok = judge(
      'vault.json',
      current,
      () => verifyDocument(key, 'vault.json', { seal: current.rights_seal, vault: current }),
      paths.vault,
    );
    if (ok) lastVaultRights = (current.rights_seal?.rights as RecordRights[] | undefined) ?? [];
    if (lastVaultRights === undefined) throw tamperedError('vault.json', paths.vault);
    return lastVaultRights;
  }

  async function approvals(): Promise<ApprovalsFile> {
    const current = await approvalsStore.read();
    const ok = judge(
      'approvals.json',
      current,
      () =>
        verifyDocument(key, 'approvals.json', {
          seal: current.rights_seal,
          rights: approvalsRights(current),
        }),
      approvalsFile,
    );
    if (ok) lastApprovals = current;
    if (lastApprovals === undefined) throw tamperedError('approvals.json', approvalsFile);
    return lastApprovals;
  }

  const agentStore: AgentStore = {
    read: agents,
    update: (fn) => options.agents.update(fn),
    async get(workspaceId, name) {
      const agent = (await agents()).agents.find(
        (a) => a.workspace_id === workspaceId && a.name === name,
      );
      if (agent === undefined) throw agentNotFound(name);
      return agent;
    },
  };

  return {
    async checkAll() {
      await workspaces();
      await agents();
      await vaultRights();
      await approvals();
      const bad = await this.tampered();
      if (bad.length > 0) {
        const doc = bad[0]!;
        throw tamperedError(
          doc,
          doc === 'workspaces.json'
            ? paths.workspaces
            : doc === 'agents.json'
              ? paths.agents
              : doc === 'vault.json'
                ? paths.vault
                : approvalsFile,
        );
      }
    },
    workspaces,
    agentStore: () => agentStore,
    approvals,
    async recordRights(r) {
      return sealedRecordRights(await vaultRights(), r);
    },
    async tampered() {
      const ws = await options.workspaces.readWorkspaces();
      const ag = await options.agents.read();
      const vf = await options.vault.read();
      const bad: RightsDocument[] = [];
      if (
        !verifyDocument(key, 'workspaces.json', {
          seal: ws.rights_seal,
          rights: workspacesRights(ws),
        })
      )
        bad.push('workspaces.json');
      if (
        !verifyDocument(key, 'agents.json', {
          seal: ag.rights_seal,
          rights: agentsRights(ag, sealedWorkspaceIds(lastWorkspaces ?? ws)),
        })
      )
        bad.push('agents.json');
      if (!verifyDocument(key, 'vault.json', { seal: vf.rights_seal, vault: vf }))
        bad.push('vault.json');
      const ap = await approvalsStore.read();
      if (
        !verifyDocument(key, 'approvals.json', {
          seal: ap.rights_seal,
          rights: approvalsRights(ap),
        })
      )
        bad.push('approvals.json');
      return bad;
    },
  };
}
