import { isAgentSecretsError } from '../../core/errors.js';
import { readProxyState } from '../../proxy/state.js';
import { interceptStatus } from '../../run/endpoints.js';
import { isProcessAlive } from '../../store/fs.js';
import type { CliContext } from '../context.js';

/** `status`: where we are and what is here, without unlocking anything. */
export async function status(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const services = ctx.services();
  const config = await services.workspaces.readConfig();
  if (config === undefined || !(await services.vault.exists())) {
    const result = { initialized: false, home: ctx.config.paths.home };
    if (options.json) return ctx.out.json(result);
    ctx.out.line(`agentsecrets is not set up in ${ctx.config.paths.home}.`);
    ctx.out.line('Run `agentsecrets init` to create the vault and a local workspace.');
    return;
  }
  const header = await services.vault.read();
  let selection: Awaited<ReturnType<typeof services.workspaces.resolve>> | undefined;
  let selectionError: string | undefined;
  try {
    selection = await services.workspaces.resolve();
  } catch (err) {
    if (!isAgentSecretsError(err)) throw err;
    selectionError = err.message;
  }
  const records = selection ? await services.vault.list(selection.selection) : [];
  const unbound = records.filter((r) => r.binding === null).map((r) => r.key);
  const result = {
    initialized: true,
    home: ctx.config.paths.home,
    workspace: selection?.workspace.name ?? null,
    project: selection?.project.name ?? null,
    environment: selection?.environment ?? null,
    environment_source: selection?.sources.environment ?? null,
    bound_folder: selection?.binding?.path ?? null,
    backend: header.key.provider,
    secrets: records.length,
    unbound_secrets: unbound,
    last_pull: selection?.project.last_pull_at ?? null,
    last_push: selection?.project.last_push_at ?? null,
    remote: config.server_url,
    account:
      config.account === null
        ? null
        : {
            email: config.account.email,
            server: config.account.server_url,
            fingerprint: config.account.fingerprint ?? null,
          },
    team:
      selection?.workspace.team === undefined
        ? null
        : {
            role: selection.workspace.team.role,
            key_epoch: selection.workspace.team.epoch,
            document_seq: selection.workspace.team.doc_seq,
            synced_at: selection.workspace.team.synced_at,
          },
    proxy: await proxyInfo(ctx),
    intercept: await interceptStatus(ctx.config.paths),
    problem: selectionError ?? null,
  };
  if (options.json) return ctx.out.json(result);
  const rows: [string, string][] = [
    ['State folder', result.home],
    ['Workspace', result.workspace ?? '-'],
    [
      'Project',
      `${result.project ?? '-'}${result.bound_folder ? ` (bound: ${result.bound_folder})` : ''}`,
    ],
    [
      'Environment',
      `${result.environment ?? '-'}${result.environment_source ? ` (from ${result.environment_source})` : ''}`,
    ],
    ['Vault key', result.backend === 'keychain' ? 'OS keychain' : result.backend],
    ['Secrets', String(result.secrets)],
    ['Last pull', result.last_pull ?? 'never'],
    ['Last push', result.last_push ?? 'never'],
    ['Remote', result.remote ?? 'none (local workspace)'],
    [
      'Account',
      result.account === null
        ? 'not signed in'
        : `${result.account.email} on ${result.account.server}`,
    ],
    ...(result.account?.fingerprint
      ? [['Key fingerprint', result.account.fingerprint] as [string, string]]
      : []),
    ...(result.team === null
      ? []
      : [
          [
            'Team',
            `${result.team.role}, key epoch ${result.team.key_epoch}, document #${result.team.document_seq}, synced ${result.team.synced_at ?? 'never'}`,
          ] as [string, string],
        ]),
    [
      'Proxy',
      result.proxy.running
        ? `running on port ${result.proxy.port} (pid ${result.proxy.pid}${result.proxy.session_token_required ? '' : ', NO session token'})`
        : 'not running',
    ],
    [
      'Run proxy',
      result.intercept.up
        ? `intercepting on 127.0.0.1:${result.intercept.port}, ${result.intercept.active_runs} active run(s)`
        : 'not served by a key holder (`agentsecrets run` serves its own child; `agentsecrets proxy start` serves every run)',
    ],
  ];
  for (const [label, value] of rows) ctx.out.line(`${label.padEnd(12)} ${value}`);
  if (selectionError) ctx.out.warn(selectionError);
  if (unbound.length > 0) {
    ctx.out.warn(
      `${unbound.length} secret(s) are not bound to a domain (${unbound.slice(0, 5).join(', ')}${unbound.length > 5 ? ', …' : ''}): they can be sent to any allowlisted host. Bind them with \`agentsecrets secrets bind KEY api.example.com\``,
    );
  }
}

async function proxyInfo(ctx: CliContext) {
  const state = await readProxyState(ctx.config.paths);
  if (state === undefined || !isProcessAlive(state.pid)) return { running: false as const };
  return {
    running: true as const,
    pid: state.pid,
    port: state.port,
    host: state.host,
    session_token_required: !state.no_session_token,
  };
}
