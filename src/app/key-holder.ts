import type { Paths } from '../core/config.js';
import { findKeyHolder, type ProxyState } from '../proxy/state.js';
import { interceptStatus } from '../run/endpoints.js';

/** The running key holder (`agentsecrets proxy start`), as every face asks about it. */
export interface KeyHolderUseCase {
  /** proxy.json, when it names a live process whose socket answers; else undefined. */
  find(): Promise<ProxyState | undefined>;
  /** Whether the key holder serves the intercepting proxy for `run`, and how many runs. */
  intercept(): Promise<{ up: boolean; port: number | null; active_runs: number | null }>;
}

/** Creates the key-holder use case over a state folder. */
export function createKeyHolderUseCase(paths: Paths): KeyHolderUseCase {
  return {
    find: () => findKeyHolder(paths),
    intercept: () => interceptStatus(paths),
  };
}
