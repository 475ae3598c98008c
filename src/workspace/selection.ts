import type { Environment } from '../core/config.js';
import type { Selection } from '../vault/vault.js';
import type { Project, ProjectBinding, Workspace } from './model.js';

/**
 * The one selection idea, in its three shapes:
 * - `Target`: the ids a call uses (the engine's and the run host's form);
 * - `ResolvedTarget`: a `Target` plus the names people read (MCP results, status);
 * - `ResolvedSelection`: the whole resolution, with the objects, where each part came from and
 *   the vault's storage key (`selection`, snake_case as stored in vault.json).
 * `WorkspaceService.resolve()` is the one place that makes them.
 */

/** Which workspace, project and environment a call uses (ids). */
export interface Target {
  workspaceId: string;
  projectId: string;
  environment: string;
}

/** A target with the names of its workspace and project, for people. */
export interface ResolvedTarget extends Target {
  workspaceName: string;
  projectName: string;
}

/** Where each part of the current selection came from. */
export interface SelectionSources {
  project: 'flag' | 'binding' | 'global';
  environment: 'flag' | 'AGENTSECRETS_ENV' | 'binding' | 'global' | 'default';
}

/** The workspace, project and environment a command acts on. */
export interface ResolvedSelection {
  workspace: Workspace;
  project: Project;
  environment: Environment;
  /** The vault's key for this selection. */
  selection: Selection;
  /** The same selection as ids and names. */
  target: ResolvedTarget;
  sources: SelectionSources;
  /** The folder binding in effect, if any. */
  binding: { path: string; binding: ProjectBinding } | undefined;
}

/** Overrides given on the command line or in a tool call. */
export interface SelectionFlags {
  project?: string | undefined;
  environment?: string | undefined;
}

/** The ids and names of a workspace, project and environment. */
export function targetOf(
  workspace: Workspace,
  project: Project,
  environment: string,
): ResolvedTarget {
  return {
    workspaceId: workspace.id,
    projectId: project.id,
    environment,
    workspaceName: workspace.name,
    projectName: project.name,
  };
}

/** The vault's key for a target. */
export function vaultSelection(target: Target): Selection {
  return {
    workspace_id: target.workspaceId,
    project_id: target.projectId,
    environment: target.environment,
  };
}
