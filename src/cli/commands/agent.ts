import { tokenUsage } from '../../audit/usage.js';
import { AgentSecretsError, UsageError } from '../../core/errors.js';
import {
  type AgentRecord,
  type AgentRules,
  agentNotFound,
  assertAgentName,
  createAgentStore,
  newAgent,
} from '../../identity/agents.js';
import {
  DEFAULT_TTL_SECONDS,
  issueToken,
  loadSigningKey,
  parseTtl,
} from '../../identity/tokens.js';
import { parseAllowlistEntry } from '../../policy/allowlist.js';
import { parseRate } from '../../policy/rules.js';
import { type CliContext, requireHuman } from '../context.js';
import { changeAgents } from '../team-session.js';

function store(ctx: CliContext) {
  return createAgentStore(ctx.config.paths);
}

function tokenStatus(token: AgentRecord['tokens'][number], agent: AgentRecord, now: Date): string {
  if (token.revoked_at !== null) return 'revoked';
  if (new Date(token.expires_at) <= now) return 'expired';
  return 'active';
}

/** `agent create <name>`. */
export async function agentCreate(
  ctx: CliContext,
  name: string,
  options: { description?: string; json?: boolean },
): Promise<void> {
  assertAgentName(name);
  const workspace = await ctx.services().workspaces.currentWorkspace();
  let created: AgentRecord | undefined;
  await changeAgents(ctx, workspace, (file) => {
    if (file.agents.some((a) => a.workspace_id === workspace.id && a.name === name)) {
      throw new AgentSecretsError('conflict', `an agent named '${name}' already exists`);
    }
    created = newAgent(workspace.id, name, options.description ?? '', new Date());
    file.agents.push(created);
  });
  if (options.json)
    return ctx.out.json({ name, id: created!.id, description: created!.description });
  ctx.out.line(`created agent ${name}`);
  ctx.out.line(`issue it a token with: agentsecrets agent token issue ${name}`);
}

/** `agent list`: tokens, last use and call count (from the audit log). */
export async function agentList(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const workspace = await ctx.services().workspaces.currentWorkspace();
  const file = await store(ctx).read();
  const usage = await tokenUsage(ctx.config.paths.auditDir);
  const now = new Date();
  const rows = file.agents
    .filter((a) => a.workspace_id === workspace.id)
    .map((a) => ({
      name: a.name,
      id: a.id,
      description: a.description,
      active_tokens: a.tokens.filter((t) => tokenStatus(t, a, now) === 'active').length,
      tokens: a.tokens.length,
      calls: usage.agents.get(a.name)?.calls ?? 0,
      last_used_at: usage.agents.get(a.name)?.lastUsed ?? null,
      created_at: a.created_at,
      has_rules: a.rules !== null,
    }));
  if (options.json) return ctx.out.json(rows);
  ctx.out.table(
    rows,
    [
      { header: 'AGENT', value: (r) => r.name },
      { header: 'TOKENS', value: (r) => `${r.active_tokens} active / ${r.tokens}` },
      { header: 'CALLS', value: (r) => String(r.calls) },
      {
        header: 'LAST USED',
        value: (r) => (r.last_used_at ?? 'never').replace('T', ' ').slice(0, 19),
      },
      { header: 'RULES', value: (r) => (r.has_rules ? 'own' : 'workspace default') },
      { header: 'REGISTERED', value: (r) => r.created_at.slice(0, 10) },
    ],
    'no agents yet; create one with `agentsecrets agent create NAME`',
  );
}

/** `agent delete <name>` (human-gated): revokes every token first. */
export async function agentDelete(
  ctx: CliContext,
  name: string,
  options: { yes?: boolean; json?: boolean },
): Promise<void> {
  const workspace = await ctx.services().workspaces.currentWorkspace();
  const agent = await store(ctx).get(workspace.id, name);
  await requireHuman(ctx, {
    action: `Delete agent ${name} and revoke its ${agent.tokens.length} token(s)`,
    confirm: name,
    yes: options.yes,
  });
  const stamp = new Date().toISOString();
  // Two writes: revoke everything, then remove. A crash in between leaves a revoked agent.
  await changeAgents(ctx, workspace, (file) => {
    const target = file.agents.find((a) => a.id === agent.id);
    if (target === undefined) return;
    target.generation++;
    for (const token of target.tokens) token.revoked_at ??= stamp;
  });
  await changeAgents(ctx, workspace, (file) => {
    file.agents = file.agents.filter((a) => a.id !== agent.id);
  });
  if (options.json) return ctx.out.json({ deleted: name, tokens_revoked: agent.tokens.length });
  ctx.out.line(`deleted agent ${name}; its tokens stopped working immediately`);
}

/** `agent token issue <name>` (human-gated): prints the token once, and nothing else on stdout. */
export async function tokenIssue(
  ctx: CliContext,
  name: string,
  options: { label?: string; ttl?: string; yes?: boolean },
): Promise<void> {
  const services = ctx.services();
  const workspace = await services.workspaces.currentWorkspace();
  const agent = await store(ctx).get(workspace.id, name);
  const ttlSeconds = options.ttl === undefined ? DEFAULT_TTL_SECONDS : parseTtl(options.ttl);
  await requireHuman(ctx, {
    action: `Issue a token for agent ${name} (valid ${Math.round(ttlSeconds / 86_400)} day(s))`,
    confirm: name,
    yes: options.yes,
  });
  const vault = await services.vault.unlock();
  let issued;
  try {
    // A team workspace's signing key is sealed to its admins; only a local one is created here.
    const key = await loadSigningKey(vault, workspace.id, { create: workspace.kind !== 'team' });
    if (key === undefined)
      throw new AgentSecretsError(
        'forbidden',
        `only an admin of team workspace ${workspace.name} holds its token-signing key; ask an admin to issue the token`,
      );
    issued = await issueToken({
      key,
      agent,
      label: options.label ?? '',
      ttlSeconds,
      now: new Date(),
    });
    const { tokenId, expiresAt } = issued;
    await changeAgents(
      ctx,
      workspace,
      (file) => {
        const target = file.agents.find((a) => a.id === agent.id);
        if (target === undefined || target.generation !== agent.generation) {
          throw new AgentSecretsError(
            'conflict',
            `agent ${name} changed while the token was being issued; issue it again`,
          );
        }
        target.tokens.push({
          id: tokenId,
          label: options.label ?? '',
          created_at: new Date().toISOString(),
          expires_at: expiresAt.toISOString(),
          revoked_at: null,
        });
      },
      vault,
    );
  } finally {
    vault.close();
  }
  const { tokenId, expiresAt } = issued;
  ctx.out.line(issued.token);
  ctx.out.notice(
    `token ${tokenId} for agent ${name}, expires ${expiresAt.toISOString()}. It is shown once and stored nowhere: put it in the agent's configuration as AGENTSECRETS_AGENT_TOKEN (or send it as X-AS-Agent-Token). Revoke it with: agentsecrets agent token revoke ${tokenId} --agent ${name}`,
  );
}

/** `agent token list <name>`. */
export async function tokenList(
  ctx: CliContext,
  name: string,
  options: { json?: boolean },
): Promise<void> {
  const workspace = await ctx.services().workspaces.currentWorkspace();
  const agent = await store(ctx).get(workspace.id, name);
  const usage = await tokenUsage(ctx.config.paths.auditDir);
  const now = new Date();
  const rows = agent.tokens.map((t) => ({
    id: t.id,
    label: t.label,
    created_at: t.created_at,
    expires_at: t.expires_at,
    last_used_at: usage.tokens.get(t.id)?.lastUsed ?? null,
    calls: usage.tokens.get(t.id)?.calls ?? 0,
    status: tokenStatus(t, agent, now),
    revoked_at: t.revoked_at,
  }));
  if (options.json) return ctx.out.json(rows);
  const day = (s: string | null) => (s === null ? 'never' : s.replace('T', ' ').slice(0, 16));
  ctx.out.table(
    rows,
    [
      { header: 'TOKEN ID', value: (r) => r.id },
      { header: 'LABEL', value: (r) => r.label },
      { header: 'CREATED', value: (r) => day(r.created_at) },
      { header: 'EXPIRES', value: (r) => day(r.expires_at) },
      { header: 'LAST USED', value: (r) => day(r.last_used_at) },
      { header: 'STATUS', value: (r) => r.status },
    ],
    `agent ${name} has no tokens; issue one with \`agentsecrets agent token issue ${name}\``,
  );
}

/** `agent token revoke <token-id> --agent <name>` or `--all` (human-gated). */
export async function tokenRevoke(
  ctx: CliContext,
  tokenId: string | undefined,
  options: { agent?: string; all?: boolean; yes?: boolean; json?: boolean },
): Promise<void> {
  if (options.agent === undefined) throw new UsageError('name the agent: --agent NAME');
  if ((tokenId === undefined) === (options.all !== true)) {
    throw new UsageError('give either a token id or --all');
  }
  const workspace = await ctx.services().workspaces.currentWorkspace();
  const agent = await store(ctx).get(workspace.id, options.agent);
  if (tokenId !== undefined && !agent.tokens.some((t) => t.id === tokenId)) {
    throw new AgentSecretsError(
      'not_found',
      `agent ${agent.name} has no token ${tokenId}; see \`agentsecrets agent token list ${agent.name}\``,
    );
  }
  await requireHuman(ctx, {
    action:
      tokenId === undefined
        ? `Revoke every token of agent ${agent.name}`
        : `Revoke token ${tokenId} of agent ${agent.name}`,
    confirm: 'revoke',
    yes: options.yes,
  });
  const stamp = new Date().toISOString();
  const revoked: string[] = [];
  await changeAgents(ctx, workspace, (file) => {
    const target = file.agents.find((a) => a.id === agent.id);
    if (target === undefined) throw agentNotFound(agent.name);
    if (tokenId === undefined) target.generation++;
    for (const token of target.tokens) {
      if ((tokenId === undefined || token.id === tokenId) && token.revoked_at === null) {
        token.revoked_at = stamp;
        revoked.push(token.id);
      }
    }
  });
  if (options.json) return ctx.out.json({ agent: agent.name, revoked });
  ctx.out.line(
    revoked.length === 0
      ? 'nothing to revoke (already revoked)'
      : `revoked ${revoked.join(', ')}; they fail on their next call`,
  );
}

/** `agent policy set <name> …` (human-gated). */
export async function agentPolicySet(
  ctx: CliContext,
  name: string,
  options: {
    allowSecrets?: string;
    denySecrets?: string;
    allowDomains?: string;
    methods?: string;
    rate?: string;
    clear?: boolean;
    yes?: boolean;
    json?: boolean;
  },
): Promise<void> {
  const workspace = await ctx.services().workspaces.currentWorkspace();
  const agent = await store(ctx).get(workspace.id, name);
  const current: AgentRules = agent.rules ?? {
    allow_secrets: [],
    deny_secrets: [],
    allow_domains: [],
    methods: [],
    rate: null,
  };
  const rules: AgentRules | null = options.clear ? null : applyRuleOptions(current, options);
  await requireHuman(ctx, {
    action: `Change the rules of agent ${name}`,
    confirm: name,
    yes: options.yes,
  });
  await changeAgents(ctx, workspace, (file) => {
    const target = file.agents.find((a) => a.id === agent.id);
    if (target === undefined) throw agentNotFound(name);
    target.rules = rules;
  });
  const warning = shedWarning(name, workspace.policy.require_identity, rules);
  if (warning !== null) ctx.out.warn(`${warning.message}: ${warning.command}`);
  if (options.json) return ctx.out.json({ agent: name, rules, warning });
  printRules(ctx, rules, `agent ${name}`);
}

/** The command that makes every caller present an issued token. */
export const REQUIRE_ISSUED_COMMAND = 'agentsecrets workspace policy set --require-identity issued';

/**
 * Per-agent rules bind only issued tokens: while the workspace accepts lesser identities, an
 * agent can drop its token and fall under the default rules. Null when there is nothing to shed.
 */
export function shedWarning(
  name: string,
  minimum: 'anonymous' | 'declared' | 'issued',
  rules: AgentRules | null,
): { code: 'rules_can_be_shed'; minimum: string; message: string; command: string } | null {
  if (rules === null || minimum === 'issued') return null;
  return {
    code: 'rules_can_be_shed',
    minimum,
    message: `the rules of ${name} bind only its issued tokens, and this workspace accepts ${minimum === 'anonymous' ? 'anonymous and declared' : 'declared'} callers: ${name} can shed these rules by calling without its token (it then gets the workspace default rules). To require issued identities, run`,
    command: REQUIRE_ISSUED_COMMAND,
  };
}

/** `agent policy show <name>`. */
export async function agentPolicyShow(
  ctx: CliContext,
  name: string,
  options: { json?: boolean },
): Promise<void> {
  const workspace = await ctx.services().workspaces.currentWorkspace();
  const agent = await store(ctx).get(workspace.id, name);
  if (options.json) return ctx.out.json({ agent: name, rules: agent.rules });
  printRules(ctx, agent.rules, `agent ${name}`);
}

/** Applies --allow-secrets … --rate to a rule set (a value of 'none' clears one list). */
export function applyRuleOptions(
  current: AgentRules,
  options: {
    allowSecrets?: string;
    denySecrets?: string;
    allowDomains?: string;
    methods?: string;
    rate?: string;
  },
): AgentRules {
  const list = (text: string | undefined, previous: string[]) =>
    text === undefined
      ? previous
      : text === 'none'
        ? []
        : text
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== '');
  const domains = list(options.allowDomains, current.allow_domains).map(
    (d) => parseAllowlistEntry(d).text,
  );
  const methods = list(options.methods, current.methods).map((m) => m.toUpperCase());
  for (const m of methods)
    if (!/^[A-Z]+$/.test(m)) throw new UsageError(`'${m}' is not an HTTP method`);
  const rate =
    options.rate === undefined
      ? current.rate
      : options.rate === 'none'
        ? null
        : parseRate(options.rate).text;
  return {
    allow_secrets: list(options.allowSecrets, current.allow_secrets),
    deny_secrets: list(options.denySecrets, current.deny_secrets),
    allow_domains: domains,
    methods,
    rate,
  };
}

/** Prints a rule set for people. */
export function printRules(ctx: CliContext, rules: AgentRules | null, who: string): void {
  if (rules === null) {
    ctx.out.line(`${who}: no rules of its own (the workspace default rules apply)`);
    return;
  }
  const show = (items: string[]) => (items.length === 0 ? '(any)' : items.join(', '));
  ctx.out.line(`${who}:`);
  ctx.out.line(`  allow secrets:  ${show(rules.allow_secrets)}`);
  ctx.out.line(
    `  deny secrets:   ${rules.deny_secrets.length === 0 ? '(none)' : rules.deny_secrets.join(', ')}`,
  );
  ctx.out.line(`  allow domains:  ${show(rules.allow_domains)} (within the workspace allowlist)`);
  ctx.out.line(`  methods:        ${show(rules.methods)}`);
  ctx.out.line(`  rate:           ${rules.rate ?? '(unlimited)'}`);
}
