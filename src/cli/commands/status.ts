import type { CliContext } from '../context.js';

/** `status`: where we are and what is here, without unlocking anything. */
export async function status(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const result = await ctx.app().status.snapshot();
  if (!result.initialized) {
    if (options.json) return ctx.out.json(result);
    ctx.out.line(`agentsecrets is not set up in ${result.home}.`);
    ctx.out.line('Run `agentsecrets init` to create the vault and a local workspace.');
    return;
  }
  const unbound = result.unbound_secrets;
  const selectionError = result.problem;
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
