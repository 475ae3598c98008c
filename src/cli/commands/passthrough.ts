import { AgentSecretsError } from '../../core/errors.js';
import { parseAllowlistEntry } from '../../policy/allowlist.js';
import { type CliContext, requireHuman } from '../context.js';
import { localActor } from './workspace.js';

/**
 * `workspace passthrough add|list|remove`: hosts that `run` children may reach through an
 * untouched CONNECT tunnel: no interception, no substitution, one audit entry per tunnel.
 * Kept in this machine's workspaces.json (a team's signed document does not carry it).
 */
export async function passthroughAdd(
  ctx: CliContext,
  hosts: string[],
  options: { yes?: boolean; json?: boolean },
): Promise<void> {
  const patterns = hosts.map((d) => parseAllowlistEntry(d).text);
  const services = ctx.services();
  const workspace = await services.workspaces.currentWorkspace();
  await requireHuman(ctx, {
    action: `Let programs under \`agentsecrets run\` tunnel to ${patterns.join(', ')} untouched (no secrets are ever substituted there; workspace ${workspace.name})`,
    confirm: 'passthrough',
    yes: options.yes,
  });
  const stamp = new Date().toISOString();
  const added: string[] = [];
  await services.workspaces.updateWorkspace(workspace.id, (w) => {
    w.passthrough ??= [];
    for (const pattern of patterns) {
      if (w.passthrough.some((e) => e.pattern === pattern)) continue;
      w.passthrough.push({ pattern, added_by: localActor(), added_at: stamp });
      added.push(pattern);
    }
  });
  if (options.json)
    return ctx.out.json({ added, already_present: patterns.filter((p) => !added.includes(p)) });
  for (const pattern of patterns) {
    ctx.out.line(added.includes(pattern) ? `added ${pattern}` : `${pattern} was already listed`);
  }
}

/** `workspace passthrough remove <host>` (human-gated). */
export async function passthroughRemove(
  ctx: CliContext,
  host: string,
  options: { yes?: boolean; json?: boolean },
): Promise<void> {
  const pattern = parseAllowlistEntry(host).text;
  const services = ctx.services();
  const workspace = await services.workspaces.currentWorkspace();
  if (!(workspace.passthrough ?? []).some((e) => e.pattern === pattern)) {
    throw new AgentSecretsError(
      'not_found',
      `${pattern} is not in the passthrough list; see \`agentsecrets workspace passthrough list\``,
    );
  }
  await requireHuman(ctx, {
    action: `Stop tunnelling ${pattern} for \`agentsecrets run\` (workspace ${workspace.name})`,
    confirm: 'remove',
    yes: options.yes,
  });
  await services.workspaces.updateWorkspace(workspace.id, (w) => {
    w.passthrough = (w.passthrough ?? []).filter((e) => e.pattern !== pattern);
  });
  if (options.json) return ctx.out.json({ removed: pattern });
  ctx.out.line(`removed ${pattern}`);
}

/** `workspace passthrough list`. */
export async function passthroughList(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const workspace = await ctx.services().workspaces.currentWorkspace();
  const entries = workspace.passthrough ?? [];
  if (options.json) return ctx.out.json(entries);
  ctx.out.table(
    entries,
    [
      { header: 'Host', value: (e) => e.pattern },
      { header: 'Added By', value: (e) => e.added_by },
      { header: 'Added At', value: (e) => e.added_at.replace('T', ' ').slice(0, 19) },
    ],
    'no passthrough hosts: `agentsecrets run` refuses CONNECT to hosts outside the allowlist',
  );
}
