import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { UsageError } from '../../core/errors.js';
import { assertKeyName } from '../../core/keys.js';
import { runWithSecrets } from '../../env/runner.js';
import { compileScrubber } from '../../core/scrub/scrubber.js';
import { type CliContext, requireStrictApproval } from '../context.js';
import { credentialService, presentedIdentity } from '../credentials.js';
import type { SelectionOptions } from './secrets.js';

/** Variables of ours that a child must never inherit. */
const WITHHELD = [
  'AGENTSECRETS_PASSPHRASE',
  'AGENTSECRETS_NEW_PASSPHRASE',
  'AGENTSECRETS_PASSWORD',
];

/** `env [--only K1,K2] [--no-mask] -- CMD ARGS…`: runs CMD with the project's secrets. */
export async function envRun(
  ctx: CliContext,
  argv: string[],
  options: SelectionOptions & { only?: string; mask?: boolean; agentId?: string; token?: string },
): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined)
    throw new UsageError('give a command: `agentsecrets env -- CMD ARGS…`');
  const only = options.only
    ?.split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  only?.forEach((k) => assertKeyName(k, 'key name in --only'));
  const identity = presentedIdentity(ctx, options, 'env');

  const services = ctx.services();
  const current = await services.workspaces.resolve({
    project: options.project,
    environment: options.env,
  });
  // Strict mode: the key holder never hands out values. A human approves this exact command
  // line with the passphrase at the terminal, and this process unlocks the vault itself.
  // (Placeholders instead of values, through `run`, come with issue 13.)
  const strict = await ctx.strict();
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
  let secrets: Map<string, string>;
  try {
    secrets = await credentials.envValues({
      target: {
        workspaceId: current.workspace.id,
        projectId: current.project.id,
        environment: current.environment,
      },
      keys: only,
      command: basename(command),
      identity,
    });
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
    mask: compileScrubber(secrets.values(), { window: ctx.config.scrubWindow }),
    lines: ![...secrets.values()].some((value) => value.includes('\n')),
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
