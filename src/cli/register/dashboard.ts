import type { Command } from 'commander';
import type { CommandKit } from './kit.js';

/** Declares dashboard and approvals; handlers load when their command runs. */
export function registerDashboardCommands(
  program: Command,
  { ctx, run, examples }: CommandKit,
): void {
  program
    .command('dashboard')
    .description(
      'open the local dashboard (served by the key holder on 127.0.0.1): activity, agents, allowlist, approvals',
    )
    .option('--port <port>', 'port for the dashboard (default: any free port)')
    .option('--no-open', 'print the login URL without opening a browser')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nPrints a login URL that works once, for 5 minutes; it becomes a session cookie in that browser.
A browser is opened only when a display exists. The key holder must be running.
${examples('agentsecrets dashboard', 'agentsecrets dashboard --no-open --port 8766')}`,
    )
    .action((opts) =>
      run(async () => (await import('../commands/dashboard.js')).dashboardOpen(ctx, opts)),
    );

  const approvals = program
    .command('approvals')
    .description('calls held for a human: list, watch, and the `approve` rules');
  approvals
    .command('list')
    .description('the calls waiting for approval now')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets approvals list'))
    .action((opts) =>
      run(async () => (await import('../commands/approvals.js')).approvalsList(ctx, opts)),
    );
  approvals
    .command('watch')
    .description('print calls as they start and stop waiting (decide in the dashboard)')
    .option('--json', 'one JSON object per line')
    .addHelpText('after', examples('agentsecrets approvals watch'))
    .action((opts) =>
      run(async () => (await import('../commands/approvals.js')).approvalsWatch(ctx, opts)),
    );
  approvals
    .command('rules')
    .description('the timeout, the unlisted-domain option and the approve rules')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets approvals rules'))
    .action((opts) =>
      run(async () => (await import('../commands/approvals.js')).approvalsRules(ctx, opts)),
    );
  const approvalRule = approvals.command('rule').description('add or remove approve rules');
  approvalRule
    .command('add')
    .description('hold matching calls until a human approves them (fields left out match all)')
    .option('--workspace <name>', 'workspace name or id')
    .option(
      '--agent <name>',
      "agent name: holds that agent's token-verified calls, and every anonymous or declared call",
    )
    .option('--secret <key>', 'secret name')
    .option('--domain <pattern>', 'domain pattern, as in the allowlist')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `
An --agent rule tells agents apart only by their issued tokens: a declared name (X-AS-Agent-ID,
--agent-id, an MCP client's name) is a claim any caller can make. So an anonymous or declared
call is held by every --agent rule whose other fields match, whatever name it gives.
${examples(
  'agentsecrets approvals rule add --secret STRIPE_KEY',
  'agentsecrets approvals rule add --agent billing --domain api.stripe.com',
)}`,
    )
    .action((opts) =>
      run(async () => (await import('../commands/approvals.js')).approvalsRuleAdd(ctx, opts)),
    );
  approvalRule
    .command('remove <id>')
    .description('remove an approve rule (human-gated)')
    .option('-y, --yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets approvals rule remove apr_abc123'))
    .action((id, opts) =>
      run(async () =>
        (await import('../commands/approvals.js')).approvalsRuleRemove(ctx, id, opts),
      ),
    );
  approvals
    .command('config')
    .description('how long calls wait, and whether unlisted domains are asked about (human-gated)')
    .option(
      '--ask-unlisted <on|off>',
      'ask a human instead of refusing a domain outside the allowlist',
    )
    .option('--timeout <seconds>', 'how long a held call waits (default 120)')
    .option('-y, --yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets approvals config --ask-unlisted on',
        'agentsecrets approvals config --timeout 60',
      ),
    )
    .action((opts) =>
      run(async () => (await import('../commands/approvals.js')).approvalsConfig(ctx, opts)),
    );
}
