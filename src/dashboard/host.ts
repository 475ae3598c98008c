import { Worker } from 'node:worker_threads';
import type { AuditEntry } from '../audit/format.js';
import type { ChainBreak } from '../audit/verify.js';
import { AgentSecretsError, isAgentSecretsError } from '../core/errors.js';
import { parseAllowlistEntry } from '../policy/allowlist.js';
import { gateWait } from '../strict/gate-wait.js';
import { num } from '../core/validate.js';
import { createApprovalGate, type ApprovalHook } from '../policy/approvals-gate.js';
import { type ApprovalsFile, createApprovalsStore } from '../policy/approvals.js';
import {
  type ApprovalAudit,
  createApprovalQueue,
  type ApprovalQueue,
} from '../policy/approvals-queue.js';
import type { Services } from '../services/index.js';
import type { UnlockedVault } from '../vault/vault.js';
import { createDashboardAuth } from './auth.js';
import type { DashboardActions } from './actions.js';
import type { Target } from '../workspace/selection.js';
import { type AuditFeed, startAuditFeed } from './feed.js';
import { createOverviewIndex, type IndexSnapshot, indexed } from './index.js';
import { createDashboardServer } from './server.js';

/**
 * The key holder's side of the dashboard and of approvals (issue 16): the approval gate the
 * engine calls, the queue of held calls, and the dashboard server, started on the first
 * `agentsecrets dashboard`. The key holder routes /v1/dashboard/* on its socket here.
 */
export interface DashboardHost {
  approve: ApprovalHook;
  readonly queue: ApprovalQueue;
  /** Socket endpoints: /v1/dashboard/start, /v1/dashboard/approvals. */
  endpoints(
    path: string,
    body: Record<string, unknown>,
  ): Promise<Record<string, unknown> | undefined>;
  close(): Promise<void>;
}

export interface DashboardHostOptions {
  services: Services;
  vault: UnlockedVault;
  strict: boolean;
  /** The key holder's audit writer (built after this host: read on use). */
  audit: () => ApprovalAudit;
  /** Strict mode: the verified approvals.json (the last good copy while the file is tampered). */
  verifiedApprovals?: () => Promise<ApprovalsFile>;
  /** The changes the page makes, built by the CLI (src/cli/dashboard-actions.ts). */
  actions: DashboardActions;
  /** Logins per minute /v1/dashboard/start hands out; default {@link MAX_STARTS_PER_MINUTE}. */
  maxStartsPerMinute?: number;
  now?: () => number;
}

/** Each /v1/dashboard/start mints a login token: a few a minute are plenty for a human. */
export const MAX_STARTS_PER_MINUTE = 5;

/** What the scan worker (scan-worker.ts) posts. */
type ScanMessage =
  | { type: 'index'; snapshot: IndexSnapshot; lastId: string | null }
  | {
      type: 'chain';
      ok: boolean;
      entries: number;
      segments: number;
      firstBreak: ChainBreak | null;
    };

/** Creates the host; nothing listens until the first /v1/dashboard/start. */
export function createDashboardHost(options: DashboardHostOptions): DashboardHost {
  const now = options.now ?? (() => Date.now());
  const actions = guardPassphrases(options.actions, now);
  const starts: number[] = [];
  const file = createApprovalsStore(options.services.config.paths);
  const store = { ...file, read: options.verifiedApprovals ?? file.read };
  const queue = createApprovalQueue({
    audit: { append: (input) => options.audit().append(input) },
  });
  let running:
    | {
        url: string;
        port: number;
        server: ReturnType<typeof createDashboardServer>;
        feed: AuditFeed;
        worker: Worker;
      }
    | undefined;
  let starting: Promise<NonNullable<typeof running>> | undefined;
  const auth = createDashboardAuth();

  const approve = createApprovalGate({
    store,
    queue,
    dashboardUrl: () => (running === undefined ? null : `${running.url}/approvals`),
    async allow(workspace, hostPort) {
      if (options.strict)
        throw new AgentSecretsError(
          'strict_mode',
          'strict mode: add the domain at a terminal with `agentsecrets workspace allowlist add`',
        );
      await actions.allowlistAdd(hostPort, undefined, workspace.id);
    },
    bind: (target, keys, hostPort, by, approvalId) =>
      bindToHost(options, target, keys, hostPort, `${approvalId} by ${by}`),
  });

  async function start(port: number) {
    const dir = options.services.config.paths.auditDir;
    const index = createOverviewIndex();
    const feed = startAuditFeed(dir);
    // Entries that arrive while the worker reads the log wait here: the worker may read some
    // of them too, and says which entry it read last.
    let buffered: AuditEntry[] | undefined = [];
    feed.subscribe((entry) => {
      if (buffered !== undefined) buffered.push(entry);
      else index.add(indexed(entry));
    });
    let chain: { text: string; ok: boolean | null } = {
      text: 'Checking the hash chain…',
      ok: null,
    };
    const server = createDashboardServer({
      services: options.services,
      strict: options.strict,
      actions,
      auth,
      index,
      feed,
      queue,
      approvals: store,
      chain: () => chain,
    });
    const bound = await server.listen(port);
    const settleIndex = (snapshot: IndexSnapshot | undefined, lastId: string | null) => {
      if (buffered === undefined) return;
      if (snapshot !== undefined) index.merge(snapshot);
      const at = lastId === null ? -1 : buffered.findIndex((e) => e.id === lastId);
      for (const entry of buffered.slice(at + 1)) index.add(indexed(entry));
      buffered = undefined;
      index.markReady();
    };
    const worker = new Worker(new URL('./scan-worker.js', import.meta.url), {
      workerData: { dir },
    });
    worker.on('message', (message: ScanMessage) => {
      if (message.type === 'index') return settleIndex(message.snapshot, message.lastId);
      chain = message.ok
        ? {
            ok: true,
            text: `Intact: ${message.entries} entries in ${message.segments} segment(s) link up (hashes checked when the dashboard started; run \`agentsecrets log verify\` for signatures).`,
          }
        : {
            ok: false,
            text: `BROKEN at ${message.firstBreak?.segment ?? '?'} line ${message.firstBreak?.line ?? '?'}: run \`agentsecrets log verify\` for the details.`,
          };
    });
    worker.on('error', () => {
      // The counts stay partial (live entries only); the page says the chain is unknown.
      settleIndex(undefined, null);
      if (chain.ok === null)
        chain = { ok: false, text: 'The log could not be read; run `agentsecrets log verify`.' };
    });
    worker.unref();
    return { url: `http://127.0.0.1:${bound}`, port: bound, server, feed, worker };
  }

  return {
    approve,
    queue,
    async endpoints(path, body) {
      if (path === '/v1/dashboard/start') {
        const at = now();
        while (starts.length > 0 && at - starts[0]! >= 60_000) starts.shift();
        const limit = options.maxStartsPerMinute ?? MAX_STARTS_PER_MINUTE;
        if (starts.length >= limit)
          throw new AgentSecretsError(
            'rate_limited',
            `the dashboard handed out ${limit} logins in the last minute: open the last login URL, or run \`agentsecrets dashboard\` again in ${Math.ceil((starts[0]! + 60_000 - at) / 1000)} s`,
          );
        starts.push(at);
        const wanted = body.port === undefined || body.port === null ? 0 : num(body.port, 'port');
        if (running === undefined) {
          starting ??= start(wanted);
          try {
            running = await starting;
          } finally {
            starting = undefined;
          }
        }
        return {
          url: running.url,
          port: running.port,
          login_url: `${running.url}/login?token=${auth.issueLogin()}`,
          strict: options.strict,
        };
      }
      if (path === '/v1/dashboard/approvals')
        return {
          pending: queue.pending(),
          dashboard_url: running === undefined ? null : `${running.url}/approvals`,
        };
      return undefined;
    },
    async close() {
      queue.close();
      running?.feed.close();
      await running?.worker.terminate();
      await running?.server.close();
    },
  };
}

/**
 * "Approve and add to the binding" (issue 16): binds each key of the call, in the call's
 * target, to `hostPort` besides the domains it is bound to already (an unbound key becomes
 * bound to `hostPort` alone). Written with the key holder's vault, as `secrets bind` writes
 * it: in strict mode the write checks the records' seal first and seals the new binding, so a
 * hand-edited binding is never blessed. Audited key by key.
 */
async function bindToHost(
  options: DashboardHostOptions,
  target: Target,
  keys: readonly string[],
  hostPort: string,
  why: string,
): Promise<void> {
  const domain = parseAllowlistEntry(hostPort).text;
  const selection = {
    workspace_id: target.workspaceId,
    project_id: target.projectId,
    environment: target.environment,
  };
  const found = await options.services.vault.lookup(selection, keys);
  for (const key of keys) {
    const meta = found.get(key);
    // A key with no record is refused by the engine (`secret_not_found`) after this.
    if (meta === undefined) continue;
    const before = meta.binding?.domains ?? [];
    const domains = before.includes(domain) ? before : [...before, domain];
    if (domains !== before)
      await options.vault.setBinding(selection, key, {
        domains,
        styles: meta.binding?.styles ?? [],
      });
    await options.audit().append({
      workspace: null,
      project: null,
      environment: target.environment,
      agent_id: null,
      identity_level: 'anonymous',
      token_id: null,
      source: 'cli',
      method: 'BIND',
      target_url: null,
      domain: domain.replace(/:\d+$/, ''),
      secret_keys: [key],
      auth_styles: [],
      status: 'OK',
      status_code: null,
      reason: domains === before ? 'binding_unchanged' : 'binding_added',
      redacted: false,
      duration_ms: 0,
      command: `${key} bound to ${domains.join(', ')}${domains === before ? ' (already)' : ` (was ${before.length === 0 ? 'unbound' : before.join(', ')})`}: approval ${why}`,
    });
  }
}

/**
 * The dashboard's actions, with wrong passphrases counted in the key holder's memory too. The
 * terminal gate keeps its back-off in gate.json, which an agent running as the same user can
 * delete to guess again at once; the key holder's count it cannot reset. Attempts run one at a
 * time, so a burst of guesses cannot all pass the check before the first one fails.
 */
export function guardPassphrases(
  actions: DashboardActions,
  now: () => number = () => Date.now(),
): DashboardActions {
  let failures: number[] = [];
  let last: Promise<unknown> = Promise.resolve();
  const attempt = <T>(passphrase: string | undefined, work: () => Promise<T>): Promise<T> => {
    if (passphrase === undefined || passphrase === '') return work();
    const run = last.then(async () => {
      const wait = gateWait(failures, now());
      if (wait > 0)
        throw new AgentSecretsError(
          'rate_limited',
          `too many wrong passphrases on the dashboard: try again in ${Math.ceil(wait / 1000)} s`,
        );
      try {
        const result = await work();
        failures = [];
        return result;
      } catch (err) {
        if (isAgentSecretsError(err, 'unlock_failed')) failures = [...failures, now()];
        throw err;
      }
    });
    last = run.catch(() => undefined);
    return run;
  };
  // Every action that takes a passphrase (review finding: the binding and approval-rule ones
  // were left out, so guesses there went on after the back-off shut the others).
  return {
    filterFrom: actions.filterFrom,
    allowlistAdd: (domain, p, workspaceId) =>
      attempt(p, () => actions.allowlistAdd(domain, p, workspaceId)),
    allowlistRemove: (domain, p) => attempt(p, () => actions.allowlistRemove(domain, p)),
    tokenIssue: (agent, issue, p) => attempt(p, () => actions.tokenIssue(agent, issue, p)),
    tokenRevoke: (token, agent, p) => attempt(p, () => actions.tokenRevoke(token, agent, p)),
    bindingSet: (binding, p) => attempt(p, () => actions.bindingSet(binding, p)),
    bindingRemove: (binding, p) => attempt(p, () => actions.bindingRemove(binding, p)),
    approvalRuleAdd: (rule, p) => attempt(p, () => actions.approvalRuleAdd(rule, p)),
    approvalRuleRemove: (id, p) => attempt(p, () => actions.approvalRuleRemove(id, p)),
    approvalsConfig: (settings, p) => attempt(p, () => actions.approvalsConfig(settings, p)),
    approveStrict: (p, action) => attempt(p, () => actions.approveStrict(p, action)),
  };
}
