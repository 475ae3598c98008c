import { AgentSecretsError } from '../core/errors.js';
import type { ProjectBinding } from './model.js';

/* The workspace model's refusals, each saying what to run next. */

/** agentsecrets has no config.json yet. */
export function notInitialized(): AgentSecretsError {
  return new AgentSecretsError(
    'not_initialized',
    'agentsecrets is not set up yet: run `agentsecrets init`',
  );
}

/** A folder binding that points at a workspace this state folder does not have. */
export function staleBinding(
  path: string,
  binding: ProjectBinding,
  home: string,
): AgentSecretsError {
  return new AgentSecretsError(
    'workspace_not_found',
    `${path} binds this folder to workspace '${binding.workspace_name}' (project '${binding.project_name}'), which is not in the state folder ${home}: the binding was made with another AGENTSECRETS_HOME, or the workspace was removed. Bind the folder again with \`agentsecrets project use NAME\` (a project of the globally selected workspace), or delete ${path}`,
  );
}

/** A workspace named by id (a selection made earlier) is no longer there. */
export function workspaceGone(): AgentSecretsError {
  return new AgentSecretsError(
    'workspace_not_found',
    'the selected workspace no longer exists; run `agentsecrets status` to see the current selection',
  );
}

export function workspaceNotFound(): AgentSecretsError {
  return new AgentSecretsError(
    'workspace_not_found',
    'the selected workspace does not exist; run `agentsecrets init` to recreate the local workspace',
  );
}

/** `project 'NAME' not found`, with the command that lists projects. */
export function projectNotFound(name: string): AgentSecretsError {
  return new AgentSecretsError(
    'project_not_found',
    `project '${name}' not found; run \`agentsecrets project list\` to see the projects`,
  );
}
