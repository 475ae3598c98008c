import { type Command, Option } from 'commander';
import type { CommandKit } from './kit.js';

/** Declares signup, login, logout and server; handlers load when their command runs. */
export function registerAccountCommands(
  program: Command,
  { ctx, run, examples }: CommandKit,
): void {
  program
    .command('signup')
    .description('create an account on a sync server (the password never leaves this machine)')
    .option('--server <url>', 'the sync server, e.g. https://sync.example.com')
    .option('--email <email>', 'your email')
    .option(
      '--invite <code>',
      "an admin's invite code: presents its one-time secret and pins their key for your first join",
    )
    .option('--json', 'print as JSON')
    .addOption(new Option('--weak-kdf-for-tests').hideHelp())
    .addHelpText(
      'after',
      `\nThe password is read at a hidden prompt, or from AGENTSECRETS_PASSWORD for automation.
${examples('agentsecrets signup --server http://127.0.0.1:8780 --email ada@example.com')}`,
    )
    .action((opts) =>
      run(async () => (await import('../commands/team.js')).signupCommand(ctx, opts)),
    );
  program
    .command('login')
    .description('sign in to a sync server')
    .option('--server <url>', 'the sync server (default: the last one)')
    .option('--email <email>', 'your email (default: the last one)')
    .option(
      '--invite <code>',
      "an admin's invite code: presents its one-time secret and pins their key for your first join",
    )
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples('agentsecrets login --server https://sync.example.com --email ada@example.com'),
    )
    .action((opts) =>
      run(async () => (await import('../commands/team.js')).loginCommand(ctx, opts)),
    );
  program
    .command('logout')
    .description('end the session on the server and forget it here')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('../commands/team.js')).logoutCommand(ctx, opts)),
    );

  const server = program
    .command('server')
    .description('the self-hosted zero-knowledge sync server');
  server
    .command('start')
    .description('run the sync server in the foreground')
    .option('--port <port>', 'port', '8780')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(
      new Option('--store <store>', 'file (embedded, one process) or postgres')
        .choices(['file', 'postgres'])
        .default('file'),
    )
    .option('--database-url <url>', 'for --store postgres (or AGENTSECRETS_DATABASE_URL)')
    .option(
      '--data <dir>',
      'the store (--store file) and the signing key file (default: <state folder>/server)',
    )
    .option(
      '--trust-proxy <cidrs>',
      'reverse proxies whose X-Forwarded-For names the client (for rate limits), e.g. 10.0.0.0/8',
    )
    .addOption(
      new Option('--signup <policy>', 'open, or invite (the first account is free)')
        .choices(['open', 'invite'])
        .default('invite'),
    )
    .addHelpText(
      'after',
      examples(
        'agentsecrets server start',
        'agentsecrets server start --store postgres --database-url postgres://agentsecrets@127.0.0.1:5432/agentsecrets',
      ),
    )
    .action((opts) =>
      run(async () => (await import('../commands/server.js')).serverStart(ctx, opts)),
    );
}
