import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { AgentSecretsError, UsageError } from '../../core/errors.js';
import { parseKeyList } from '../../core/keys.js';
import { runWithSecrets } from '../../env/runner.js';
import { findProgram } from '../../env/which.js';
import { compileScrubber } from '../../core/scrub/scrubber.js';
import { WITHHELD } from '../../run/child-env.js';
import { type CliContext, requireStrictApproval } from '../context.js';
import { credentialService, presentedIdentity } from '../credentials.js';
import type { SelectionOptions } from './secrets.js';

/**
 * Words that mean `environment` was meant (`env list`, `env switch production`): run as a
 * program only when given after `--`.
 */
const ENVIRONMENT_WORDS = ['list', 'switch', 'development', 'staging', 'production'];

/** True when `command` appears after a `--` in the raw arguments. */
export function givenAfterDashes(rawArgs: readonly string[], command: string): boolean {
  const dashes = rawArgs.indexOf('--');
  return dashes !== -1 && rawArgs.indexOf(command, dashes + 1) !== -1;
}

/** `env [--only K1,K2] [--no-mask] -- CMD ARGS…`: runs CMD with the project's secrets. */
export async function envRun(
  ctx: CliContext,
  argv: string[],
  options: SelectionOptions & {
    only?: string;
    mask?: boolean;
    /** Strict mode: hand the child the real values (a human approves the command line). */
    real?: boolean;
    agentId?: string;
    token?: string;
    /** CMD came after `--`: run it whatever its name. */
    afterDashes?: boolean;
  },
): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined)
    throw new UsageError('give a command: `agentsecrets env -- CMD ARGS…`');
  if (ENVIRONMENT_WORDS.includes(command) && options.afterDashes !== true) {
    const meant = command === 'list' ? 'list' : command === 'switch' ? args.join(' ') : command;
    throw new UsageError(
      `\`agentsecrets env\` runs a program with your secrets; '${command}' looks like a subcommand of \`environment\`. Did you mean \`agentsecrets environment ${command === 'list' ? 'list' : `switch ${meant}`.trimEnd()}\`? To run a program named ${command}, put it after --: \`agentsecrets env -- ${argv.join(' ')}\``,
    );
  }
  const only = parseKeyList(options.only);
  const identity = presentedIdentity(ctx, options, 'env');

  const services = ctx.services();
  const current = await services.workspaces.resolve({
    project: options.project,
    environment: options.env,
  });
  // Strict mode: no value reaches a child unless a human approves. By default the child gets
  // placeholders, and its HTTP(S) goes through the intercepting proxy as with `run`; with
  // --real, a human approves this exact command line with the passphrase at the terminal, and
  // this process unlocks the vault itself.
  const strict = await ctx.strict();
  if (strict && options.real !== true) {
    ctx.out.notice(
      'agentsecrets: strict mode: the command gets placeholders, not values (as with `agentsecrets run`); a human who must hand it the real values adds --real and approves with the passphrase',
    );
    const { runWithPlaceholders } = await import('./run.js');
    return runWithPlaceholders(ctx, { command, args, only, identity, current });
  }
  if (strict) {
    const line = [command, ...args].map(displayQuote).join(' ');
    await requireStrictApproval(ctx, {
      action: `run \`${line}\` with the REAL values of ${only === undefined ? 'every secret' : only.join(', ')} in ${current.project.name}/${current.environment}${options.mask === false ? ', output masking OFF' : ''}`,
      // The audit log keeps the program's name and a digest of the whole line, not arguments.
      auditAs: `env ${basename(command)} (command line sha256 ${createHash('sha256')
        .update(JSON.stringify([command, ...args]))
        .digest('hex')
        .slice(0, 16)})`,
      ...(only === undefined ? {} : { keys: only }),
    });
  }
  // The values come from the running key holder if there is one, else from this process;
  // either way the release is audited as one `env` entry (program name only, never args).
  const credentials = await credentialService(ctx, { inProcess: strict });
  // A program that cannot be found gets no values, and its run is audited as failed.
  if (
    (await findProgram(command, { path: ctx.config.env.PATH, cwd: ctx.config.cwd })) === undefined
  ) {
    try {
      await credentials.envValues({
        target: {
          workspaceId: current.workspace.id,
          projectId: current.project.id,
          environment: current.environment,
        },
        keys: only,
        command: basename(command),
        identity,
        failure: 'command_not_found',
      });
    } finally {
      await credentials.close();
    }
    throw new AgentSecretsError(
      'command_not_found',
      `cannot run '${command}': command not found (nothing was released); check the name and your PATH`,
    );
  }
  let secrets: Map<string, string>;
  let mask: string[];
  try {
    ({ values: secrets, mask } = await credentials.envValues({
      target: {
        workspaceId: current.workspace.id,
        projectId: current.project.id,
        environment: current.environment,
      },
      keys: only,
      command: basename(command),
      identity,
    }));
  } finally {
    await credentials.close();
  }

  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(ctx.config.env)) {
    if (value !== undefined && !WITHHELD.includes(name)) env[name] = value;
  }
  for (const [key, value] of secrets) env[key] = value;

  const noMask = options.mask === false;
  ctx.out.notice(
    `agentsecrets: running ${command} with ${secrets.size} secret(s) from ${current.project.name}/${current.environment}${noMask ? ' (output masking off)' : ''}`,
  );
  const result = await runWithSecrets({
    command,
    args,
    env,
    // Mask the values, and runs of them, in every encoding a program might print them in.
    // Every value in scope, not only the child's: it may fetch one it was not given from an
    // API that stored it.
    mask: compileScrubber([...secrets.values(), ...mask], { window: ctx.config.scrubWindow }),
    // A line at a time: a value with line breaks (a PEM key) is found line by line.
    lines: true,
    noMask,
    streams: { stdout: process.stdout, stderr: process.stderr },
    cwd: ctx.config.cwd,
  });
  return result.exitCode;
}

/** Shows one argument as a shell would need it, so the human sees exactly what runs. */
function displayQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
