import type { Caller } from '../identity/caller.js';
import type { Target } from '../workspace/selection.js';
import type { PresentedIdentity } from './credential-service.js';

/*
 * The run registry as the intercepting proxy uses it. Declared here, by its user, so the proxy
 * does not import `run` (a face); src/run/host.ts implements it.
 */

/** What `run` asks the key holder for. */
export interface RunStartRequest {
  target: Target;
  /** `--only`; every key of the selection when absent. */
  keys: string[] | undefined;
  /** The program's name (never its arguments), for the audit entry. */
  command: string;
  identity: PresentedIdentity;
  /** The `run` process: once it is gone, its run ends even if it could not say so. */
  pid?: number;
}

/** What a run gets back: no value, only placeholders and how to reach the proxy. */
export interface RunTicket {
  run_id: string;
  /** `http://run:<run token>@127.0.0.1:<port>`: the run token names the run to the proxy. */
  proxy_url: string;
  /** KEY → placeholder. */
  placeholders: Record<string, string>;
  /** The local CA's certificate (public). */
  ca_pem: string;
  /** The allowlist patterns, so the child's NO_PROXY never names one of them. */
  allowlist: string[];
}

/** One live run, as the intercepting proxy sees it. */
export interface RunSession {
  readonly id: string;
  readonly target: Target;
  readonly identity: PresentedIdentity;
  /** placeholder → KEY. */
  readonly placeholders: ReadonlyMap<string, string>;
  readonly command: string;
}

/** Starts and ends runs; the intercepting proxy finds a run by the token its child presents. */
export interface RunHost {
  start(request: RunStartRequest): Promise<RunTicket>;
  end(runId: string): boolean;
  byToken(token: string): RunSession | undefined;
  /** Verifies the run's identity again (revocation, expiry) for one request. */
  identify(run: RunSession): Promise<Caller>;
  active(): number;
}
