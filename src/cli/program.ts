import { Command } from 'commander';
import type { CliContext } from './context.js';
import { registerAccountCommands } from './register/account.js';
import { registerAgentCommands } from './register/agent.js';
import { registerCallsCommands } from './register/calls.js';
import { registerDashboardCommands } from './register/dashboard.js';
import { type CommandKit, examples, type Handler } from './register/kit.js';
import { registerLogCommands } from './register/log.js';
import { registerMcpCommands } from './register/mcp.js';
import { registerProjectCommands } from './register/project.js';
import { registerProxyCommands } from './register/proxy.js';
import { registerSecretsCommands } from './register/secrets.js';
import { registerSetupCommands } from './register/setup.js';
import { registerVaultCommands } from './register/vault.js';
import { registerWorkspaceCommands } from './register/workspace.js';

/** Collects the exit code of the action that ran. */
export interface ProgramRun {
  program: Command;
  /** Resolves with the exit code of the command that ran. */
  exitCode(): number;
}

/**
 * Assembles the program from the declaration files in ./register/ (one per command group, in
 * help order). Handlers are imported only when their command runs, so that
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

  const kit: CommandKit = {
    ctx,
    run,
    sel: (cmd) =>
      cmd
        .option('--project <name>', 'use this project instead of the selected one')
        .option('--env <environment>', 'development, staging or production'),
    examples,
  };
  for (const register of [
    registerSetupCommands,
    registerProjectCommands,
    registerSecretsCommands,
    registerCallsCommands,
    registerDashboardCommands,
    registerProxyCommands,
    registerWorkspaceCommands,
    registerAgentCommands,
    registerLogCommands,
    registerMcpCommands,
    registerAccountCommands,
    registerVaultCommands,
  ]) {
    register(program, kit);
  }

  return { program, exitCode: () => code };
}
