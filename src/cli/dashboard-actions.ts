import type { CliContext } from './context.js';
import { requireStrictApproval } from './context.js';
import type { Output } from './output.js';
import type { Terminal } from './tty.js';
import { credentialService } from './credentials.js';
import { filterFrom } from './commands/log.js';
import { allowlistAdd, allowlistRemove } from './commands/workspace.js';
import { tokenIssue, tokenRevoke } from './commands/agent.js';
import { approvalsConfig, approvalsRuleAdd, approvalsRuleRemove } from './commands/approvals.js';
import { secretsBind, secretsUnbind } from './commands/secrets.js';
import { AgentSecretsError } from '../core/errors.js';
import { createServices, type Services } from '../services/index.js';
import { type App, createApp } from '../app/index.js';
import type { UnlockedVault } from '../vault/vault.js';
import type { DashboardActions, DashboardActionsContext } from '../dashboard/actions.js';

/**
 * Runs the CLI's own command code for a change made in the dashboard (issue 16), so a token
 * issued or an allowlist entry added there follows exactly the rules, logs and strict-mode
 * sealing of the terminal command. The human already proved presence with the session and
 * the CSRF token; in strict mode the passphrase typed on the page stands in for the one
 * typed at /dev/tty, and is verified by the same gate (Argon2id, rate limit, audit entry).
 * `agentsecrets proxy start` hands these actions to the key holder (src/dashboard imports
 * no CLI code).
 */
export function createDashboardActions(options: BridgeOptions): DashboardActions {
  return {
    async allowlistAdd(domain, passphrase, workspaceId) {
      await runAsCli(
        options,
        passphrase,
        (ctx) => allowlistAdd(ctx, [domain], { yes: true, json: true }),
        workspaceId,
      );
    },
    async allowlistRemove(domain, passphrase) {
      await runAsCli(options, passphrase, (ctx) =>
        allowlistRemove(ctx, domain, { yes: true, json: true }),
      );
    },
    async tokenIssue(agent, issue, passphrase) {
      const out = await runAsCli(options, passphrase, (ctx) =>
        tokenIssue(ctx, agent, { ...issue, yes: true }),
      );
      return { notices: out.notices, line: out.lines[0] };
    },
    async tokenRevoke(token, agent, passphrase) {
      await runAsCli(options, passphrase, (ctx) =>
        tokenRevoke(ctx, token, { agent, yes: true, json: true }),
      );
    },
    async bindingSet({ key, project, environment, domains, styles }, passphrase) {
      if (domains.length === 0)
        throw new AgentSecretsError(
          'usage_error',
          'name at least one domain to bind the secret to',
        );
      await runAsCli(options, passphrase, (ctx) =>
        secretsBind(ctx, key, domains, {
          project,
          env: environment,
          ...(styles === '' ? {} : { styles }),
          yes: true,
          json: true,
        }),
      );
    },
    async bindingRemove({ key, project, environment }, passphrase) {
      await runAsCli(options, passphrase, (ctx) =>
        secretsUnbind(ctx, key, { project, env: environment, yes: true, json: true }),
      );
    },
    async approvalRuleAdd(rule, passphrase) {
      await runAsCli(options, passphrase, (ctx) => approvalsRuleAdd(ctx, { ...rule, json: true }));
    },
    async approvalRuleRemove(id, passphrase) {
      await runAsCli(options, passphrase, (ctx) =>
        approvalsRuleRemove(ctx, id, { yes: true, json: true }),
      );
    },
    async approvalsConfig(settings, passphrase) {
      await runAsCli(options, passphrase, (ctx) =>
        approvalsConfig(ctx, { ...settings, yes: true, json: true }),
      );
    },
    approveStrict: (passphrase, action) => approveStrict(options, passphrase, action),
    filterFrom: (raw) => filterFrom(raw),
  };
}

/** What a command printed, captured. */
interface Captured {
  json: unknown;
  lines: string[];
  notices: string[];
}

type BridgeOptions = DashboardActionsContext;

/**
 * Runs `command` with a context whose output is captured. Its own human gate runs as at a
 * terminal; in strict mode that gate takes `passphrase` and verifies it.
 */
async function runAsCli(
  options: BridgeOptions,
  passphrase: string | undefined,
  command: (ctx: CliContext) => Promise<unknown>,
  workspaceId?: string,
): Promise<Captured> {
  const { ctx, captured } = bridgeContext(options, passphrase, workspaceId);
  await command(ctx);
  return captured;
}

/** Strict mode's gate for a decision that is no CLI command (an approval): the passphrase. */
async function approveStrict(
  options: BridgeOptions,
  passphrase: string | undefined,
  action: string,
): Promise<void> {
  if (!options.strict) return;
  const { ctx } = bridgeContext(options, passphrase);
  await requireStrictApproval(ctx, { action });
}

function bridgeContext(
  options: BridgeOptions,
  passphrase: string | undefined,
  workspaceId?: string,
): { ctx: CliContext; captured: Captured } {
  if (options.strict && (passphrase === undefined || passphrase === ''))
    throw new AgentSecretsError(
      'strict_mode',
      'strict mode: type the vault passphrase in the field next to the button to approve this change',
    );
  const captured: Captured = { json: undefined, lines: [], notices: [] };
  const out = {
    stdoutIsTTY: false,
    stderrIsTTY: false,
    json: (value: unknown) => {
      captured.json = value;
    },
    line: (text = '') => captured.lines.push(text),
    raw: (data: string | Uint8Array) => captured.lines.push(String(data)),
    table: () => undefined,
    notice: (text: string) => captured.notices.push(text),
    warn: (text: string) => captured.notices.push(text),
    progress: () => undefined,
    endProgress: () => undefined,
  } as unknown as Output;
  const refuse = () =>
    Promise.reject(
      new AgentSecretsError('needs_terminal', 'the dashboard cannot answer this prompt'),
    );
  let services: Services | undefined;
  let app: App | undefined;
  const ctx: CliContext = {
    config: options.services.config,
    out,
    prompt: { interactive: true, hidden: refuse, text: refuse },
    approvedPassphrase: undefined,
    services() {
      if (services !== undefined) return services;
      if (!options.strict) {
        // The held vault, with a close() that leaves it open for the key holder.
        const held = keepOpen(options.vault);
        services = pinWorkspace(
          {
            ...options.services,
            vault: { ...options.services.vault, unlock: async () => held },
          },
          workspaceId,
        );
        return services;
      }
      // Strict mode: every unlock derives the key from the passphrase typed on the page.
      services = pinWorkspace(
        createServices(options.services.config, {
          passphrase: {
            forUnlock: async () => {
              if (ctx.approvedPassphrase === undefined)
                throw new AgentSecretsError('unlock_failed', 'no passphrase');
              return ctx.approvedPassphrase;
            },
            forCreate: refuse,
          },
        }),
        workspaceId,
      );
      return services;
    },
    app() {
      // Commands run from the dashboard reach the vault in this process (the key holder).
      app ??= createApp(ctx.services(), { credentials: () => credentialService(ctx) });
      return app;
    },
    strict: async () => options.strict,
    terminal(): Terminal | undefined {
      if (passphrase === undefined) return undefined;
      return {
        prompter: { interactive: true, hidden: async () => passphrase, text: refuse },
        write: () => undefined,
        close: () => undefined,
      };
    },
    dispose: () => undefined,
  };
  return { ctx, captured };
}

/**
 * Services whose "current workspace" is `workspaceId` (when given), whatever config.json
 * selects: a change made for an approval lands in the call's workspace even if an agent
 * switched the selection while the call waited.
 */
function pinWorkspace(services: Services, workspaceId: string | undefined): Services {
  if (workspaceId === undefined) return services;
  const { workspaces } = services;
  return {
    ...services,
    workspaces: { ...workspaces, currentWorkspace: () => workspaces.require(workspaceId) },
  };
}

function keepOpen(vault: UnlockedVault): UnlockedVault {
  return new Proxy(vault, {
    get(target, property) {
      if (property === 'close') return () => undefined;
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function'
        ? (value as (...a: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}
