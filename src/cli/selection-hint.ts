import type { CliContext } from './context.js';

/** What was just selected globally, which a folder binding may override. */
export type Selected =
  | { kind: 'workspace'; id: string }
  | { kind: 'project'; id: string }
  | { kind: 'environment'; name: string };

/**
 * Warns when a folder binding (./.agentsecrets/project.json) overrides what was just
 * selected globally, naming the file: here, commands keep using the binding.
 */
export async function warnIfBindingOverrides(ctx: CliContext, selected: Selected): Promise<void> {
  const found = await ctx.services().workspaces.findBinding();
  if (found === undefined) return;
  const { path, binding } = found;
  const overridden =
    selected.kind === 'workspace'
      ? binding.workspace_id !== selected.id
      : selected.kind === 'project'
        ? binding.project_id !== selected.id
        : binding.environment !== null && binding.environment !== selected.name;
  if (!overridden) return;
  const bound =
    selected.kind === 'environment'
      ? `environment ${binding.environment}`
      : `workspace ${binding.workspace_name}, project ${binding.project_name}`;
  ctx.out.warn(
    `this folder is bound by ${path} (${bound}), and that binding wins here over the ${selected.kind} you just selected. ` +
      (selected.kind === 'environment'
        ? 'Run `agentsecrets environment switch NAME` without --global to change this folder'
        : 'Run `agentsecrets project use NAME` here to bind this folder to another project') +
      `, or delete ${path} to follow the global selection.`,
  );
}

/** After `workspace switch`: warns when this folder's binding keeps another workspace. */
export async function warnAfterWorkspaceSwitch(ctx: CliContext): Promise<void> {
  const config = await ctx.services().workspaces.readConfig();
  if (config?.workspace_id) {
    await warnIfBindingOverrides(ctx, { kind: 'workspace', id: config.workspace_id });
  }
}
