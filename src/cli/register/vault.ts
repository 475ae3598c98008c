import { type Command, Option } from 'commander';
import type { CommandKit } from './kit.js';

/** Declares vault, strict and doctor; handlers load when their command runs. */
export function registerVaultCommands(program: Command, { ctx, run, examples }: CommandKit): void {
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
    .action((opts) =>
      run(async () => (await import('../commands/vault.js')).vaultRekey(ctx, opts)),
    );

  const strict = program
    .command('strict')
    .description('strict mode: stop an agent that runs as your own user (see README)');
  strict
    .command('enable')
    .description('turn strict mode on: passphrase-only vault, sealed rights, passphrase gates')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nAsks at the terminal (/dev/tty): the vault passphrase, or for a keychain vault a
confirmation and a new passphrase. --yes does not exist here on purpose.
${examples('agentsecrets strict enable')}`,
    )
    .action((opts) =>
      run(async () => (await import('../commands/strict.js')).strictEnable(ctx, opts)),
    );
  strict
    .command('disable')
    .description('turn strict mode off (the vault passphrase, typed at the terminal)')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets strict disable'))
    .action((opts) =>
      run(async () => (await import('../commands/strict.js')).strictDisable(ctx, opts)),
    );
  strict
    .command('status')
    .description('is strict mode on, and is the key holder strict and non-dumpable')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples('agentsecrets strict status', 'agentsecrets strict status --json'),
    )
    .action((opts) =>
      run(async () => (await import('../commands/strict.js')).strictStatus(ctx, opts)),
    );
  strict
    .command('reseal')
    .description('accept the rights documents as they are now (after a state_tampered)')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets strict reseal'))
    .action((opts) =>
      run(async () => (await import('../commands/strict.js')).strictReseal(ctx, opts)),
    );

  program
    .command('doctor')
    .description('check this machine and state folder for what would let an agent in')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nExit code 0 only when no check fails (warnings do not fail).
${examples('agentsecrets doctor', 'agentsecrets doctor --json')}`,
    )
    .action((opts) => run(async () => (await import('../commands/doctor.js')).doctor(ctx, opts)));
}
