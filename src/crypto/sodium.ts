import type sodiumModule from 'libsodium-wrappers-sumo';

/** The loaded libsodium (sumo build: it has Argon2id). */
export type Sodium = typeof sodiumModule;

// libsodium is immutable once initialised, so one load per process is shared. It is loaded
// on first use only: commands that never touch key material (such as `secrets list`) never
// pay for it.
let loading: Promise<Sodium> | undefined;

/** Loads and initialises libsodium once per process. */
export function loadSodium(): Promise<Sodium> {
  loading ??= import('libsodium-wrappers-sumo').then(async (mod) => {
    const sodium = mod.default;
    await sodium.ready;
    return sodium;
  });
  return loading;
}
