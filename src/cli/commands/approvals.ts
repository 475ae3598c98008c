import { setTimeout as sleep } from 'node:timers/promises';
import { AgentSecretsError } from '../../core/errors.js';
import { arr, obj } from '../../core/validate.js';
import {
  type ApprovalsFile,
  createApprovalsStore,
  newRule,
  parseApprovalTimeout,
} from '../../policy/approvals.js';
import { sealedApprovalsChange } from '../../strict/documents.js';
import type { PendingApproval } from '../../policy/approvals-queue.js';
import { postToKeyHolder } from '../../proxy/key-holder.js';
import { printable } from '../../sync/api.js';
import { type CliContext, requireHuman, requireStrictApproval } from '../context.js';
import { localActor } from './workspace.js';
import { keyHolderSocket } from './dashboard.js';

async function pendingNow(socket: string) {
  const r = await postToKeyHolder(socket, '/v1/dashboard/approvals', {});
  return {
    pending: arr(r.pending, 'pending').map((p) => obj(p, 'approval') as unknown as PendingApproval),
    dashboard: typeof r.dashboard_url === 'string' ? r.dashboard_url : null,
  };
}

/**
 * One waiting call as a line for a terminal. Every field is made printable (control characters
 * and bidi or invisible marks become `?`): an agent chooses its declared name and the path,
 * and an escape sequence in them must not repaint the human's terminal.
 */
export function describe(p: PendingApproval): string {
  const t = (v: unknown) => printable(v);
  const decisions = Array.isArray(p.decisions) ? p.decisions.map(t).join('|') : '';
  return `${t(p.id)}  ${p.agent === null ? '(anonymous)' : t(p.agent)} (${t(p.identity_level)}) ${t(p.method)} ${t(p.host)}${t(p.path)}  secrets: ${p.secret_keys.length === 0 ? 'none' : `${p.secret_keys.map(t).join(', ')} of ${t(p.project)}/${t(p.environment)}`}  workspace ${t(p.workspace)}  ${t(p.reason)}  until ${t(p.expires_at).slice(11, 19)}Z${decisions === '' ? '' : `  [${decisions}]`}`;
}

/** `approvals list`: the calls waiting now. */
export async function approvalsList(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const { pending, dashboard } = await pendingNow(await keyHolderSocket(ctx));
  if (options.json) return ctx.out.json(pending);
  if (pending.length === 0) return ctx.out.line('nothing is waiting for approval');
  for (const p of pending) ctx.out.line(describe(p));
  ctx.out.notice(`decide in the dashboard: ${dashboard ?? 'run `agentsecrets dashboard`'}`);
}

/** `approvals watch`: prints calls as they start and stop waiting, until interrupted. */
export async function approvalsWatch(
  ctx: CliContext,
  options: { json?: boolean; intervalMs?: number },
): Promise<void> {
  const socket = await keyHolderSocket(ctx);
  let shown = new Map<string, PendingApproval>();
  if (!options.json) ctx.out.notice('watching for calls that wait for approval (Ctrl-C stops)');
  for (;;) {
    const { pending, dashboard } = await pendingNow(socket);
    const now = new Map(pending.map((p) => [p.id, p]));
    for (const p of pending) {
      if (shown.has(p.id)) continue;
      if (options.json)
        ctx.out.line(JSON.stringify({ event: 'waiting', ...p, dashboard_url: dashboard }));
      else
        ctx.out.line(`WAITING  ${describe(p)}  → ${dashboard ?? 'run `agentsecrets dashboard`'}`);
    }
    for (const [id, p] of shown) {
      if (now.has(id)) continue;
      if (options.json)
        ctx.out.line(JSON.stringify({ event: 'done', id, request_id: p.request_id }));
      else ctx.out.line(`DONE     ${printable(id)} (see \`agentsecrets log\` for how it ended)`);
    }
    shown = now;
    await sleep(options.intervalMs ?? 500);
  }
}

/**
 * Writes approvals.json. In strict mode it is a sealed rights document: the change is checked
 * against the seal first and re-sealed under the vault's key (the gate has the passphrase).
 */
async function changeApprovals(
  ctx: CliContext,
  change: (file: ApprovalsFile) => void,
): Promise<ApprovalsFile> {
  if (!(await ctx.strict())) return createApprovalsStore(ctx.config.paths).update(change);
  const vault = await ctx.services().vault.unlock();
  try {
    return await sealedApprovalsChange({ paths: ctx.config.paths }, vault, change);
  } finally {
    vault.close();
  }
}

/** `approvals rules`: the configuration and the `approve` rules. */
export async function approvalsRules(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const file = await createApprovalsStore(ctx.config.paths).read();
  if (options.json) return ctx.out.json(file);
  ctx.out.line(
    `timeout ${file.timeout_s} s; domains outside the allowlist are ${file.ask_unlisted ? 'asked about' : 'refused'}`,
  );
  ctx.out.table(
    file.rules,
    [
      { header: 'RULE', value: (r) => r.id },
      { header: 'WORKSPACE', value: (r) => r.workspace ?? 'any' },
      { header: 'AGENT', value: (r) => r.agent ?? 'any' },
      { header: 'SECRET', value: (r) => r.secret ?? 'any' },
      { header: 'DOMAIN', value: (r) => r.domain ?? 'any' },
    ],
    'no approve rules; add one with `agentsecrets approvals rule add --domain api.example.com`',
  );
}

/** `approvals rule add`: holds matching calls for a human (it only ever restricts). */
export async function approvalsRuleAdd(
  ctx: CliContext,
  options: { workspace?: string; agent?: string; secret?: string; domain?: string; json?: boolean },
): Promise<void> {
  const rule = newRule(options, localActor());
  // Strict mode: sealing the new rule takes the vault key, so the passphrase is asked.
  if (await ctx.strict())
    await requireStrictApproval(ctx, { action: `Add approve rule ${rule.id}` });
  await changeApprovals(ctx, (file) => {
    file.rules.push(rule);
  });
  if (options.json) return ctx.out.json(rule);
  ctx.out.line(`added ${rule.id}: matching calls now wait for a human's approval`);
}

/** `approvals rule remove <id>` (human-gated: it lets calls through unasked). */
export async function approvalsRuleRemove(
  ctx: CliContext,
  id: string,
  options: { yes?: boolean; json?: boolean },
): Promise<void> {
  const store = createApprovalsStore(ctx.config.paths);
  if (!(await store.read()).rules.some((r) => r.id === id))
    throw new AgentSecretsError(
      'not_found',
      `no approve rule ${id}; see \`agentsecrets approvals rules\``,
    );
  await requireHuman(ctx, {
    action: `Remove approve rule ${id}`,
    confirm: 'remove',
    yes: options.yes,
  });
  await changeApprovals(ctx, (file) => {
    file.rules = file.rules.filter((r) => r.id !== id);
  });
  if (options.json) return ctx.out.json({ removed: id });
  ctx.out.line(`removed ${id}`);
}

/** `approvals config` (human-gated): the timeout, and asking for unlisted domains. */
export async function approvalsConfig(
  ctx: CliContext,
  options: { askUnlisted?: string; timeout?: string; yes?: boolean; json?: boolean },
): Promise<void> {
  if (options.askUnlisted === undefined && options.timeout === undefined)
    throw new AgentSecretsError(
      'usage_error',
      'give --ask-unlisted on|off and/or --timeout SECONDS',
    );
  if (options.askUnlisted !== undefined && !['on', 'off'].includes(options.askUnlisted))
    throw new AgentSecretsError('usage_error', '--ask-unlisted takes on or off');
  const timeout = options.timeout === undefined ? undefined : parseApprovalTimeout(options.timeout);
  await requireHuman(ctx, {
    action: `Set approvals: ${[
      options.askUnlisted === undefined ? '' : `ask for unlisted domains ${options.askUnlisted}`,
      timeout === undefined ? '' : `timeout ${timeout} s`,
    ]
      .filter((s) => s !== '')
      .join(', ')}`,
    confirm: 'yes',
    yes: options.yes,
  });
  const file = await changeApprovals(ctx, (f) => {
    if (options.askUnlisted !== undefined) f.ask_unlisted = options.askUnlisted === 'on';
    if (timeout !== undefined) f.timeout_s = timeout;
  });
  if (options.json)
    return ctx.out.json({ ask_unlisted: file.ask_unlisted, timeout_s: file.timeout_s });
  ctx.out.line(
    `timeout ${file.timeout_s} s; domains outside the allowlist are ${file.ask_unlisted ? 'asked about' : 'refused'}`,
  );
}
