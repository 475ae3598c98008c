import type { GoneSignal } from '../core/hang-up.js';
import type { AuditInput, AuditSource, IdentityLevel } from '../audit/format.js';
import { AgentSecretsError } from '../core/errors.js';
import { randomId } from '../core/ids.js';

/**
 * Calls held for a human's decision, in the key holder's memory (issue 16). Each step is
 * audited: held, then approved, denied or timed out. Nothing here sees a value: a pending
 * request names the agent, identity level, secret names, method, host and path (never the
 * query string, which an agent controls and could fill with anything).
 */

/**
 * What a human decides: approve this call once; approve it and add its host to the allowlist
 * (offered for an unlisted domain) or to the binding of its secrets (offered when it carries
 * secret keys); or deny it.
 */
export type ApprovalDecision = 'approve_once' | 'approve_and_allow' | 'approve_and_bind' | 'deny';

/** Every decision, for the edges that parse one (dashboard form, CLI). */
export const APPROVAL_DECISIONS: readonly ApprovalDecision[] = [
  'approve_once',
  'approve_and_allow',
  'approve_and_bind',
  'deny',
];

/**
 * How many calls may wait at once (review finding: an agent could flood the dashboard and
 * `approvals watch` with held calls). Per caller, and in all.
 */
export interface ApprovalLimits {
  perCaller: number;
  total: number;
}

/** The default caps: 5 waiting calls per caller, 50 in all. */
export const DEFAULT_APPROVAL_LIMITS: ApprovalLimits = { perCaller: 5, total: 50 };

/** One held call, as the dashboard and `approvals watch` show it. */
export interface PendingApproval {
  id: string;
  /** The audit id the call's own entry will have. */
  request_id: string;
  created_at: string;
  expires_at: string;
  workspace: string;
  /**
   * The workspace's id: "approve and add to the allowlist" adds to this one, not to whichever
   * is selected when the human decides (an agent can switch it meanwhile; review finding).
   */
  workspace_id: string;
  /**
   * The project and environment whose secrets the call carries. The caller chooses them
   * (X-AS-Project, X-AS-Environment): a card that named only the secret would look the same
   * for the production key as for the development one (review finding).
   */
  project: string;
  environment: string;
  agent: string | null;
  identity_level: IdentityLevel;
  source: AuditSource;
  secret_keys: string[];
  method: string;
  host: string;
  path: string;
  /** `rule:<id>` or `unlisted` (the domain is outside the allowlist). */
  reason: string;
  /** The decisions a human may take on this call. */
  decisions: ApprovalDecision[];
}

/** What a caller of `hold` describes; the queue adds the id, times and decisions. */
export type ApprovalRequest = Omit<
  PendingApproval,
  'id' | 'created_at' | 'expires_at' | 'decisions'
>;

/** Why a call stopped waiting without a human's decision. */
type Ending = 'timeout' | 'cancelled';

/** A change to the queue, for live views. */
export type ApprovalEvent =
  | { type: 'held'; approval: PendingApproval }
  | {
      type: 'decided';
      approval: PendingApproval;
      outcome: ApprovalDecision | Ending;
      by: string;
    };

/** Where the queue writes its steps (the key holder's audit writer). */
export interface ApprovalAudit {
  append(input: AuditInput): Promise<unknown>;
}

export interface ApprovalQueueOptions {
  audit: ApprovalAudit;
  now?: () => Date;
  /** Caps on waiting calls; default {@link DEFAULT_APPROVAL_LIMITS}. */
  limits?: ApprovalLimits;
}

/** How a caller of `hold` follows its call. */
export interface HoldOptions {
  /** The caller went away: the call leaves the queue at once, audited as cancelled. */
  signal?: GoneSignal | undefined;
  /** Told once the call waits (so a client can tell its user where to decide). */
  onHeld?: ((approval: PendingApproval) => void) | undefined;
}

/** The held calls of one key holder. */
export interface ApprovalQueue {
  /**
   * Holds a call until a decision, `timeoutMs`, or `signal` (the caller went away: the call
   * leaves the queue at once, audited as cancelled); resolves with the decision or throws.
   * Refuses at once with `approval_queue_full` when the caller or the queue has too many.
   */
  hold(
    request: ApprovalRequest,
    timeoutMs: number,
    options?: HoldOptions,
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
  settle: (outcome: { decision: ApprovalDecision | Ending; by: string }) => void;
  timer: NodeJS.Timeout;
}

/**
 * Whose share of the queue a call uses. An issued identity is its own caller; a declared name
 * is only a claim (an agent can claim a new one per call), so every unverified caller of one
 * source (proxy, mcp, cli, sdk) shares one share.
 */
export function approvalCaller(request: ApprovalRequest): string {
  return request.identity_level === 'issued' && request.agent !== null
    ? `${request.workspace}\0issued\0${request.agent}`
    : `${request.workspace}\0unverified\0${request.source}`;
}

/** The decisions a call offers. */
function decisionsFor(request: ApprovalRequest): ApprovalDecision[] {
  return [
    'approve_once',
    ...(request.reason === 'unlisted' ? (['approve_and_allow'] as const) : []),
    ...(request.secret_keys.length > 0 ? (['approve_and_bind'] as const) : []),
    'deny',
  ];
}

const REASONS: Record<ApprovalDecision | Ending, string> = {
  approve_once: 'approval_granted',
  approve_and_allow: 'approval_granted_allowlisted',
  approve_and_bind: 'approval_granted_bound',
  deny: 'approval_denied',
  timeout: 'approval_timeout',
  cancelled: 'approval_cancelled',
};

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

  const audit = (
    approval: PendingApproval,
    reason: string,
    status: 'OK' | 'BLOCKED' | 'ERROR',
    by: string,
  ) =>
    options.audit.append({
      workspace: approval.workspace,
      project: approval.project,
      environment: approval.environment,
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

  const limits = options.limits ?? DEFAULT_APPROVAL_LIMITS;
  /** Places taken per caller (see approvalCaller), and in all. */
  const shares = new Map<string, number>();
  let taken = 0;

  async function holdTaken(request: ApprovalRequest, timeoutMs: number, hold: HoldOptions) {
    const { signal } = hold;
    const created = now();
    const approval: PendingApproval = {
      ...request,
      id: randomId('apv', 8),
      created_at: created.toISOString(),
      expires_at: new Date(created.getTime() + timeoutMs).toISOString(),
      decisions: decisionsFor(request),
    };
    await audit(approval, 'approval_pending', 'OK', 'agentsecrets');
    const outcome = await new Promise<{ decision: ApprovalDecision | Ending; by: string }>(
      (resolve) => {
        const gone = () => {
          if (!waiting.delete(approval.id)) return;
          clearTimeout(timer);
          resolve({ decision: 'cancelled', by: 'the caller went away' });
        };
        const settle = (o: { decision: ApprovalDecision | Ending; by: string }) => {
          signal?.removeEventListener('abort', gone);
          resolve(o);
        };
        const timer = setTimeout(() => {
          waiting.delete(approval.id);
          settle({ decision: 'timeout', by: 'timeout' });
        }, timeoutMs);
        waiting.set(approval.id, { approval, settle, timer });
        // The caller may have gone while the pending entry was written.
        if (signal?.aborted === true) return gone();
        signal?.addEventListener('abort', gone, { once: true });
        emit({ type: 'held', approval });
        try {
          hold.onHeld?.(approval);
        } catch {
          // A caller that cannot be told still waits for the human.
        }
      },
    );
    // Not awaited: the writer keeps appends in order, so the decision is logged before the
    // call's own entry, and an approved call does not wait for a disk write to resume.
    void audit(
      approval,
      REASONS[outcome.decision],
      outcome.decision === 'cancelled'
        ? 'ERROR'
        : outcome.decision === 'timeout' || outcome.decision === 'deny'
          ? 'BLOCKED'
          : 'OK',
      outcome.by,
    ).catch(() => undefined);
    emit({ type: 'decided', approval, outcome: outcome.decision, by: outcome.by });
    if (outcome.decision === 'cancelled') throw cancelled();
    if (outcome.decision === 'timeout')
      throw new AgentSecretsError('approval_timeout', 'no decision in time');
    if (outcome.decision === 'deny')
      throw new AgentSecretsError('approval_denied', `denied by ${outcome.by}`);
    return { decision: outcome.decision, by: outcome.by, approval };
  }

  return {
    async hold(request, timeoutMs, holdOptions = {}) {
      if (holdOptions.signal?.aborted === true) throw cancelled();
      // The cap is checked and the place taken before anything waits (no await in between),
      // so a burst of calls cannot all pass the check together.
      const caller = approvalCaller(request);
      const mine = shares.get(caller) ?? 0;
      if (mine >= limits.perCaller || taken >= limits.total)
        throw queueFull(mine >= limits.perCaller, limits);
      shares.set(caller, mine + 1);
      taken++;
      try {
        return await holdTaken(request, timeoutMs, holdOptions);
      } finally {
        taken--;
        const left = (shares.get(caller) ?? 1) - 1;
        if (left === 0) shares.delete(caller);
        else shares.set(caller, left);
      }
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
      if (!entry.approval.decisions.includes(decision))
        throw new AgentSecretsError(
          'bad_request',
          `${decision} is not offered for ${id}: choose one of ${entry.approval.decisions.join(', ')}`,
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

function cancelled(): AgentSecretsError {
  return new AgentSecretsError(
    'cancelled',
    'the caller went away while its call waited for approval; nothing was sent',
  );
}

function queueFull(mine: boolean, limits: ApprovalLimits): AgentSecretsError {
  return new AgentSecretsError(
    'approval_queue_full',
    mine
      ? `${limits.perCaller} of your calls already wait for a human's approval: wait for their answers (the human sees them in the dashboard or \`agentsecrets approvals watch\`) before you make more`
      : `${limits.total} calls already wait for a human's approval: retry after the human has answered them (dashboard or \`agentsecrets approvals watch\`)`,
  );
}
