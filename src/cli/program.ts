import { Command, Option } from 'commander';
import type { CliContext } from './context.js';

/** The result of a command handler: an exit code, or nothing for success. */
type Handler = () => Promise<number | void>;

/** Collects the exit code of the action that ran. */
export interface ProgramRun {
  program: Command;
  /** Resolves with the exit code of the command that ran. */
  exitCode(): number;
}

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

/**
 * Declares every command. Handlers are imported only when their command runs, so that
 * `agentsecrets secrets list` does not load the proxy, the MCP SDK or libsodium.
 */
export function buildProgram(ctx: CliContext): ProgramRun {
  let code = 0;
  const run = async (handler: Handler): Promise<void> => {
    const result = await handler();
    if (typeof result === 'number') code = result;
  };

  const program = new Command('agentsecrets')
    .description(
      'Zero-knowledge secrets for AI agents: agents use credentials by name and never see the values.',
    )
    .version('0.1.0', '-V, --version')
    .enablePositionalOptions()
    // Set before any subcommand exists: subcommands copy it when they are created.
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (text) => ctx.out.raw(text),
      writeErr: (text) => process.stderr.write(text),
    })
    .addHelpText(
      'after',
      examples(
        'agentsecrets init',
        'agentsecrets secrets set STRIPE_KEY',
        'agentsecrets secrets list',
        'agentsecrets env -- node server.js',
      ),
    );

  const sel = (cmd: Command) =>
    cmd
      .option('--project <name>', 'use this project instead of the selected one')
      .option('--env <environment>', 'development, staging or production');

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
    .action((opts) => run(async () => (await import('./commands/init.js')).init(ctx, opts)));

  program
    .command('demo')
    .description('run the whole flow once with embedded defaults (no keychain, server or account)')
    .option('--keep', 'keep the throw-away state folder for inspection')
    .addHelpText('after', examples('agentsecrets demo'))
    .action((opts) => run(async () => (await import('./commands/demo.js')).demo(ctx, opts)));

  program
    .command('status')
    .description('show workspace, project, environment, vault key, secrets and proxy state')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets status', 'agentsecrets status --json'))
    .action((opts) => run(async () => (await import('./commands/status.js')).status(ctx, opts)));

  const project = program.command('project').description('manage projects in the workspace');
  project
    .command('create <name>')
    .description('create a project')
    .option('--description <text>', 'what the project is for')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets project create billing-api'))
    .action((name, opts) =>
      run(async () => (await import('./commands/project.js')).projectCreate(ctx, name, opts)),
    );
  project
    .command('list')
    .description('list projects; * marks the selected one')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets project list --json'))
    .action((opts) =>
      run(async () => (await import('./commands/project.js')).projectList(ctx, opts)),
    );
  project
    .command('use <name>')
    .alias('link')
    .description('bind this folder to a project (./.agentsecrets/project.json)')
    .option('--global', 'select it for every folder instead of binding this one')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples('agentsecrets project use billing-api', 'agentsecrets project use default --global'),
    )
    .action((name, opts) =>
      run(async () => (await import('./commands/project.js')).projectUse(ctx, name, opts)),
    );
  project
    .command('update <name>')
    .description('rename a project or change its description')
    .option('--name <new-name>', 'new name')
    .option('--description <text>', 'new description')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets project update billing-api --name billing'))
    .action((name, opts) =>
      run(async () => (await import('./commands/project.js')).projectUpdate(ctx, name, opts)),
    );
  project
    .command('delete <name>')
    .description('delete a project (refuses while it holds secrets, unless --force)')
    .option('--force', 'also delete its secrets')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets project delete old-api'))
    .action((name, opts) =>
      run(async () => (await import('./commands/project.js')).projectDelete(ctx, name, opts)),
    );

  const environment = program
    .command('environment')
    .alias('env-switch')
    .description('list or switch environments (development, staging, production)');
  environment
    .command('list')
    .description('list environments; * marks the selected one')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('./commands/environment.js')).environmentList(ctx, opts)),
    );
  environment
    .command('switch <environment>')
    .description('select an environment for this bound folder (or globally)')
    .option('--global', 'change the global selection even in a bound folder')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets environment switch staging'))
    .action((env, opts) =>
      run(async () =>
        (await import('./commands/environment.js')).environmentSwitch(ctx, env, opts),
      ),
    );

  const secrets = program.command('secrets').description('store, list and manage secrets');
  sel(
    secrets
      .command('set <key-or-pairs...>')
      .description('store secrets; `set KEY` reads the value from stdin or a hidden prompt'),
  )
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets secrets set STRIPE_KEY            # hidden prompt',
        'printf %s "$VALUE" | agentsecrets secrets set STRIPE_KEY',
        'agentsecrets secrets set A=1 B=2               # works, but argv is visible to other processes',
      ),
    )
    .action((args, opts) =>
      run(async () => (await import('./commands/secrets.js')).secretsSet(ctx, args, opts)),
    );
  sel(secrets.command('list').description('list secret names and metadata (never values)'))
    .option('--all-envs', 'show which environments hold each key')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets secrets list',
        'agentsecrets secrets list --all-envs',
        'agentsecrets secrets list --json',
      ),
    )
    .action((opts) =>
      run(async () => (await import('./commands/secrets.js')).secretsList(ctx, opts)),
    );
  sel(secrets.command('get <key>').description('reveal a value (a human, at a terminal only)'))
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .addHelpText('after', examples('agentsecrets secrets get STRIPE_KEY'))
    .action((key, opts) =>
      run(async () => (await import('./commands/secrets.js')).secretsGet(ctx, key, opts)),
    );
  sel(secrets.command('delete <key>').description('delete a secret'))
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets secrets delete OLD_KEY'))
    .action((key, opts) =>
      run(async () => (await import('./commands/secrets.js')).secretsDelete(ctx, key, opts)),
    );
  sel(
    secrets
      .command('import [file]')
      .description('load a .env file (default ./.env); reports counts, never values'),
  )
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets secrets import',
        'agentsecrets secrets import .env.production --env production',
      ),
    )
    .action((file, opts) =>
      run(async () => (await import('./commands/secrets.js')).secretsImport(ctx, file, opts)),
    );

  sel(
    program
      .command('env')
      .description("run a command with the project's secrets as environment variables")
      .argument('<command...>', 'the command and its arguments (after --)')
      .option('--only <keys>', 'comma-separated keys to inject (default: all)')
      .option('--no-mask', 'do not mask values in output that goes to a pipe or file')
      .passThroughOptions(),
  )
    .addHelpText(
      'after',
      `\nOutput that does not go to a terminal is masked: any value the command prints becomes
[REDACTED_BY_AGENTSECRETS]. Signals (INT, TERM, HUP) are forwarded; the exit code passes
through (128+n for signal n).
${examples('agentsecrets env -- node server.js', 'agentsecrets env --only STRIPE_KEY -- ./deploy.sh --prod')}`,
    )
    .action((argv, opts) =>
      run(async () => (await import('./commands/env.js')).envRun(ctx, argv, opts)),
    );

  const vault = program.command('vault').description('manage the vault key');
  vault
    .command('rekey')
    .description(
      'change the passphrase, or move the vault key between the keychain and a passphrase',
    )
    .addOption(
      new Option('--to <backend>', 'where the key should live').choices(['keychain', 'passphrase']),
    )
    .option('--new-data-key', 'also re-encrypt every record under a new data key')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nAGENTSECRETS_PASSPHRASE opens the current vault; AGENTSECRETS_NEW_PASSPHRASE supplies the new one
without a prompt. Losing both the keychain entry and the passphrase loses the vault.
${examples('agentsecrets vault rekey', 'agentsecrets vault rekey --to passphrase', 'agentsecrets vault rekey --to keychain --new-data-key')}`,
    )
    .action((opts) => run(async () => (await import('./commands/vault.js')).vaultRekey(ctx, opts)));

  return { program, exitCode: () => code };
}
