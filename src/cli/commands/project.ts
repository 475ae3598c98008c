import { AgentSecretsError } from '../../core/errors.js';
import type { CliContext } from '../context.js';
import { warnIfBindingOverrides } from '../selection-hint.js';

/** `project create NAME`. */
export async function projectCreate(
  ctx: CliContext,
  name: string,
  options: { description?: string; json?: boolean },
): Promise<void> {
  const project = await ctx.services().workspaces.createProject(name, options.description ?? '');
  if (options.json) return ctx.out.json(project);
  ctx.out.line(`created project ${project.name}`);
  ctx.out.line(`select it with: agentsecrets project use ${quote(project.name)}`);
}

/** `project list`. */
export async function projectList(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const services = ctx.services();
  const { projects, selectedId } = await services.workspaces.listProjects();
  const counts = new Map<string, number>();
  for (const r of await services.vault.list())
    counts.set(r.project_id, (counts.get(r.project_id) ?? 0) + 1);
  const rows = projects.map((p) => ({
    name: p.name,
    description: p.description,
    selected: p.id === selectedId,
    secrets: counts.get(p.id) ?? 0,
    id: p.id,
    created_at: p.created_at,
  }));
  if (options.json) return ctx.out.json(rows);
  ctx.out.table(
    rows,
    [
      { header: '', value: (r) => (r.selected ? '*' : '') },
      { header: 'PROJECT', value: (r) => r.name },
      { header: 'SECRETS', value: (r) => String(r.secrets) },
      { header: 'DESCRIPTION', value: (r) => r.description },
    ],
    'no projects; create one with `agentsecrets project create NAME`',
  );
}

/** `project use NAME`: binds this folder, or with --global selects it everywhere. */
export async function projectUse(
  ctx: CliContext,
  name: string,
  options: { global?: boolean; json?: boolean },
): Promise<void> {
  const result = await ctx
    .services()
    .workspaces.useProject(name, { bind: options.global !== true });
  if (options.json)
    ctx.out.json({ project: result.project.name, bound_at: result.boundAt ?? null });
  else if (result.boundAt) ctx.out.line(`this folder now uses project ${name} (${result.boundAt})`);
  else ctx.out.line(`project ${name} is now selected globally`);
  if (!result.boundAt)
    await warnIfBindingOverrides(ctx, { kind: 'project', id: result.project.id });
}

/** `project update NAME [--name NEW] [--description D]`. */
export async function projectUpdate(
  ctx: CliContext,
  name: string,
  options: { name?: string; description?: string; json?: boolean },
): Promise<void> {
  if (options.name === undefined && options.description === undefined) {
    throw new AgentSecretsError('usage_error', 'nothing to change: give --name or --description');
  }
  const project = await ctx.services().workspaces.updateProject(name, {
    ...(options.name === undefined ? {} : { name: options.name }),
    ...(options.description === undefined ? {} : { description: options.description }),
  });
  if (options.json) return ctx.out.json(project);
  ctx.out.line(`updated project ${project.name}`);
}

/** `project delete NAME [--force]`: refuses while the project holds secrets, unless --force. */
export async function projectDelete(
  ctx: CliContext,
  name: string,
  options: { force?: boolean; json?: boolean },
): Promise<void> {
  const services = ctx.services();
  const { projects } = await services.workspaces.listProjects();
  const project = projects.find((p) => p.name === name);
  const held =
    project === undefined ? 0 : (await services.vault.list({ project_id: project.id })).length;
  if (held > 0 && options.force !== true) {
    throw new AgentSecretsError(
      'conflict',
      `project ${name} still holds ${held} secret(s); delete them first, or run \`agentsecrets project delete ${quote(name)} --force\` to delete them with it`,
    );
  }
  const deleted = await services.workspaces.deleteProject(name);
  const purged = held > 0 ? await services.vault.purge({ project_id: deleted.id }) : 0;
  if (options.json)
    return ctx.out.json({ project: deleted.name, deleted: true, secrets_deleted: purged });
  ctx.out.line(
    `deleted project ${deleted.name}${purged > 0 ? ` and its ${purged} secret(s)` : ''}`,
  );
}

function quote(name: string): string {
  return /\s/.test(name) ? `'${name}'` : name;
}
