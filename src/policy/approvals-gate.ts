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
}

/** Creates the hook. */
export function createApprovalGate(options: ApprovalGateOptions): ApprovalHook {
  return async ({ caller, workspace, url, method, keys, listed, requestId }) => {
    const file = await options.store.read();
    const why = approvalReason(file, {
      workspaceId: workspace.id,
      workspaceName: workspace.name,
      agent: caller.agentId,
      keys,
      url,
      listed,
    });
    if (why === undefined) return false;
    const hostPort = url.port === '' ? url.hostname : `${url.hostname}:${url.port}`;
    try {
      const { decision, by } = await options.queue.hold(
        {
          request_id: requestId,
          workspace: workspace.name,
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
      );
      if (decision === 'approve_and_allow' && !listed) await options.allow(workspace, hostPort, by);
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
