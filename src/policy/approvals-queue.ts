import type { AuditInput, AuditSource, IdentityLevel } from '../audit/format.js';
import { AgentSecretsError } from '../core/errors.js';
import { randomId } from '../core/ids.js';

/**
 * Calls held for a human's decision, in the key holder's memory (issue 16). Each step is
 * audited: held, then approved, denied or timed out. Nothing here sees a value: a pending
 * request names the agent, identity level, secret names, method, host and path (never the
 * query string, which an agent controls and could fill with anything).
 */

/** What a human decides. */
export type ApprovalDecision = 'approve_once' | 'approve_and_allow' | 'deny';

/** One held call, as the dashboard and `approvals watch` show it. */
export interface PendingApproval {
  id: string;
  /** The audit id the call's own entry will have. */
  request_id: string;
  created_at: string;
  expires_at: string;
  workspace: string;
  agent: string | null;
  identity_level: IdentityLevel;
  source: AuditSource;
  secret_keys: string[];
  method: string;
  host: string;
  path: string;
  /** `rule:<id>` or `unlisted` (the domain is outside the allowlist). */
  reason: string;
}

/** A change to the queue, for live views. */
export type ApprovalEvent =
  | { type: 'held'; approval: PendingApproval }
  | {
      type: 'decided';
      approval: PendingApproval;
      outcome: ApprovalDecision | 'timeout';
      by: string;
    };

/** Where the queue writes its steps (the key holder's audit writer). */
export interface ApprovalAudit {
  append(input: AuditInput): Promise<unknown>;
}

export interface ApprovalQueueOptions {
  audit: ApprovalAudit;
  now?: () => Date;
}

/** The held calls of one key holder. */
export interface ApprovalQueue {
  /** Holds a call until a decision or `timeoutMs`; resolves with the decision or throws. */
  hold(
    request: Omit<PendingApproval, 'id' | 'created_at' | 'expires_at'>,
    timeoutMs: number,
  ): Promise<{
    decision: Exclude<ApprovalDecision, 'deny'>;
    by: string;
    approval: PendingApproval;
  }>;
  pending(): PendingApproval[];
  /** Decides a pending call; `not_found` when it is gone (decided or timed out). */
  decide(id: string, decision: ApprovalDecision, by: string): Promise<PendingApproval>;
  subscribe(listener: (event: ApprovalEvent) => void): () => void;
  /** Denies everything still waiting (the key holder is stopping). */
  close(): void;
}

interface Waiting {
  approval: PendingApproval;
  settle: (outcome: { decision: ApprovalDecision | 'timeout'; by: string }) => void;
  timer: NodeJS.Timeout;
}

/** Creates the queue. */
export function createApprovalQueue(options: ApprovalQueueOptions): ApprovalQueue {
  const now = options.now ?? (() => new Date());
  const waiting = new Map<string, Waiting>();
  const listeners = new Set<(event: ApprovalEvent) => void>();
  const emit = (event: ApprovalEvent) => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch {
        // A broken view must not stop a decision.
      }
    }
  };

  const audit = (approval: PendingApproval, reason: string, status: 'OK' | 'BLOCKED', by: string) =>
    options.audit.append({
      workspace: approval.workspace,
      project: null,
      environment: null,
      agent_id: approval.agent,
      identity_level: approval.identity_level,
      token_id: null,
      source: approval.source,
      method: 'APPROVAL',
      target_url: `https://${approval.host}${approval.path}`,
      domain: approval.host.replace(/:\d+$/, ''),
      secret_keys: approval.secret_keys,
      auth_styles: [],
      status,
      status_code: null,
      reason,
      redacted: false,
      duration_ms: 0,
      command: `${approval.id} ${approval.method} for ${approval.request_id} (${approval.reason}) by ${by}`,
    });

  return {
    async hold(request, timeoutMs) {
      const created = now();
      const approval: PendingApproval = {
        ...request,
        id: randomId('apv', 8),
        created_at: created.toISOString(),
        expires_at: new Date(created.getTime() + timeoutMs).toISOString(),
      };
      await audit(approval, 'approval_pending', 'OK', 'agentsecrets');
      const outcome = await new Promise<{ decision: ApprovalDecision | 'timeout'; by: string }>(
        (resolve) => {
          const timer = setTimeout(() => {
            waiting.delete(approval.id);
            resolve({ decision: 'timeout', by: 'timeout' });
          }, timeoutMs);
          waiting.set(approval.id, { approval, settle: resolve, timer });
          emit({ type: 'held', approval });
        },
      );
      const reason =
        outcome.decision === 'timeout'
          ? 'approval_timeout'
          : outcome.decision === 'deny'
            ? 'approval_denied'
            : outcome.decision === 'approve_and_allow'
              ? 'approval_granted_allowlisted'
              : 'approval_granted';
      // Not awaited: the writer keeps appends in order, so the decision is logged before the
      // call's own entry, and an approved call does not wait for a disk write to resume.
      void audit(
        approval,
        reason,
        outcome.decision === 'timeout' || outcome.decision === 'deny' ? 'BLOCKED' : 'OK',
        outcome.by,
      ).catch(() => undefined);
      emit({ type: 'decided', approval, outcome: outcome.decision, by: outcome.by });
      if (outcome.decision === 'timeout')
        throw new AgentSecretsError('approval_timeout', 'no decision in time');
      if (outcome.decision === 'deny')
        throw new AgentSecretsError('approval_denied', `denied by ${outcome.by}`);
      return { decision: outcome.decision, by: outcome.by, approval };
    },
    pending() {
      return [...waiting.values()].map((w) => w.approval);
    },
    async decide(id, decision, by) {
      const entry = waiting.get(id);
      if (entry === undefined)
        throw new AgentSecretsError(
          'not_found',
          `no call ${id} is waiting (it was decided or timed out); see the pending list`,
        );
      waiting.delete(id);
      clearTimeout(entry.timer);
      entry.settle({ decision, by });
      return entry.approval;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      for (const [id, entry] of waiting) {
        waiting.delete(id);
        clearTimeout(entry.timer);
        entry.settle({ decision: 'deny', by: 'key holder stopping' });
      }
    },
  };
}
