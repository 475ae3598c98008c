import { type Command } from 'commander';
import type { CommandKit } from './kit.js';

/** Declares secrets; handlers load when their command runs. */
export function registerSecretsCommands(
  program: Command,
  { ctx, run, sel, examples }: CommandKit,
): void {
  const secrets = program.command('secrets').description('store, list and manage secrets');
  sel(
    secrets
      .command('set <key-or-pairs...>')
      .description('store secrets; `set KEY` reads the value from stdin or a hidden prompt'),
  )
    .option('--domains <list>', 'also bind the key to these domains (human only, at a terminal)')
    .option(
      '--styles <list>',
      'with --domains: the injection styles allowed (bearer,basic,header,query,body,form)',
    )
    .option(
      '--allow-short',
      `let a value under 16 bytes be injected (human only; the redaction marker confirms guesses of it)`,
    )
    .option(
      '--placeholder-prefix <prefix>',
      'the public prefix its `run` placeholder keeps, for SDKs that check it (human only)',
    )
    .option(
      '--yes',
      'with --domains, --allow-short or --placeholder-prefix: skip the typed confirmation (a terminal is still required)',
    )
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets secrets set STRIPE_KEY            # hidden prompt',
        'agentsecrets secrets set DOOR_PIN --allow-short  # a short value a human accepts as guessable',
        'agentsecrets secrets set STRIPE_KEY --placeholder-prefix sk_live_',
        'printf %s "$VALUE" | agentsecrets secrets set STRIPE_KEY',
        'agentsecrets secrets set A=1 B=2               # works, but argv is visible to other processes',
      ),
    )
    .action((args, opts) =>
      run(async () => (await import('../commands/secrets.js')).secretsSet(ctx, args, opts)),
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
      run(async () => (await import('../commands/secrets.js')).secretsList(ctx, opts)),
    );
  sel(secrets.command('get <key>').description('reveal a value (a human, at a terminal only)'))
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .addHelpText('after', examples('agentsecrets secrets get STRIPE_KEY'))
    .action((key, opts) =>
      run(async () => (await import('../commands/secrets.js')).secretsGet(ctx, key, opts)),
    );
  sel(secrets.command('delete <key>').description('delete a secret'))
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets secrets delete OLD_KEY'))
    .action((key, opts) =>
      run(async () => (await import('../commands/secrets.js')).secretsDelete(ctx, key, opts)),
    );
  sel(
    secrets
      .command('import [file]')
      .description('load a .env file (default ./.env); reports counts, never values'),
  )
    .option('--strict', 'import nothing, and exit 1, if any line would be skipped')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nMalformed lines are skipped and reported by number (never by content); the rest is imported
and the exit code is 0. With --strict, any skipped line imports nothing and exits 1.
${examples('agentsecrets secrets import', 'agentsecrets secrets import .env.production --env production', 'agentsecrets secrets import --strict')}`,
    )
    .action((file, opts) =>
      run(async () => (await import('../commands/secrets.js')).secretsImport(ctx, file, opts)),
    );

  for (const [verb, description] of [
    [
      'push',
      'send local changes to the team workspace; refuses to overwrite newer remote versions',
    ],
    ['pull', 'take newer remote versions; keys changed on both sides keep their local value'],
    ['diff', 'compare with the team workspace: local_only, remote_only, out_of_sync, in_sync'],
  ] as const) {
    const cmd = sel(secrets.command(verb).description(description)).option(
      '--json',
      'print as JSON',
    );
    if (verb !== 'diff')
      cmd.option(
        '--force',
        verb === 'push'
          ? 'overwrite newer remote versions'
          : 'take the remote version of conflicting keys',
      );
    cmd
      .addHelpText(
        'after',
        examples(
          `agentsecrets secrets ${verb}`,
          `agentsecrets secrets ${verb} --env production --json`,
        ),
      )
      .action((opts) =>
        run(async () => (await import('../commands/team.js')).secretsSyncCommand(ctx, verb, opts)),
      );
  }

  sel(
    secrets
      .command('bind <key> <domains...>')
      .description('bind a secret to the domains it may be sent to (human only)'),
  )
    .option(
      '--styles <list>',
      'also restrict the injection styles (bearer,basic,header,query,body,form)',
    )
    .option('--all-envs', 'bind the key in every environment of the project')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nA bound secret is never injected toward any other host, even an allowlisted one.
${examples('agentsecrets secrets bind STRIPE_KEY api.stripe.com', 'agentsecrets secrets bind GH_TOKEN api.github.com uploads.github.com --styles bearer')}`,
    )
    .action((key, domains, opts) =>
      run(async () =>
        (await import('../commands/secrets.js')).secretsBind(ctx, key, domains, opts),
      ),
    );
  sel(
    secrets
      .command('unbind <key>')
      .description('remove the domain binding of a secret (human only)'),
  )
    .option('--all-envs', 'unbind the key in every environment of the project')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .action((key, opts) =>
      run(async () => (await import('../commands/secrets.js')).secretsUnbind(ctx, key, opts)),
    );
}
