import { ENVIRONMENTS } from '../../core/config.js';
import type { CliContext } from '../context.js';
import { warnIfBindingOverrides } from '../selection-hint.js';

/** `environment list`: the three environments, with the current one marked. */
export async function environmentList(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const services = ctx.services();
  const current = await services.workspaces.resolve();
  const counts = new Map<string, number>();
  for (const r of await services.vault.list({
    workspace_id: current.workspace.id,
    project_id: current.project.id,
  })) {
    counts.set(r.environment, (counts.get(r.environment) ?? 0) + 1);
  }
  const rows = ENVIRONMENTS.map((name) => ({
    name,
    selected: name === current.environment,
    secrets: counts.get(name) ?? 0,
  }));
  if (options.json) return ctx.out.json(rows);
  ctx.out.table(rows, [
    { header: '', value: (r) => (r.selected ? '*' : '') },
    { header: 'ENVIRONMENT', value: (r) => r.name },
    { header: 'SECRETS', value: (r) => String(r.secrets) },
  ]);
  ctx.out.notice(`(selected by ${current.sources.environment}; project ${current.project.name})`);
}

/** `environment switch ENV`: for the bound folder, or globally. */
export async function environmentSwitch(
  ctx: CliContext,
  environment: string,
  options: { global?: boolean; json?: boolean },
): Promise<void> {
  const result = await ctx.services().workspaces.switchEnvironment(environment, {
    global: options.global === true,
  });
  if (options.json) ctx.out.json({ environment, ...result });
  else
    ctx.out.line(
      result.scope === 'binding'
        ? `environment ${environment} selected for this folder (${result.path})`
        : `environment ${environment} selected globally`,
    );
  if (result.scope === 'global')
    await warnIfBindingOverrides(ctx, { kind: 'environment', name: environment });
  if (ctx.config.envOverride !== undefined && ctx.config.envOverride !== environment) {
    ctx.out.warn(
      `AGENTSECRETS_ENV=${ctx.config.envOverride} is set and takes precedence in this shell`,
    );
  }
}
