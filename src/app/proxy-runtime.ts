import { randomBytes } from 'node:crypto';
import type { Services } from '../services/index.js';
import { syncSettings } from '../sync/settings.js';
import type { UnlockedVault } from '../vault/vault.js';
import {
  createLocalCredentialService,
  type LocalCredentialService,
} from '../proxy/credential-service.js';
import type { Resolver } from '../proxy/forward.js';
import { createProxyServer } from '../proxy/http-server.js';
import { serveKeyHolder } from '../proxy/key-holder.js';
import { runEndpoints } from '../run/endpoints.js';
import { createDashboardHost } from '../dashboard/host.js';
import type { DashboardActions, DashboardActionsFactory } from '../dashboard/actions.js';
import { AgentSecretsError } from '../core/errors.js';
import { type Interceptor, startInterceptor } from '../run/serve.js';
import { createAgentStore } from '../identity/agents.js';
import { rightsKeyOf } from '../strict/documents.js';
import { createRightsGuard } from '../strict/guard.js';
import { dumpable } from '../strict/harden.js';
import type { RightsDocument } from '../strict/rights.js';
import { clearProxyState, type ProxyState, writeProxyState } from '../proxy/state.js';

/** The version string the proxy reports on /health. */
export const PROXY_VERSION = '0.1.0';

export interface StartProxyOptions {
  services: Services;
  /** The unlocked vault the proxy holds for its lifetime. */
  vault: UnlockedVault;
  port: number;
  host: string;
  sessionToken: boolean;
  resolver?: Resolver;
  /** The intercepting proxy's port for `run` children (0 picks one; null turns it off). */
  interceptPort?: number | null;
  /** Strict mode: the caller has already hardened the process (see src/strict/harden.ts). */
  strict?: boolean;
  /**
   * The changes the dashboard makes (allowlist, tokens, strict approval), built by the CLI
   * (src/cli/dashboard-actions.ts). Without it the dashboard shows but refuses every change.
   */
  dashboardActions?: DashboardActionsFactory;
}

/** The dashboard's actions when the starter gave none: every change is refused. */
function noDashboardActions(): DashboardActions {
  const refuse = (): never => {
    throw new AgentSecretsError(
      'needs_terminal',
      'this key holder was started without the dashboard actions; start it with `agentsecrets proxy start`',
    );
  };
  return {
    allowlistAdd: async () => refuse(),
    allowlistRemove: async () => refuse(),
    tokenIssue: async () => refuse(),
    tokenRevoke: async () => refuse(),
    bindingSet: async () => refuse(),
    bindingRemove: async () => refuse(),
    approvalRuleAdd: async () => refuse(),
    approvalRuleRemove: async () => refuse(),
    approvalsConfig: async () => refuse(),
    approveStrict: async () => refuse(),
    filterFrom: () => ({}),
  };
}

/** A running proxy and key holder. */
export interface RunningProxy {
  readonly state: ProxyState;
  readonly credentials: LocalCredentialService;
  /** Stops accepting, finishes in-flight calls, flushes the audit log, removes proxy.json. */
  close(): Promise<void>;
}

/**
 * Follows the team workspaces' signed documents when this state folder is signed in to a
 * sync server and has joined one; undefined otherwise (nothing to follow).
 */
async function followTeams(services: Services, vault: UnlockedVault) {
  const config = await services.workspaces.readConfig();
  const teams = (await services.workspaces.readWorkspaces()).workspaces.some(
    (w) => w.kind === 'team',
  );
  if (!teams || config?.account === null || config?.account === undefined) return undefined;
  const { startTeamFollower } = await import('../sync/follow.js');
  return startTeamFollower({
    services,
    vault,
    intervalMs: syncSettings(services.config.env).intervalMs,
  });
}

/**
 * Starts the key holder (DESIGN §5): the HTTP proxy for agents on host:port, and the private
 * Unix socket for our own processes, both backed by one unlocked vault and one audit writer.
 */
export async function startProxy(options: StartProxyOptions): Promise<RunningProxy> {
  const { services } = options;
  const { paths } = services.config;
  const follower = await followTeams(services, options.vault);
  let report: (doc: RightsDocument, path: string) => void = () => undefined;
  const rights = options.strict
    ? createRightsGuard({
        paths,
        key: rightsKeyOf(options.vault),
        workspaces: services.workspaces,
        agents: createAgentStore(paths),
        vault: services.vault,
        onTamper: (doc, path) => report(doc, path),
      })
    : undefined;
  // Refuse to start on a document that does not match its seal: there is no good copy yet.
  await rights?.checkAll();
  // The dashboard and approvals (issue 16); the gate writes to the audit log built below.
  const dashboard = createDashboardHost({
    services,
    vault: options.vault,
    strict: options.strict === true,
    audit: () => credentials.audit,
    ...(rights === undefined ? {} : { verifiedApprovals: () => rights.approvals() }),
    actions: (options.dashboardActions ?? noDashboardActions)({
      services,
      vault: options.vault,
      strict: options.strict === true,
    }),
  });
  const credentials = await createLocalCredentialService({
    approve: dashboard.approve,
    ...(rights === undefined ? {} : { strict: { rights } }),
    config: services.config,
    workspaces: services.workspaces,
    vault: services.vault,
    unlock: async () => options.vault,
    signAudit: true,
    ...(follower === undefined ? {} : { teamFreshness: follower.lastSync }),
    ...(options.resolver === undefined ? {} : { resolver: options.resolver }),
  });
  report = (doc, path) => {
    process.stderr.write(
      `agentsecrets: state_tampered: ${path} was changed outside agentsecrets; its rights are not used (the last verified copy keeps serving). Check it, then restore it or run \`agentsecrets strict reseal\`.\n`,
    );
    void credentials.audit
      .append({
        workspace: null,
        project: null,
        environment: null,
        agent_id: null,
        identity_level: 'anonymous',
        token_id: null,
        source: 'proxy',
        method: 'STATE',
        target_url: null,
        domain: null,
        secret_keys: [],
        auth_styles: [],
        status: 'BLOCKED',
        status_code: null,
        reason: 'state_tampered',
        redacted: false,
        duration_ms: 0,
        command: doc,
      })
      .catch(() => undefined);
  };
  const sessionToken = options.sessionToken ? randomBytes(32).toString('hex') : null;
  const resolveTarget = async (names: { project?: string; environment?: string }) => {
    const current = await services.workspaces.resolve({
      project: names.project,
      environment: names.environment,
    });
    return current.target;
  };
  const defaultTarget = resolveTarget({});
  await defaultTarget;
  const http = createProxyServer({
    engine: credentials.engine,
    sessionToken,
    maxRequestBytes: services.config.limits.maxRequestBytes,
    version: PROXY_VERSION,
    // The project and environment selected when the proxy started serve every request that
    // names none (resolving walks the folder tree, too slow for each call); X-AS-Project and
    // X-AS-Environment pick others.
    resolveTarget: (names) =>
      names.project === undefined && names.environment === undefined
        ? defaultTarget
        : resolveTarget(names),
    // Identity belongs to each request: the proxy takes none from its own environment.
    identify: ({ agentId, agentToken }, target) =>
      credentials.identify({ agentId, token: agentToken, source: 'proxy' }, target.workspaceId),
    async sync() {
      if (follower === undefined)
        return {
          status: 'ok',
          synced: false,
          reason: 'no team workspace: the allowlist and policy are read from disk on every call',
        };
      const workspaces = await follower.syncNow();
      return { status: workspaces.every((w) => w.ok) ? 'ok' : 'error', synced: true, workspaces };
    },
  });
  const address = await http.listen(options.port, options.host);
  let holder: Awaited<ReturnType<typeof serveKeyHolder>>;
  let interceptor: Interceptor | undefined;
  try {
    // The intercepting proxy for `run` children, on its own loopback port (issue 13).
    if (options.interceptPort !== null) {
      interceptor = await startInterceptor({
        config: services.config,
        credentials,
        vault: services.vault,
        unlocked: options.vault,
        port: options.interceptPort ?? 0,
        host: '127.0.0.1',
      });
    }
    holder = await serveKeyHolder(
      paths.socket,
      credentials,
      interceptor === undefined ? undefined : runEndpoints(interceptor.runs),
      async () =>
        rights === undefined
          ? { strict: false }
          : {
              strict: true,
              dumpable: dumpable(),
              tampered: await rights.tampered().catch(() => []),
            },
      dashboard.endpoints,
    );
  } catch (err) {
    await interceptor?.close();
    await http.close();
    throw err;
  }
  const state: ProxyState = {
    pid: process.pid,
    host: options.host,
    port: address.port,
    socket: paths.socket,
    session_token: sessionToken,
    no_session_token: sessionToken === null,
    started_at: new Date().toISOString(),
    version: PROXY_VERSION,
    intercept_port: interceptor?.port ?? null,
  };
  await writeProxyState(paths, state);
  let closing: Promise<void> | undefined;
  return {
    state,
    credentials,
    close() {
      closing ??= (async () => {
        follower?.stop();
        await clearProxyState(paths, process.pid);
        await dashboard.close();
        await Promise.all([http.close(), holder.close(), interceptor?.close()]);
        await credentials.close();
        options.vault.close();
      })();
      return closing;
    },
  };
}
