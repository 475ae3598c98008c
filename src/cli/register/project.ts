import { type Command } from 'commander';
import type { CommandKit } from './kit.js';

/** Declares project and environment; handlers load when their command runs. */
export function registerProjectCommands(
  program: Command,
  { ctx, run, examples }: CommandKit,
): void {
  const project = program.command('project').description('manage projects in the workspace');
  project
    .command('create <name>')
    .description('create a project')
    .option('--description <text>', 'what the project is for')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets project create billing-api'))
    .action((name, opts) =>
      run(async () => (await import('../commands/project.js')).projectCreate(ctx, name, opts)),
    );
  project
    .command('list')
    .description('list projects; * marks the selected one')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets project list --json'))
    .action((opts) =>
      run(async () => (await import('../commands/project.js')).projectList(ctx, opts)),
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
      run(async () => (await import('../commands/project.js')).projectUse(ctx, name, opts)),
    );
  project
    .command('update <name>')
    .description('rename a project or change its description')
    .option('--name <new-name>', 'new name')
    .option('--description <text>', 'new description')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets project update billing-api --name billing'))
    .action((name, opts) =>
      run(async () => (await import('../commands/project.js')).projectUpdate(ctx, name, opts)),
    );
  project
    .command('delete <name>')
    .description('delete a project (refuses while it holds secrets, unless --force)')
    .option('--force', 'also delete its secrets')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets project delete old-api'))
    .action((name, opts) =>
      run(async () => (await import('../commands/project.js')).projectDelete(ctx, name, opts)),
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
      run(async () => (await import('../commands/environment.js')).environmentList(ctx, opts)),
    );
  environment
    .command('switch <environment>')
    .description('select an environment for this bound folder (or globally)')
    .option('--global', 'change the global selection even in a bound folder')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets environment switch staging'))
    .action((env, opts) =>
      run(async () =>
        (await import('../commands/environment.js')).environmentSwitch(ctx, env, opts),
      ),
    );
}
