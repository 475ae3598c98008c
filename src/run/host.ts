import { randomBytes, timingSafeEqual } from 'node:crypto';
import { AgentSecretsError, toAgentSecretsError } from '../core/errors.js';
import { timeOrderedId } from '../core/ids.js';
import type { Caller } from '../identity/caller.js';
import type { LocalCredentialService } from '../proxy/credential-service.js';
import type { RunHost, RunSession, RunStartRequest, RunTicket } from '../proxy/run-session.js';
import { selectionOf } from '../proxy/credential-service.js';
import { isProcessAlive } from '../store/fs.js';
import type { Vault } from '../vault/vault.js';
import { makePlaceholder } from './placeholders.js';

export type { RunHost, RunSession, RunStartRequest, RunTicket };

export interface RunHostOptions {
  credentials: LocalCredentialService;
  vault: Vault;
  caPem: string;
  /** The intercepting proxy's port, once it listens. */
  port: () => number;
}

/** Creates the run registry of a key holder (or of a `run` that serves itself). */
export function createRunHost(options: RunHostOptions): RunHost {
  const { credentials } = options;
  const runs = new Map<string, { session: RunSession; token: Buffer; pid?: number }>();
  const alive = (run: { pid?: number }) => run.pid === undefined || isProcessAlive(run.pid);
  const prune = () => {
    for (const [token, run] of runs) if (!alive(run)) runs.delete(token);
  };

  async function start(request: RunStartRequest): Promise<RunTicket> {
    const started = performance.now();
    const identity = { ...request.identity, source: 'run' as const };
    const refuse = async (error: AgentSecretsError, caller: Caller) => {
      await credentials.engine
        .recordRefusal({ caller, method: 'RUN', target: request.target }, error)
        .catch(() => undefined);
      return error;
    };
    let caller: Caller;
    try {
      caller = await credentials.identify(identity, request.target.workspaceId);
    } catch (err) {
      throw await refuse(toAgentSecretsError(err), {
        level: 'anonymous',
        agentId: null,
        tokenId: null,
        source: 'run',
      });
    }
    const workspace = await credentials.sources.workspace(request.target.workspaceId);
    const metas = await options.vault.list(selectionOf(request.target));
    const keys = request.keys ?? metas.map((m) => m.key);
    for (const key of keys) {
      if (!metas.some((m) => m.key === key)) {
        throw await refuse(
          new AgentSecretsError(
            'secret_not_found',
            `secret '${key}' not found; a human adds it with: agentsecrets secrets set ${key}`,
            { context: { secret: key } },
          ),
          caller,
        );
      }
    }
    const byKey: Record<string, string> = {};
    const placeholders = new Map<string, string>();
    for (const key of keys) {
      const meta = metas.find((m) => m.key === key);
      const placeholder = makePlaceholder(key, meta?.placeholder_prefix ?? null);
      byKey[key] = placeholder;
      placeholders.set(placeholder, key);
    }
    const id = timeOrderedId('run');
    const token = randomBytes(24).toString('hex');
    runs.set(token, {
      session: { id, target: request.target, identity, placeholders, command: request.command },
      token: Buffer.from(token),
      ...(request.pid === undefined ? {} : { pid: request.pid }),
    });
    await credentials.audit.append({
      workspace: workspace.name,
      project: workspace.projects.find((p) => p.id === request.target.projectId)?.name ?? null,
      environment: request.target.environment,
      agent_id: caller.agentId,
      identity_level: caller.level,
      token_id: caller.tokenId,
      source: 'run',
      method: 'RUN',
      target_url: null,
      domain: null,
      secret_keys: keys,
      auth_styles: ['placeholder'],
      status: 'OK',
      status_code: null,
      reason: null,
      redacted: false,
      duration_ms: performance.now() - started,
      command: request.command,
    });
    return {
      run_id: id,
      proxy_url: `http://run:${token}@127.0.0.1:${options.port()}`,
      placeholders: byKey,
      ca_pem: options.caPem,
      allowlist: workspace.allowlist.map((e) => e.pattern),
    };
  }

  return {
    start,
    end(runId) {
      for (const [token, run] of runs) {
        if (run.session.id === runId) return runs.delete(token);
      }
      return false;
    },
    byToken(token) {
      const run = runs.get(token);
      // The map lookup is by the token itself; compare again in constant time all the same.
      if (run === undefined) return undefined;
      if (!alive(run)) {
        runs.delete(token);
        return undefined;
      }
      const presented = Buffer.from(token);
      return presented.length === run.token.length && timingSafeEqual(presented, run.token)
        ? run.session
        : undefined;
    },
    identify(run) {
      return credentials.identify(run.identity, run.target.workspaceId);
    },
    active: () => {
      prune();
      return runs.size;
    },
  };
}
