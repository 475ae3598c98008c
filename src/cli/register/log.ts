import { type Command, Option } from 'commander';
import type { CommandKit } from './kit.js';

/** Declares log; handlers load when their command runs. */
export function registerLogCommands(program: Command, { ctx, run, examples }: CommandKit): void {
  const filters = (cmd: Command) =>
    cmd
      .option('--agent <name>', 'only this agent name, matched exactly (declared or issued)')
      .option('--identity <level>', 'anonymous, declared or issued')
      .option('--token <token-id>', 'only calls made with this token id')
      .option('--secret <KEY>', 'only entries that used this key')
      .option('--domain <host>', 'only calls to this host')
      .option('--method <method>', 'only this HTTP method')
      .option('--status <status>', 'OK, BLOCKED or ERROR')
      .option('--status-class <class>', '2xx, 3xx, 4xx or 5xx')
      .option('--redacted', 'only calls whose response was scrubbed')
      .option('--project <name>', 'only this project')
      .option('--env <environment>', 'only this environment')
      .option('--since <when>', 'from: 1h, 7d, 2026-11-20 or an ISO time')
      .option('--until <when>', 'to: 1h, 7d, 2026-11-20 or an ISO time');
  const log = program
    .command('log')
    .description('the tamper-evident audit log: list, show, summary, export, watch, verify, prune')
    .addHelpText(
      'after',
      '\n`agentsecrets log` alone runs `log list`; its filters are in `agentsecrets log list --help`.',
    );
  filters(
    log
      .command('list', { isDefault: true })
      .description('entries, newest first (the default: `agentsecrets log`)'),
  )
    .option('--limit <n>', 'how many entries', '50')
    .option('--tail', "follow new entries instead (the Go tool's name for `log watch`)")
    .option('--json', 'print as JSON')
    // `log shwo` reaches this default subcommand as an argument: answer it as a typo.
    .allowExcessArguments(true)
    .addHelpText(
      'after',
      examples(
        'agentsecrets log',
        'agentsecrets log --identity anonymous --since 24h',
        'agentsecrets log --agent billing-bot --status BLOCKED',
        'agentsecrets log --domain api.stripe.com --status-class 4xx --json',
      ),
    )
    .action((opts, cmd: Command) =>
      run(async () => {
        if (cmd.args[0] !== undefined)
          (await import('../suggest.js')).unknownSubcommand(log, cmd.args[0]);
        const commands = await import('../commands/log.js');
        return opts.tail ? commands.logWatch(ctx, opts) : commands.logList(ctx, opts);
      }),
    );
  log
    .command('show <id>')
    .alias('detail')
    .description(
      'everything about one entry: who, what, the policy decision, its place in the chain',
    )
    .option('--json', 'print as JSON')
    .action((id, opts) =>
      run(async () => (await import('../commands/log.js')).logShow(ctx, id, opts)),
    );
  log
    .command('summary')
    .description('totals by status and identity, top agents, secrets, domains and block reasons')
    .option('--since <when>', 'from: 1h, 7d, 2026-11-20 or an ISO time')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets log summary --since 7d'))
    .action((opts) => run(async () => (await import('../commands/log.js')).logSummary(ctx, opts)));
  filters(
    log
      .command('export')
      .description('stream entries as JSONL (exactly as stored) or CSV, with no row limit'),
  )
    .addOption(
      new Option('--format <format>', 'jsonl or csv').choices(['jsonl', 'csv']).default('jsonl'),
    )
    .option('--output <file>', 'write to a file (atomically) instead of stdout')
    .addHelpText(
      'after',
      examples('agentsecrets log export --since 30d --format csv --output audit.csv'),
    )
    .action((opts) => run(async () => (await import('../commands/log.js')).logExport(ctx, opts)));
  filters(
    log
      .command('watch')
      .description('follow new entries from every writer (proxy, MCP server, CLI, env)'),
  )
    .option('--json', 'one JSON entry per line')
    .action((opts) => run(async () => (await import('../commands/log.js')).logWatch(ctx, opts)));
  log
    .command('verify')
    .description(
      "check every entry's hash and link, and the signed checkpoints; exit 0 only when intact",
    )
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nReports the first broken place (segment, line, entry id) for an edited, deleted, inserted or
reordered entry and for a truncated segment. Checkpoint signatures are checked with the audit key
from the vault (via a running proxy, or by unlocking here). Entries after the last checkpoint are
an unsigned tail, not damage.
${examples('agentsecrets log verify', 'agentsecrets log verify --json')}`,
    )
    .action((opts) => run(async () => (await import('../commands/log.js')).logVerify(ctx, opts)));
  log
    .command('prune')
    .description('delete whole segments older than a date, with a signed checkpoint (human only)')
    .requiredOption('--before <when>', 'a date or time: 2026-01-01, 90d')
    .option('--dry-run', 'show what would go')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets log prune --before 90d --dry-run',
        'agentsecrets log prune --before 2026-01-01',
      ),
    )
    .action((opts) => run(async () => (await import('../commands/log.js')).logPrune(ctx, opts)));
}
