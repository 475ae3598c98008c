import type { Paths } from '../core/config.js';
import { findKeyHolder, type ProxyState, readProxyState } from '../proxy/state.js';
import { interceptStatus } from '../run/endpoints.js';
import { isProcessAlive } from '../store/fs.js';

/**
 * proxy.json, when the process it names is alive (its socket may not answer yet, or any
 * more): what `proxy start` refuses to start over, what `proxy stop` signals, what the SDK
 * connects to. `find()` also asks the socket.
 */
export async function liveProxyState(paths: Paths): Promise<ProxyState | undefined> {
  const state = await readProxyState(paths);
  return state !== undefined && isProcessAlive(state.pid) ? state : undefined;
}

/** The running key holder (`agentsecrets proxy start`), as every face asks about it. */
export interface KeyHolderUseCase {
  /** proxy.json, when it names a live process whose socket answers; else undefined. */
  find(): Promise<ProxyState | undefined>;
  /** proxy.json, when the process it names is alive (no socket check). */
  process(): Promise<ProxyState | undefined>;
  /** Whether the key holder serves the intercepting proxy for `run`, and how many runs. */
  intercept(): Promise<{ up: boolean; port: number | null; active_runs: number | null }>;
}

/** Creates the key-holder use case over a state folder. */
export function createKeyHolderUseCase(paths: Paths): KeyHolderUseCase {
  return {
    find: () => findKeyHolder(paths),
    process: () => liveProxyState(paths),
    intercept: () => interceptStatus(paths),
  };
}
