import type { AuditFilter } from '../audit/query.js';
import type { Services } from '../services/index.js';
import type { UnlockedVault } from '../vault/vault.js';

/**
 * The changes the dashboard makes (issue 16), done by the CLI's own command code so a token
 * issued or an allowlist entry added on the page follows exactly the rules, logs and strict-mode
 * sealing of the terminal command. The CLI builds them (src/cli/dashboard-actions.ts) and hands
 * them to the key holder when it starts: the dashboard imports no face and no use case.
 *
 * `passphrase` is what the human typed on the page: in strict mode it stands in for the one typed
 * at /dev/tty and is verified by the same gate (Argon2id, rate limit, audit entry).
 */
export interface DashboardActions {
  /**
   * `workspace allowlist add DOMAIN`; in `workspaceId` when given (an approval's own workspace),
   * else in the selected one.
   */
  allowlistAdd(domain: string, passphrase: string | undefined, workspaceId?: string): Promise<void>;
  allowlistRemove(domain: string, passphrase: string | undefined): Promise<void>;
  /** Issues a token; `line` is the token as the command printed it (shown once on the page). */
  tokenIssue(
    agent: string,
    options: { label?: string; ttl?: string },
    passphrase: string | undefined,
  ): Promise<{ notices: string[]; line: string | undefined }>;
  tokenRevoke(token: string, agent: string, passphrase: string | undefined): Promise<void>;
  /** `secrets bind KEY DOMAINS… --project P --env E [--styles …]`. */
  bindingSet(
    binding: BindingTarget & { domains: string[]; styles: string },
    passphrase: string | undefined,
  ): Promise<void>;
  /** `secrets unbind KEY --project P --env E`. */
  bindingRemove(binding: BindingTarget, passphrase: string | undefined): Promise<void>;
  /** `approvals rule add [--workspace W] [--agent A] [--secret S] [--domain D]`. */
  approvalRuleAdd(
    rule: { workspace?: string; agent?: string; secret?: string; domain?: string },
    passphrase: string | undefined,
  ): Promise<void>;
  /** `approvals rule remove ID`. */
  approvalRuleRemove(id: string, passphrase: string | undefined): Promise<void>;
  /** `approvals config [--ask-unlisted on|off] [--timeout SECONDS]`. */
  approvalsConfig(
    settings: { askUnlisted?: string; timeout?: string },
    passphrase: string | undefined,
  ): Promise<void>;
  /** Strict mode's gate for a decision that is no CLI command (an approval). */
  approveStrict(passphrase: string | undefined, action: string): Promise<void>;
  /** The Activity page's filter fields, parsed as `agentsecrets log` parses its flags. */
  filterFrom(raw: Record<string, string>): AuditFilter;
}

/** One secret of the current workspace, as `secrets bind` selects it. */
export interface BindingTarget {
  key: string;
  /** The project's name. */
  project: string;
  environment: string;
}

/** What the actions act on: the key holder's services and vault. */
export interface DashboardActionsContext {
  services: Services;
  /** The key holder's unlocked vault (outside strict mode, commands use it as it is). */
  vault: UnlockedVault;
  strict: boolean;
}

export type DashboardActionsFactory = (context: DashboardActionsContext) => DashboardActions;
