import { AUDIT_SOURCES } from '../audit/format.js';
import type { Paths } from '../core/config.js';
import { readProxyState } from '../proxy/state.js';
import { isProcessAlive } from '../store/fs.js';
import { AgentSecretsError } from '../core/errors.js';
import { arr, obj, optStr, str } from '../core/validate.js';
import { postToKeyHolder, type RunEndpoints } from '../proxy/key-holder.js';
import type { PresentedIdentity } from '../proxy/credential-service.js';
import type { RunHost, RunStartRequest, RunTicket } from './host.js';

/** How `run` starts and ends a run: a running key holder, or a host in its own process. */
export interface RunClient {
  start(request: RunStartRequest): Promise<RunTicket>;
  end(runId: string): Promise<void>;
}

/** The key holder's `/v1/run/*` endpoints over its private socket. */
export function runEndpoints(host: RunHost): RunEndpoints {
  return async (path, body) => {
    if (path === '/v1/run/start') {
      const ticket = await host.start(startFromWire(body));
      return { ...ticket };
    }
    if (path === '/v1/run/end') return { ended: host.end(str(body.run_id, 'run_id')) };
    if (path === '/v1/run/status') return { active: host.active() };
    return undefined;
  };
}

/** A run client that talks to a running key holder. */
export function keyHolderRunClient(socketPath: string): RunClient {
  return {
    async start(request) {
      const r = await postToKeyHolder(socketPath, '/v1/run/start', request);
      const placeholders = obj(r.placeholders, 'placeholders');
      return {
        run_id: str(r.run_id, 'run_id'),
        proxy_url: str(r.proxy_url, 'proxy_url'),
        ca_pem: str(r.ca_pem, 'ca_pem'),
        placeholders: Object.fromEntries(
          Object.entries(placeholders).map(([k, v]) => [k, str(v, k)]),
        ),
        allowlist: arr(r.allowlist, 'allowlist').map((p) => str(p, 'pattern')),
      };
    },
    async end(runId) {
      await postToKeyHolder(socketPath, '/v1/run/end', { run_id: runId });
    },
  };
}

/** How many runs a key holder serves now; undefined when it has no intercepting proxy. */
export async function activeRuns(socketPath: string): Promise<number | undefined> {
  try {
    const r = await postToKeyHolder(socketPath, '/v1/run/status', {});
    return typeof r.active === 'number' ? r.active : undefined;
  } catch {
    return undefined;
  }
}

function startFromWire(body: Record<string, unknown>): RunStartRequest {
  const t = obj(body.target, 'target');
  const i = obj(body.identity, 'identity');
  const source = str(i.source, 'source');
  if (!(AUDIT_SOURCES as readonly string[]).includes(source)) {
    throw new AgentSecretsError('bad_request', 'malformed identity');
  }
  const identity: PresentedIdentity = {
    source: source as PresentedIdentity['source'],
    agentId: optStr(i.agentId, 'agentId'),
    token: optStr(i.token, 'token'),
  };
  return {
    target: {
      workspaceId: str(t.workspaceId, 'workspaceId'),
      projectId: str(t.projectId, 'projectId'),
      environment: str(t.environment, 'environment'),
    },
    keys:
      body.keys === undefined || body.keys === null
        ? undefined
        : arr(body.keys, 'keys').map((k) => str(k, 'key')),
    command: str(body.command, 'command'),
    identity,
    ...(typeof body.pid === 'number' && Number.isInteger(body.pid) ? { pid: body.pid } : {}),
  };
}

/** Whether a key holder serves the intercepting proxy for `run`, where, and how many runs. */
export async function interceptStatus(
  paths: Paths,
): Promise<{ up: boolean; port: number | null; active_runs: number | null }> {
  const state = await readProxyState(paths);
  if (state === undefined || !isProcessAlive(state.pid) || state.intercept_port == null) {
    return { up: false, port: null, active_runs: null };
  }
  const active = await activeRuns(state.socket);
  return { up: active !== undefined, port: state.intercept_port, active_runs: active ?? null };
}
