import { readFile, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { type Config, ENVIRONMENTS, type Environment, isEnvironment } from '../core/config.js';
import { AgentSecretsError, UsageError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import { createDocumentStore } from '../store/document.js';
import { ensurePrivateDir, isErrno, writeFileAtomic } from '../store/fs.js';
import {
  type ConfigFile,
  defaultPolicy,
  NAME_PATTERN,
  parseConfigFile,
  parseProjectBinding,
  parseWorkspacesFile,
  type Project,
  type ProjectBinding,
  type Workspace,
  type WorkspacesFile,
} from './model.js';
import {
  type ResolvedSelection,
  type SelectionFlags,
  type SelectionSources,
  targetOf,
} from './selection.js';
import {
  notInitialized,
  projectNotFound,
  staleBinding,
  workspaceGone,
  workspaceNotFound,
} from './errors.js';

export { projectNotFound, workspaceGone } from './errors.js';

export type { ResolvedSelection, SelectionFlags, SelectionSources } from './selection.js';

/** The local model: config.json, workspaces.json and folder bindings. */
export interface WorkspaceService {
  readConfig(): Promise<ConfigFile | undefined>;
  updateConfig(fn: (config: ConfigFile) => ConfigFile): Promise<ConfigFile>;
  readWorkspaces(): Promise<WorkspacesFile>;
  updateWorkspace(id: string, fn: (workspace: Workspace) => Workspace | void): Promise<Workspace>;
  /** Rewrites workspaces.json under its lock (strict mode's sealed writes). */
  updateWorkspacesFile(fn: (file: WorkspacesFile) => WorkspacesFile): Promise<WorkspacesFile>;
  /** Adds a workspace, or replaces the one with the same id (team workspaces from a server). */
  putWorkspace(workspace: Workspace): Promise<void>;
  /** Creates the local workspace and a first project; returns the existing ones if present. */
  initLocal(options: { projectName: string; backend: 'keychain' | 'passphrase' }): Promise<{
    workspace: Workspace;
    project: Project;
    created: boolean;
  }>;
  resolve(flags?: SelectionFlags): Promise<ResolvedSelection>;
  /** The current workspace (no project needed). */
  currentWorkspace(): Promise<Workspace>;
  /** The workspace with this id, or `workspace_not_found` (the selection changed under us). */
  require(id: string): Promise<Workspace>;
  createProject(name: string, description?: string): Promise<Project>;
  listProjects(): Promise<{ workspace: Workspace; projects: Project[]; selectedId: string | null }>;
  /** Selects a project globally, or binds the current folder to it. */
  useProject(
    name: string,
    options: { bind: boolean },
  ): Promise<{ project: Project; boundAt?: string }>;
  updateProject(name: string, changes: { name?: string; description?: string }): Promise<Project>;
  deleteProject(name: string): Promise<Project>;
  /** Switches the environment of the folder binding, or the global one. */
  switchEnvironment(
    environment: string,
    options: { global: boolean },
  ): Promise<{ scope: 'binding' | 'global'; path: string }>;
  /** Finds ./.agentsecrets/project.json in the working folder or its parents. */
  findBinding(): Promise<{ path: string; binding: ProjectBinding } | undefined>;
}

export interface WorkspaceServiceDeps {
  config: Config;
  now?: () => Date;
}

const EMPTY_CONFIG: ConfigFile = {
  format: 1,
  workspace_id: null,
  project_id: null,
  environment: 'development',
  backend: null,
  server_url: null,
  account: null,
};

/** Creates the workspace service. */
export function createWorkspaceService(deps: WorkspaceServiceDeps): WorkspaceService {
  const { paths, cwd } = deps.config;
  const now = deps.now ?? (() => new Date());
  const configStore = createDocumentStore({
    path: paths.config,
    parse: parseConfigFile,
    cache: true,
  });
  const workspaceStore = createDocumentStore({
    path: paths.workspaces,
    parse: parseWorkspacesFile,
    cache: true,
  });

  async function readConfig() {
    return configStore.read();
  }

  async function requireConfig(): Promise<ConfigFile> {
    const config = await configStore.read();
    if (config === undefined) throw notInitialized();
    return config;
  }

  async function readWorkspaces(): Promise<WorkspacesFile> {
    return (await workspaceStore.read()) ?? { format: 1, workspaces: [] };
  }

  async function updateWorkspace(id: string, fn: (workspace: Workspace) => Workspace | void) {
    let updated: Workspace | undefined;
    await workspaceStore.update((doc) => {
      const file = doc ?? { format: 1 as const, workspaces: [] };
      const index = file.workspaces.findIndex((w) => w.id === id);
      if (index === -1) throw workspaceNotFound();
      const current = file.workspaces[index]!;
      updated = fn(current) ?? current;
      file.workspaces[index] = updated;
      return file;
    });
    return updated!;
  }

  /**
   * The workspace in effect: the folder binding's, else the global one. A binding whose
   * workspace is not here is an error naming the file, unless `rebinding` (the folder is
   * about to be bound again, so the global workspace is used).
   */
  async function currentWorkspace(options: { rebinding?: boolean } = {}): Promise<Workspace> {
    const config = await requireConfig();
    const binding = await findBinding();
    const workspaces = (await readWorkspaces()).workspaces;
    if (binding !== undefined) {
      const bound = workspaces.find((w) => w.id === binding.binding.workspace_id);
      if (bound !== undefined) return bound;
      if (options.rebinding !== true) throw staleBinding(binding.path, binding.binding, paths.home);
    }
    const workspace = workspaces.find((w) => w.id === config.workspace_id);
    if (workspace === undefined) throw workspaceNotFound();
    return workspace;
  }

  async function findBinding() {
    let dir = resolve(cwd);
    for (;;) {
      const stateFolder = join(dir, '.agentsecrets');
      // The state folder itself (~/.agentsecrets) is not a project binding.
      if (resolve(stateFolder) !== paths.home) {
        const path = join(stateFolder, 'project.json');
        const binding = await readBinding(path);
        if (binding !== undefined) return { path, binding };
      }
      const parent = dirname(dir);
      if (parent === dir) return undefined;
      dir = parent;
    }
  }

  async function resolveSelection(flags: SelectionFlags = {}): Promise<ResolvedSelection> {
    const config = await requireConfig();
    const binding = await findBinding();
    const workspaceId = binding?.binding.workspace_id ?? config.workspace_id;
    const workspace = (await readWorkspaces()).workspaces.find((w) => w.id === workspaceId);
    if (workspace === undefined && binding !== undefined)
      throw staleBinding(binding.path, binding.binding, paths.home);
    if (workspace === undefined) throw workspaceNotFound();

    let project: Project | undefined;
    let projectSource: SelectionSources['project'];
    if (flags.project !== undefined) {
      project = workspace.projects.find((p) => p.name === flags.project);
      projectSource = 'flag';
      if (project === undefined) throw projectNotFound(flags.project);
    } else if (binding !== undefined) {
      project = workspace.projects.find((p) => p.id === binding.binding.project_id);
      projectSource = 'binding';
      if (project === undefined) {
        throw new AgentSecretsError(
          'project_not_found',
          `${binding.path} binds this folder to project '${binding.binding.project_name}', which no longer exists; run \`agentsecrets project use NAME\` to bind it again`,
        );
      }
    } else {
      project = workspace.projects.find((p) => p.id === config.project_id);
      projectSource = 'global';
      if (project === undefined) {
        throw new AgentSecretsError(
          'project_not_found',
          'no project is selected; run `agentsecrets project create NAME` or `agentsecrets project use NAME`',
        );
      }
    }

    let environment: string;
    let environmentSource: SelectionSources['environment'];
    if (flags.environment !== undefined) {
      environment = flags.environment;
      environmentSource = 'flag';
    } else if (deps.config.envOverride !== undefined) {
      environment = deps.config.envOverride;
      environmentSource = 'AGENTSECRETS_ENV';
    } else if (binding?.binding.environment) {
      environment = binding.binding.environment;
      environmentSource = 'binding';
    } else if (config.environment) {
      environment = config.environment;
      environmentSource = 'global';
    } else {
      environment = 'development';
      environmentSource = 'default';
    }
    const env = assertEnvironment(environment, environmentSource);

    return {
      workspace,
      project,
      environment: env,
      selection: { workspace_id: workspace.id, project_id: project.id, environment: env },
      target: targetOf(workspace, project, env),
      sources: { project: projectSource, environment: environmentSource },
      binding,
    };
  }

  async function initLocal(options: { projectName: string; backend: 'keychain' | 'passphrase' }) {
    assertName(options.projectName, 'project');
    const stamp = now().toISOString();
    let created = false;
    let result: { workspace: Workspace; project: Project } | undefined;
    await ensurePrivateDir(paths.home);
    await workspaceStore.update((doc) => {
      const file = doc ?? { format: 1 as const, workspaces: [] };
      let workspace = file.workspaces.find((w) => w.kind === 'local');
      if (workspace === undefined) {
        workspace = {
          id: randomId('ws'),
          name: 'local',
          kind: 'local',
          created_at: stamp,
          projects: [],
          allowlist: [],
          allowlist_log: [],
          policy: defaultPolicy(),
        };
        file.workspaces.push(workspace);
        created = true;
      }
      let project = workspace.projects.find((p) => p.name === options.projectName);
      if (project === undefined) {
        project = newProject(options.projectName, '', stamp);
        workspace.projects.push(project);
        created = true;
      }
      result = { workspace, project };
      return file;
    });
    const { workspace, project } = result!;
    await configStore.update((config) => ({
      ...(config ?? EMPTY_CONFIG),
      workspace_id: config?.workspace_id ?? workspace.id,
      project_id: config?.project_id ?? project.id,
      backend: options.backend,
    }));
    return { workspace, project, created };
  }

  async function createProject(name: string, description = '') {
    assertName(name, 'project');
    const workspace = await currentWorkspace();
    const project = newProject(name, description, now().toISOString());
    await updateWorkspace(workspace.id, (w) => {
      if (w.projects.some((p) => p.name === name)) {
        throw new AgentSecretsError('project_exists', `a project named '${name}' already exists`);
      }
      w.projects.push(project);
    });
    const config = await requireConfig();
    if (config.project_id === null) {
      await configStore.update((c) => ({ ...(c ?? EMPTY_CONFIG), project_id: project.id }));
    }
    return project;
  }

  async function listProjects() {
    const config = await requireConfig();
    const workspace = await currentWorkspace();
    const binding = await findBinding();
    return {
      workspace,
      projects: workspace.projects,
      selectedId: binding?.binding.project_id ?? config.project_id,
    };
  }

  async function findProject(
    name: string,
    options: { rebinding?: boolean } = {},
  ): Promise<{ workspace: Workspace; project: Project }> {
    const workspace = await currentWorkspace(options);
    const project = workspace.projects.find((p) => p.name === name);
    if (project === undefined) throw projectNotFound(name);
    return { workspace, project };
  }

  async function useProject(name: string, options: { bind: boolean }) {
    const { workspace, project } = await findProject(name, { rebinding: options.bind });
    if (!options.bind) {
      await configStore.update((c) => ({
        ...(c ?? EMPTY_CONFIG),
        workspace_id: workspace.id,
        project_id: project.id,
      }));
      return { project };
    }
    const folder = join(resolve(cwd), '.agentsecrets');
    if (resolve(folder) === paths.home) {
      throw new UsageError(
        'this folder holds the agentsecrets state folder and cannot be bound to a project; run the command in your project folder, or use --global',
      );
    }
    const path = join(folder, 'project.json');
    const existing = await readBinding(path);
    const binding: ProjectBinding = {
      workspace_id: workspace.id,
      workspace_name: workspace.name,
      project_id: project.id,
      project_name: project.name,
      environment: existing?.environment ?? null,
    };
    await ensurePrivateDir(folder);
    await writeFileAtomic(path, `${JSON.stringify(binding, null, 2)}\n`, 0o644);
    return { project, boundAt: path };
  }

  async function updateProject(name: string, changes: { name?: string; description?: string }) {
    const { workspace, project } = await findProject(name);
    if (changes.name !== undefined) assertName(changes.name, 'project');
    let updated: Project | undefined;
    await updateWorkspace(workspace.id, (w) => {
      if (
        changes.name !== undefined &&
        changes.name !== name &&
        w.projects.some((p) => p.name === changes.name)
      ) {
        throw new AgentSecretsError(
          'project_exists',
          `a project named '${changes.name}' already exists`,
        );
      }
      const target = w.projects.find((p) => p.id === project.id);
      if (target === undefined) throw projectNotFound(name);
      if (changes.name !== undefined) target.name = changes.name;
      if (changes.description !== undefined) target.description = changes.description;
      target.updated_at = now().toISOString();
      updated = target;
    });
    return updated!;
  }

  async function deleteProject(name: string) {
    const { workspace, project } = await findProject(name);
    await updateWorkspace(workspace.id, (w) => {
      w.projects = w.projects.filter((p) => p.id !== project.id);
    });
    await configStore.update((c) => {
      const config = c ?? EMPTY_CONFIG;
      return config.project_id === project.id ? { ...config, project_id: null } : config;
    });
    return project;
  }

  async function switchEnvironment(environment: string, options: { global: boolean }) {
    const env = assertEnvironment(environment, 'flag');
    const binding = options.global ? undefined : await findBinding();
    if (binding !== undefined) {
      const next: ProjectBinding = { ...binding.binding, environment: env };
      await writeFileAtomic(binding.path, `${JSON.stringify(next, null, 2)}\n`, 0o644);
      return { scope: 'binding' as const, path: binding.path };
    }
    await requireConfig();
    await configStore.update((c) => ({ ...(c ?? EMPTY_CONFIG), environment: env }));
    return { scope: 'global' as const, path: paths.config };
  }

  return {
    readConfig,
    updateConfig: (fn) => configStore.update((c) => fn(c ?? EMPTY_CONFIG)),
    readWorkspaces,
    updateWorkspace,
    updateWorkspacesFile: (fn) =>
      workspaceStore.update((doc) => fn(doc ?? { format: 1 as const, workspaces: [] })),
    async putWorkspace(workspace) {
      await workspaceStore.update((doc) => {
        const file = doc ?? { format: 1 as const, workspaces: [] };
        file.workspaces = [...file.workspaces.filter((w) => w.id !== workspace.id), workspace];
        return file;
      });
    },
    initLocal,
    resolve: resolveSelection,
    async require(id: string): Promise<Workspace> {
      const workspace = (await readWorkspaces()).workspaces.find((w) => w.id === id);
      if (workspace === undefined) throw workspaceGone();
      return workspace;
    },
    currentWorkspace,
    createProject,
    listProjects,
    useProject,
    updateProject,
    deleteProject,
    switchEnvironment,
    findBinding,
  };
}

async function readBinding(path: string): Promise<ProjectBinding | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR', 'EACCES')) return undefined;
    throw err;
  }
  try {
    return parseProjectBinding(JSON.parse(text));
  } catch (cause) {
    throw new AgentSecretsError(
      'corrupt_state',
      `${path} is damaged; delete it and run \`agentsecrets project use NAME\` in this folder`,
      { cause },
    );
  }
}

function newProject(name: string, description: string, stamp: string): Project {
  return {
    id: randomId('prj'),
    name,
    description,
    created_at: stamp,
    updated_at: stamp,
    last_pull_at: null,
    last_push_at: null,
  };
}

function assertName(name: string, what: string): void {
  if (!NAME_PATTERN.test(name)) {
    throw new UsageError(
      `invalid ${what} name: use 1-64 letters, digits, '.', '_', '-' or spaces, starting with a letter or digit`,
    );
  }
}

function assertEnvironment(name: string, source: string): Environment {
  if (!isEnvironment(name)) {
    throw new UsageError(
      `unknown environment '${name}' (from ${source}); use one of ${ENVIRONMENTS.join(', ')}`,
    );
  }
  return name;
}

/** The default project name for `init` run in `folder`. */
export function defaultProjectName(folder: string): string {
  const name = basename(folder)
    .replace(/[^A-Za-z0-9._ -]/g, '-')
    .slice(0, 64);
  return NAME_PATTERN.test(name) ? name : 'default';
}

/** Removes a folder binding file (used by tests and `project delete`). */
export async function removeBinding(path: string): Promise<void> {
  await rm(path, { force: true });
}
