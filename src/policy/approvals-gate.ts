import type { GoneSignal } from '../core/hang-up.js';
import type { Caller } from '../identity/caller.js';
import type { Target } from '../workspace/selection.js';
import type { Workspace } from '../workspace/model.js';
import { AgentSecretsError, isAgentSecretsError } from '../core/errors.js';
import {
  approvalDenied,
  approvalReason,
  approvalTimeout,
  type ApprovalsStore,
} from './approvals.js';
import type { ApprovalQueue } from './approvals-queue.js';

/** What the engine tells the gate about a call, after the allowlist lookup. */
export interface ApprovalContext {
  caller: Caller;
  workspace: Workspace;
  target: Target;
  url: URL;
  method: string;
  keys: string[];
  /** The domain is in the allowlist. */
  listed: boolean;
  requestId: string;
  /** Aborts when the caller goes away (client disconnected): a held call leaves the queue. */
  signal?: GoneSignal | undefined;
  /** Told when the call starts to wait for a human. */
  onHeld?: ((info: HeldInfo) => void) | undefined;
}

/** What a caller is told when its call waits: how long, and where a human decides. */
export interface HeldInfo {
  approval_id: string;
  timeout_s: number;
  /** The dashboard's approvals page, when a dashboard is serving. */
  dashboard_url: string | null;
}

/**
 * The engine's approval hook: resolves true when a human approved the call (which lets an
 * unlisted domain through, this once), false when no approval was needed; throws
 * `approval_denied` or `approval_timeout`.
 */
export type ApprovalHook = (context: ApprovalContext) => Promise<boolean>;

export interface ApprovalGateOptions {
  store: ApprovalsStore;
  queue: ApprovalQueue;
  /** The dashboard's address, when one is serving (named in a timeout's message). */
  dashboardUrl: () => string | null;
  /** "Approve and add to the allowlist": adds `hostPort` the way the CLI does. */
  allow: (workspace: Workspace, hostPort: string, by: string) => Promise<void>;
  /**
   * "Approve and add to the binding": binds each of `keys` (in the call's target) to
   * `hostPort` as well as to the domains it is bound to already.
   */
  bind: (
    target: Target,
    keys: readonly string[],
    hostPort: string,
    by: string,
    approvalId: string,
  ) => Promise<void>;
}

/** Creates the hook. */
export function createApprovalGate(options: ApprovalGateOptions): ApprovalHook {
  return async (context) => {
    const { caller, workspace, target, url, method, keys, listed, requestId } = context;
    // A URL's host may hold '*' (the URL parser lets it through), and no such host resolves:
    // held, its "add to the allowlist" or "bind" would add the wildcard pattern, every
    // subdomain, where the human approved one call (review finding). Refused before any rule.
    // Nor is a host longer than any DNS name (253): it would fill the card, `approvals watch`
    // and the audit with whatever the agent wrote.
    if (url.hostname.length > 253)
      throw new AgentSecretsError(
        'bad_request',
        `the target host is ${url.hostname.length} characters long, longer than any DNS name (253): call a real host name`,
      );
    if (url.hostname.includes('*'))
      throw new AgentSecretsError(
        'bad_request',
        `the target host ${url.hostname} is a pattern, not a host: call a real host name, e.g. https://api.example.com/v1/items`,
        { context: { domain: url.hostname } },
      );
    const file = await options.store.read();
    const why = approvalReason(file, {
      workspaceId: workspace.id,
      workspaceName: workspace.name,
      agent: caller.agentId,
      level: caller.level,
      keys,
      url,
      listed,
    });
    if (why === undefined) return false;
    const hostPort = url.port === '' ? url.hostname : `${url.hostname}:${url.port}`;
    try {
      const { decision, by, approval } = await options.queue.hold(
        {
          request_id: requestId,
          workspace: workspace.name,
          workspace_id: workspace.id,
          project:
            workspace.projects.find((p) => p.id === target.projectId)?.name ?? target.projectId,
          environment: target.environment,
          agent: caller.agentId,
          identity_level: caller.level,
          source: caller.source,
          secret_keys: [...keys],
          method,
          host: hostPort,
          path: url.pathname,
          reason: why.kind === 'rule' ? `rule:${why.rule.id}` : 'unlisted',
        },
        file.timeout_s * 1000,
        {
          signal: context.signal,
          onHeld: (approval) =>
            context.onHeld?.({
              approval_id: approval.id,
              timeout_s: file.timeout_s,
              dashboard_url: options.dashboardUrl(),
            }),
        },
      );
      if (decision === 'approve_and_allow' && !listed) await options.allow(workspace, hostPort, by);
      if (decision === 'approve_and_bind')
        await options.bind(target, keys, hostPort, by, approval.id);
      return true;
    } catch (err) {
      if (isAgentSecretsError(err, 'approval_denied'))
        throw approvalDenied(hostPort, err.message.replace(/^denied by /, ''));
      if (isAgentSecretsError(err, 'approval_timeout'))
        throw approvalTimeout(hostPort, file.timeout_s, options.dashboardUrl());
      throw err;
    }
  };
}

/**
 * The gate where no human can be asked: calls made in-process, with no key holder running.
 * A call an `approve` rule holds is refused (`approval_required`), never let through; an
 * unlisted domain is refused as before.
 */
export function createUnattendedGate(store: ApprovalsStore): ApprovalHook {
  return async ({ caller, workspace, url, keys, listed }) => {
    const why = approvalReason(await store.read(), {
      workspaceId: workspace.id,
      workspaceName: workspace.name,
      agent: caller.agentId,
      level: caller.level,
      keys,
      url,
      listed,
    });
    if (why?.kind !== 'rule') return false;
    throw new AgentSecretsError(
      'approval_required',
      `approve rule ${why.rule.id} holds this call for a human, and only the key holder can ask one: a human runs \`agentsecrets proxy start\` and \`agentsecrets dashboard\`, then retry`,
      { context: { domain: url.hostname } },
    );
  };
}
