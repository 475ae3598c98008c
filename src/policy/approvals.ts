import type { IdentityLevel } from '../audit/format.js';
import { AgentSecretsError, UsageError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import { matchAllowlist, parseAllowlistEntry } from './allowlist.js';
import {
  type ApprovalRule,
  type ApprovalsFile,
  MAX_APPROVAL_TIMEOUT_S,
} from '../store/approvals-file.js';

/**
 * Approval rules (issue 16): which calls a human approves before they go out. Pure matching
 * here; the held calls themselves live in approvals-queue.ts, and the engine's one call site
 * is the gate in approvals-gate.ts.
 *
 * An `approve` rule names any of workspace, agent, secret and domain pattern; a field left
 * out matches everything. `ask_unlisted` asks a human instead of refusing a domain that is
 * not in the allowlist. Rules only hold calls back: they never let through what the
 * allowlist, bindings or per-agent rules refuse.
 *
 * A rule scoped to an agent binds that agent's issued identity (a verified token) only: a
 * declared name is a claim, so it is not matched by name. Since an unverified caller (anonymous
 * or declared) could be that agent, it is held by every agent-scoped rule whose other fields
 * match: claiming another name, or none, never dodges a rule.
 */

export {
  type ApprovalRule,
  type ApprovalsFile,
  approvalsPath,
  type ApprovalsStore,
  createApprovalsStore,
  DEFAULT_APPROVAL_TIMEOUT_S,
  MAX_APPROVAL_TIMEOUT_S,
} from '../store/approvals-file.js';

/** What the gate knows of a call when it asks. */
export interface ApprovalSubject {
  workspaceId: string;
  workspaceName: string;
  agent: string | null;
  /** How the caller is known: only `issued` is matched by agent name. */
  level: IdentityLevel;
  keys: readonly string[];
  url: URL;
  /** The domain is in the allowlist. */
  listed: boolean;
}

/** Why a call needs a human, or undefined when it does not. */
export function approvalReason(
  file: ApprovalsFile,
  subject: ApprovalSubject,
): { kind: 'rule'; rule: ApprovalRule } | { kind: 'unlisted' } | undefined {
  if (!subject.listed) return file.ask_unlisted ? { kind: 'unlisted' } : undefined;
  const rule = file.rules.find((r) => ruleMatches(r, subject));
  return rule === undefined ? undefined : { kind: 'rule', rule };
}

/** True when every field the rule names matches the call. */
export function ruleMatches(rule: ApprovalRule, subject: ApprovalSubject): boolean {
  if (
    rule.workspace !== null &&
    rule.workspace !== subject.workspaceId &&
    rule.workspace !== subject.workspaceName
  )
    return false;
  // An unverified caller may be any agent: only a verified one is told apart by name.
  if (rule.agent !== null && subject.level === 'issued' && rule.agent !== subject.agent)
    return false;
  if (rule.secret !== null && !subject.keys.includes(rule.secret)) return false;
  if (
    rule.domain !== null &&
    matchAllowlist(subject.url, [parseAllowlistEntry(rule.domain)]) === undefined
  )
    return false;
  return true;
}

/** A new rule from command-line or form fields; at least one field must be given. */
export function newRule(
  fields: { workspace?: string; agent?: string; secret?: string; domain?: string },
  by: string,
  now: Date = new Date(),
): ApprovalRule {
  const clean = (v: string | undefined) => (v === undefined || v.trim() === '' ? null : v.trim());
  const domain = clean(fields.domain);
  const rule: ApprovalRule = {
    id: randomId('apr', 6),
    workspace: clean(fields.workspace),
    agent: clean(fields.agent),
    secret: clean(fields.secret),
    domain: domain === null ? null : parseAllowlistEntry(domain).text,
    added_at: now.toISOString(),
    added_by: by,
  };
  if (
    rule.workspace === null &&
    rule.agent === null &&
    rule.secret === null &&
    rule.domain === null
  )
    throw new UsageError(
      'an approve rule names at least one of --workspace, --agent, --secret or --domain',
    );
  return rule;
}

/** Parses a timeout in seconds within the allowed range. */
export function parseApprovalTimeout(text: string): number {
  const seconds = Number(text);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_APPROVAL_TIMEOUT_S)
    throw new UsageError(
      `the approval timeout is a whole number of seconds from 1 to ${MAX_APPROVAL_TIMEOUT_S}`,
    );
  return seconds;
}

/** The error a denied call fails with. */
export function approvalDenied(host: string, by: string): AgentSecretsError {
  return new AgentSecretsError(
    'approval_denied',
    `a human denied this call to ${host} (${by}); do not retry it unchanged, ask the human what to do instead`,
    { context: { domain: host } },
  );
}

/** The error a call that waited in vain fails with. */
export function approvalTimeout(
  host: string,
  seconds: number,
  dashboard: string | null,
): AgentSecretsError {
  return new AgentSecretsError(
    'approval_timeout',
    `this call to ${host} waited ${seconds} s for a human's approval and nobody answered. Ask the human to open ${dashboard ?? 'the dashboard (`agentsecrets dashboard`)'} or watch \`agentsecrets approvals watch\`, then retry`,
    { context: { domain: host } },
  );
}
