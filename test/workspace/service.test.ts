import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/core/config.js';
import type { AgentSecretsError } from '../../src/core/errors.js';
import { createWorkspaceService } from '../../src/workspace/service.js';
import { tempDir } from '../helpers/tmp.js';

async function setup(env: Record<string, string> = {}) {
  const home = await tempDir();
  const cwd = await tempDir();
  const make = (folder = cwd, extra: Record<string, string> = {}) =>
    createWorkspaceService({
      config: loadConfig({ AGENTSECRETS_HOME: home, ...env, ...extra }, folder),
    });
  const service = make();
  await service.initLocal({ projectName: 'default', backend: 'passphrase' });
  return { home, cwd, service, make };
}

describe('workspace service', () => {
  it('init creates one local workspace and a selected project, idempotently', async () => {
    const { service } = await setup();
    const again = await service.initLocal({ projectName: 'default', backend: 'passphrase' });
    expect(again.created).toBe(false);
    const doc = await service.readWorkspaces();
    expect(doc.workspaces).toHaveLength(1);
    expect(doc.workspaces[0]!.projects.map((p) => p.name)).toEqual(['default']);
    const current = await service.resolve();
    expect(current.project.name).toBe('default');
    expect(current.environment).toBe('development');
    expect(current.sources).toEqual({ project: 'global', environment: 'global' });
  });

  it('creates, renames, lists and deletes projects', async () => {
    const { service } = await setup();
    await service.createProject('billing', 'payments');
    const err = (await service
      .createProject('billing')
      .catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('project_exists');
    await service.updateProject('billing', { name: 'billing-api', description: 'new' });
    const { projects } = await service.listProjects();
    expect(projects.map((p) => [p.name, p.description])).toEqual([
      ['default', ''],
      ['billing-api', 'new'],
    ]);
    await service.deleteProject('billing-api');
    expect((await service.listProjects()).projects.map((p) => p.name)).toEqual(['default']);
  });

  it.each([
    ['an empty name', ''],
    ['a path', '../etc'],
    ['a very long name', 'x'.repeat(65)],
    ['control characters', 'bad\u0007name'],
  ])('rejects %s as a project name', async (_label, name) => {
    const { service } = await setup();
    const err = (await service.createProject(name).catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('usage_error');
  });

  it('reports a missing project with the command that lists them', async () => {
    const { service } = await setup();
    const err = (await service
      .resolve({ project: 'nope' })
      .catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('project_not_found');
    expect(err.message).toContain('agentsecrets project list');
  });

  it('binds a folder; subfolders inherit the binding', async () => {
    const { cwd, service, make } = await setup();
    await service.createProject('api');
    const bound = await service.useProject('api', { bind: true });
    expect(bound.boundAt).toBe(join(cwd, '.agentsecrets', 'project.json'));
    const binding = JSON.parse(await readFile(bound.boundAt!, 'utf8')) as Record<string, unknown>;
    expect(binding).toMatchObject({ project_name: 'api', environment: null });

    const sub = join(cwd, 'src', 'deep');
    await mkdir(sub, { recursive: true });
    const current = await make(sub).resolve();
    expect(current.project.name).toBe('api');
    expect(current.sources.project).toBe('binding');
    // The global selection is untouched.
    const elsewhere = await make(await tempDir()).resolve();
    expect(elsewhere.project.name).toBe('default');
  });

  it('ignores the state folder itself as a binding', async () => {
    const home = await tempDir();
    // AGENTSECRETS_HOME = <dir>/.agentsecrets, and the command runs in <dir>.
    const state = join(home, '.agentsecrets');
    const service = createWorkspaceService({
      config: loadConfig({ AGENTSECRETS_HOME: state }, home),
    });
    await service.initLocal({ projectName: 'default', backend: 'passphrase' });
    await writeFile(
      join(state, 'project.json'),
      JSON.stringify({
        workspace_id: 'x',
        workspace_name: 'x',
        project_id: 'y',
        project_name: 'y',
        environment: null,
      }),
    );
    expect(await service.findBinding()).toBeUndefined();
    const err = (await service
      .useProject('default', { bind: true })
      .catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('usage_error');
  });

  it('selects the environment: flag, then AGENTSECRETS_ENV, then binding, then global', async () => {
    const { cwd, service, make } = await setup();
    await service.useProject('default', { bind: true });
    await service.switchEnvironment('staging', { global: true });
    expect((await make().resolve()).environment).toBe('staging');
    expect((await make().resolve()).sources.environment).toBe('global');

    await service.switchEnvironment('production', { global: false });
    expect((await make().resolve()).environment).toBe('production');
    expect((await make().resolve()).sources.environment).toBe('binding');

    const withEnv = make(cwd, { AGENTSECRETS_ENV: 'development' });
    expect((await withEnv.resolve()).environment).toBe('development');
    expect((await withEnv.resolve()).sources.environment).toBe('AGENTSECRETS_ENV');

    const flagged = await withEnv.resolve({ environment: 'staging' });
    expect(flagged.environment).toBe('staging');
    expect(flagged.sources.environment).toBe('flag');
  });

  it('rejects an unknown environment and names where it came from', async () => {
    const { make } = await setup();
    const err = (await make(undefined, { AGENTSECRETS_ENV: 'prod' })
      .resolve()
      .catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('usage_error');
    expect(err.message).toContain('AGENTSECRETS_ENV');
    expect(err.message).toContain('production');
  });

  it('explains a binding to a deleted project', async () => {
    const { service, make } = await setup();
    await service.createProject('gone');
    await service.useProject('gone', { bind: true });
    await service.deleteProject('gone');
    const err = (await make()
      .resolve()
      .catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('project_not_found');
    expect(err.message).toContain("project 'gone'");
  });

  it('before init, says to run init', async () => {
    const home = await tempDir();
    const service = createWorkspaceService({
      config: loadConfig({ AGENTSECRETS_HOME: home }, home),
    });
    const err = (await service.resolve().catch((e: unknown) => e)) as AgentSecretsError;
    expect(err.code).toBe('not_initialized');
    expect(err.message).toContain('agentsecrets init');
  });
});
