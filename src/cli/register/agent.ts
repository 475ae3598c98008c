import { type Command } from 'commander';
import type { CommandKit } from './kit.js';

/** Declares agent (tokens, policy); handlers load when their command runs. */
export function registerAgentCommands(program: Command, { ctx, run, examples }: CommandKit): void {
  const agent = program
    .command('agent')
    .description('agents, their issued tokens, and their rules');
  agent
    .command('create <name>')
    .description('register an agent')
    .option('--description <text>', 'what the agent does')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples('agentsecrets agent create billing-bot --description "invoices"'),
    )
    .action((name, opts) =>
      run(async () => (await import('../commands/agent.js')).agentCreate(ctx, name, opts)),
    );
  agent
    .command('list')
    .description('agents with their tokens, call count and last use')
    .option('--json', 'print as JSON')
    .action((opts) => run(async () => (await import('../commands/agent.js')).agentList(ctx, opts)));
  agent
    .command('delete <name>')
    .description('revoke every token of an agent, then delete it (human only)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .action((name, opts) =>
      run(async () => (await import('../commands/agent.js')).agentDelete(ctx, name, opts)),
    );
  const token = agent.command('token').description("an agent's issued tokens");
  token
    .command('issue <name>')
    .description('issue a token; it is printed once on stdout and stored nowhere (human only)')
    .option('--label <label>', 'a note, e.g. where the token is used')
    .option('--ttl <duration>', 'lifetime, e.g. 30d, 12h (default 30d, at most 365d)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .addHelpText(
      'after',
      `\nGive the token to the agent as AGENTSECRETS_AGENT_TOKEN, or have it send X-AS-Agent-Token.
${examples('agentsecrets agent token issue billing-bot --label laptop --ttl 7d')}`,
    )
    .action((name, opts) =>
      run(async () => (await import('../commands/agent.js')).tokenIssue(ctx, name, opts)),
    );
  token
    .command('list <name>')
    .description('token ids, labels, expiry, last use and status')
    .option('--json', 'print as JSON')
    .action((name, opts) =>
      run(async () => (await import('../commands/agent.js')).tokenList(ctx, name, opts)),
    );
  token
    .command('revoke [token-id]')
    .description("revoke one token, or --all of an agent's tokens (human only)")
    .requiredOption('-a, --agent <name>', 'the agent')
    .option('--all', 'revoke every token of the agent')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets agent token revoke tok_abc --agent billing-bot',
        'agentsecrets agent token revoke --all --agent billing-bot',
      ),
    )
    .action((id, opts) =>
      run(async () => (await import('../commands/agent.js')).tokenRevoke(ctx, id, opts)),
    );
  const agentPolicy = agent
    .command('policy')
    .description("an agent's own rules (bind only its issued tokens)");
  agentPolicy
    .command('set <name>')
    .description('set the rules of an agent (human only); deny wins')
    .option('--allow-secrets <globs>', "secrets it may use, e.g. 'STRIPE_*' ('none' clears)")
    .option('--deny-secrets <globs>', 'secrets it may never use')
    .option('--allow-domains <list>', 'domains it may call, within the allowlist')
    .option('--methods <list>', 'HTTP methods, e.g. GET,POST')
    .option('--rate <rate>', "a rate such as 60/min ('none' clears)")
    .option('--clear', 'remove its rules (the workspace default rules apply again)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nRules bind only callers holding a verified token of this agent, and replace the workspace
default rules for them. A caller that merely claims the name (X-AS-Agent-ID) falls under the
workspace default rules.
${examples("agentsecrets agent policy set billing-bot --allow-secrets 'STRIPE_*' --allow-domains api.stripe.com --methods GET,POST --rate 60/min")}`,
    )
    .action((name, opts) =>
      run(async () => (await import('../commands/agent.js')).agentPolicySet(ctx, name, opts)),
    );
  agentPolicy
    .command('show <name>')
    .description('the rules of an agent')
    .option('--json', 'print as JSON')
    .action((name, opts) =>
      run(async () => (await import('../commands/agent.js')).agentPolicyShow(ctx, name, opts)),
    );
}
