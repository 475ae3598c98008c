import { userInfo } from 'node:os';
import { AgentSecretsError, UsageError } from '../../core/errors.js';
import { parseAllowlistEntry, WILDCARD_RULE } from '../../policy/allowlist.js';
import type { WorkspacePolicy } from '../../workspace/model.js';
import { type CliContext, requireHuman } from '../context.js';
import { changeWorkspace } from '../team-session.js';
import { applyRuleOptions, printRules } from './agent.js';

/** Who made a local change, for the allowlist log. */
export function localActor(): string {
  try {
    return `local:${userInfo().username}`;
  } catch {
    return 'local:unknown';
  }
}

/** `workspace allowlist add <domain…>` (human-gated). */
export async function allowlistAdd(
  ctx: CliContext,
  domains: string[],
  options: { yes?: boolean; json?: boolean },
): Promise<void> {
  const patterns = domains.map((d) => parseAllowlistEntry(d).text);
  const services = ctx.services();
  const workspace = await services.workspaces.currentWorkspace();
  await requireHuman(ctx, {
    action: `Allow credentials to be sent to ${patterns.join(', ')} (workspace ${workspace.name})`,
    confirm: 'allow',
    yes: options.yes,
  });
  const stamp = new Date().toISOString();
  const by = localActor();
  const added: string[] = [];
  await changeWorkspace(ctx, workspace, (w) => {
    for (const pattern of patterns) {
      if (w.allowlist.some((e) => e.pattern === pattern)) continue;
      w.allowlist.push({ pattern, added_by: by, added_at: stamp });
      w.allowlist_log.push({ at: stamp, by, action: 'add', pattern });
      added.push(pattern);
    }
  });
  if (options.json)
    return ctx.out.json({ added, already_present: patterns.filter((p) => !added.includes(p)) });
  for (const pattern of patterns) {
    ctx.out.line(added.includes(pattern) ? `added ${pattern}` : `${pattern} was already allowed`);
  }
  if (patterns.some((p) => p.startsWith('*.'))) ctx.out.notice(WILDCARD_RULE);
}

/** `workspace allowlist remove <domain>` (human-gated). */
export async function allowlistRemove(
  ctx: CliContext,
  domain: string,
  options: { yes?: boolean; json?: boolean },
): Promise<void> {
  const pattern = parseAllowlistEntry(domain).text;
  const services = ctx.services();
  const workspace = await services.workspaces.currentWorkspace();
  if (!workspace.allowlist.some((e) => e.pattern === pattern)) {
    throw new AgentSecretsError(
      'not_found',
      `${pattern} is not in the allowlist; see \`agentsecrets workspace allowlist list\``,
    );
  }
  await requireHuman(ctx, {
    action: `Stop allowing ${pattern} (workspace ${workspace.name})`,
    confirm: 'remove',
    yes: options.yes,
  });
  const stamp = new Date().toISOString();
  await changeWorkspace(ctx, workspace, (w) => {
    w.allowlist = w.allowlist.filter((e) => e.pattern !== pattern);
    w.allowlist_log.push({ at: stamp, by: localActor(), action: 'remove', pattern });
  });
  if (options.json) return ctx.out.json({ removed: pattern });
  ctx.out.line(`removed ${pattern}`);
}

/** `workspace allowlist list`: columns as the Go tool's (Domain, Added By, Added At). */
export async function allowlistList(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const workspace = await ctx.services().workspaces.currentWorkspace();
  if (options.json) return ctx.out.json(workspace.allowlist);
  ctx.out.table(
    workspace.allowlist,
    [
      { header: 'Domain', value: (e) => e.pattern },
      { header: 'Added By', value: (e) => e.added_by },
      { header: 'Added At', value: (e) => e.added_at.replace('T', ' ').slice(0, 19) },
    ],
    'the allowlist is empty: no call can be made. Add a domain with `agentsecrets workspace allowlist add api.example.com`',
  );
}

/** `workspace allowlist log`: who changed what, when. */
export async function allowlistLog(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const workspace = await ctx.services().workspaces.currentWorkspace();
  if (options.json) return ctx.out.json(workspace.allowlist_log);
  ctx.out.table(
    workspace.allowlist_log,
    [
      { header: 'Time', value: (e) => e.at.replace('T', ' ').slice(0, 19) },
      { header: 'Domain', value: (e) => e.pattern },
      { header: 'User', value: (e) => e.by },
      { header: 'Action', value: (e) => e.action },
    ],
    'no allowlist changes yet',
  );
}

/** `workspace policy set` (human-gated). */
export async function policySet(
  ctx: CliContext,
  options: {
    requireBinding?: boolean;
    requireIdentity?: string;
    defaultAllowSecrets?: string;
    defaultDenySecrets?: string;
    defaultAllowDomains?: string;
    defaultMethods?: string;
    defaultRate?: string;
    yes?: boolean;
    json?: boolean;
  },
): Promise<void> {
  const level = options.requireIdentity;
  if (level !== undefined && !['anonymous', 'declared', 'issued'].includes(level)) {
    throw new UsageError('--require-identity takes anonymous, declared or issued');
  }
  const changesRules = [
    options.defaultAllowSecrets,
    options.defaultDenySecrets,
    options.defaultAllowDomains,
    options.defaultMethods,
    options.defaultRate,
  ].some((o) => o !== undefined);
  if (options.requireBinding === undefined && level === undefined && !changesRules) {
    throw new UsageError(
      'nothing to change: give --require-binding, --require-identity LEVEL or a --default-* rule',
    );
  }
  const services = ctx.services();
  const workspace = await services.workspaces.currentWorkspace();
  const defaults = applyRuleOptions(
    {
      allow_secrets: workspace.policy.default_allow_secrets,
      deny_secrets: workspace.policy.default_deny_secrets,
      allow_domains: workspace.policy.default_allow_domains,
      methods: workspace.policy.default_methods,
      rate: workspace.policy.default_rate,
    },
    {
      ...(options.defaultAllowSecrets === undefined
        ? {}
        : { allowSecrets: options.defaultAllowSecrets }),
      ...(options.defaultDenySecrets === undefined
        ? {}
        : { denySecrets: options.defaultDenySecrets }),
      ...(options.defaultAllowDomains === undefined
        ? {}
        : { allowDomains: options.defaultAllowDomains }),
      ...(options.defaultMethods === undefined ? {} : { methods: options.defaultMethods }),
      ...(options.defaultRate === undefined ? {} : { rate: options.defaultRate }),
    },
  );
  await requireHuman(ctx, {
    action: `Change the policy of workspace ${workspace.name}`,
    confirm: 'policy',
    yes: options.yes,
  });
  await changeWorkspace(ctx, workspace, (w) => {
    if (options.requireBinding !== undefined) w.policy.require_binding = options.requireBinding;
    if (level !== undefined)
      w.policy.require_identity = level as 'anonymous' | 'declared' | 'issued';
    w.policy.default_allow_secrets = defaults.allow_secrets;
    w.policy.default_deny_secrets = defaults.deny_secrets;
    w.policy.default_allow_domains = defaults.allow_domains;
    w.policy.default_methods = defaults.methods;
    w.policy.default_rate = defaults.rate;
  });
  const updated = await ctx.services().workspaces.currentWorkspace();
  if (options.json) return ctx.out.json(updated.policy);
  showPolicy(ctx, updated.policy);
}

/** `workspace policy show`. */
export async function policyShow(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const workspace = await ctx.services().workspaces.currentWorkspace();
  if (options.json) return ctx.out.json(workspace.policy);
  showPolicy(ctx, workspace.policy);
}

function showPolicy(ctx: CliContext, policy: WorkspacePolicy): void {
  ctx.out.line(`require-identity: ${policy.require_identity}`);
  ctx.out.line(`require-binding:  ${policy.require_binding ? 'on' : 'off'}`);
  printRules(
    ctx,
    {
      allow_secrets: policy.default_allow_secrets,
      deny_secrets: policy.default_deny_secrets,
      allow_domains: policy.default_allow_domains,
      methods: policy.default_methods,
      rate: policy.default_rate,
    },
    'default rules (anonymous and declared callers, and issued agents without rules of their own)',
  );
}
