import { EMPTY_SCRUBBER } from '../../core/scrub/scrubber.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UsageError } from '../../core/errors.js';
import { parseKeyList } from '../../core/keys.js';
import { runWithSecrets } from '../../env/runner.js';
import {
  createLocalCredentialService,
  type PresentedIdentity,
} from '../../proxy/credential-service.js';
import { findKeyHolder } from '../../proxy/state.js';
import { buildChildEnv, preloadUrl, writeCaBundle } from '../../run/child-env.js';
import { keyHolderRunClient, type RunClient } from '../../run/endpoints.js';
import type { CliContext } from '../context.js';
import type { ResolvedSelection } from '../../workspace/service.js';
import { presentedIdentity } from '../credentials.js';
import type { SelectionOptions } from './secrets.js';

/**
 * `run [--only K1,K2] -- CMD ARGS…`: runs CMD with placeholders instead of values, its HTTPS
 * routed through the intercepting proxy, which swaps a placeholder for the value only on the
 * way to a host the secret may reach (issue 13).
 */
export async function runCommand(
  ctx: CliContext,
  argv: string[],
  options: SelectionOptions & { only?: string; agentId?: string; token?: string },
): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined)
    throw new UsageError('give a command: `agentsecrets run -- CMD ARGS…`');
  const only = parseKeyList(options.only);
  const identity = presentedIdentity(ctx, options, 'run');
  const current = await ctx.services().workspaces.resolve({
    project: options.project,
    environment: options.env,
  });
  return runWithPlaceholders(ctx, { command, args, only, identity, current });
}

/**
 * Runs `command` with a placeholder for each secret in its environment and its HTTP(S) routed
 * through the intercepting proxy. `run` is this; so is `env` in strict mode, where a child gets
 * no value without a human's approval.
 */
export async function runWithPlaceholders(
  ctx: CliContext,
  options: {
    command: string;
    args: string[];
    only: string[] | undefined;
    identity: PresentedIdentity;
    current: ResolvedSelection;
  },
): Promise<number> {
  const { command, args, only, identity, current } = options;
  const services = ctx.services();
  // The running key holder serves the run when it has an intercepting proxy; otherwise this
  // process unlocks the vault and serves its own child (and is then the key holder).
  const holder = await findKeyHolder(ctx.config.paths);
  let client: RunClient;
  let shutdown: () => Promise<void> = async () => undefined;
  if (holder?.intercept_port !== undefined && holder.intercept_port !== null) {
    client = keyHolderRunClient(holder.socket);
  } else {
    const unlocked = await services.vault.unlock();
    const credentials = await createLocalCredentialService({
      config: ctx.config,
      workspaces: services.workspaces,
      vault: services.vault,
      unlock: async () => unlocked,
      signAudit: true,
    });
    const { startInterceptor } = await import('../../run/serve.js');
    const interceptor = await startInterceptor({
      config: ctx.config,
      credentials,
      vault: services.vault,
      unlocked,
      port: 0,
      host: '127.0.0.1',
    });
    client = {
      start: (request) => interceptor.runs.start(request),
      end: async (runId) => void interceptor.runs.end(runId),
    };
    shutdown = async () => {
      await interceptor.close();
      await credentials.close();
      unlocked.close();
    };
  }

  let dir: string | undefined;
  try {
    const ticket = await client.start({
      target: {
        workspaceId: current.workspace.id,
        projectId: current.project.id,
        environment: current.environment,
      },
      keys: only,
      command: basename(command),
      identity,
      pid: process.pid,
    });
    dir = await mkdtemp(join(ctx.config.paths.home, 'run-'));
    const bundlePath = join(dir, 'ca-bundle.pem');
    await writeCaBundle(bundlePath, ticket.ca_pem, ctx.config.env);
    const env = buildChildEnv({
      parent: ctx.config.env,
      placeholders: ticket.placeholders,
      runId: ticket.run_id,
      proxyUrl: ticket.proxy_url,
      bundlePath,
      preloadUrl: preloadUrl(),
      allowlist: ticket.allowlist,
    });
    ctx.out.notice(
      `agentsecrets: running ${command} with ${Object.keys(ticket.placeholders).length} placeholder(s) from ${current.project.name}/${current.environment}; values are swapped in by the proxy only for hosts each secret may reach`,
    );
    try {
      const result = await runWithSecrets({
        command,
        args,
        env,
        // The child never holds a value: there is nothing of ours to mask in its output.
        mask: EMPTY_SCRUBBER,
        noMask: true,
        streams: { stdout: process.stdout, stderr: process.stderr },
        cwd: ctx.config.cwd,
      });
      return result.exitCode;
    } finally {
      await client.end(ticket.run_id).catch(() => undefined);
    }
  } finally {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    await shutdown();
  }
}
