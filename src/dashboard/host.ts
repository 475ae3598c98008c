import { Worker } from 'node:worker_threads';
import type { AuditEntry } from '../audit/format.js';
import type { ChainBreak } from '../audit/verify.js';
import { AgentSecretsError } from '../core/errors.js';
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
}

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
  const { actions } = options;
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
    async allow(_workspace, hostPort) {
      if (options.strict)
        throw new AgentSecretsError(
          'strict_mode',
          'strict mode: add the domain at a terminal with `agentsecrets workspace allowlist add`',
        );
      await actions.allowlistAdd(hostPort, undefined);
    },
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
