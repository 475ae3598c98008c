import { type Command, Option } from 'commander';
import type { CommandKit } from './kit.js';

/** Declares init, demo and status; handlers load when their command runs. */
export function registerSetupCommands(program: Command, { ctx, run, examples }: CommandKit): void {
  program
    .command('init')
    .description('create the state folder, the encrypted vault and a local workspace')
    .addOption(
      new Option('--backend <backend>', 'where the vault key lives')
        .choices(['auto', 'keychain', 'passphrase'])
        .default('auto'),
    )
    .option('--project <name>', 'first project (also binds this folder to it)')
    .option('--force', 'rewrite the generated files (never touches the vault)')
    .option('--no-gitignore', 'do not add .env* to an existing ./.gitignore')
    .option(
      '--weak-kdf-for-tests',
      'TESTS ONLY: a deliberately weak passphrase KDF, for fast test vaults',
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets init',
        'agentsecrets init --backend passphrase',
        'agentsecrets init --project billing-api',
      ),
    )
    .action((opts) => run(async () => (await import('../commands/init.js')).init(ctx, opts)));

  program
    .command('demo')
    .description('run the whole flow once with embedded defaults (no keychain, server or account)')
    .option('--keep', 'keep the throw-away state folder for inspection')
    .addHelpText('after', examples('agentsecrets demo'))
    .action((opts) => run(async () => (await import('../commands/demo.js')).demo(ctx, opts)));

  program
    .command('status')
    .description('show workspace, project, environment, vault key, secrets and proxy state')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets status', 'agentsecrets status --json'))
    .action((opts) => run(async () => (await import('../commands/status.js')).status(ctx, opts)));
}
