import type { Sodium } from './sodium.js';

/** Argon2id parameters, stored beside whatever they protect so they can be raised later. */
export interface KdfParams {
  alg: 'argon2id13';
  /** Iterations (libsodium opslimit). */
  ops: number;
  /** Memory in bytes (libsodium memlimit). */
  mem: number;
  /** 16 random bytes, base64. */
  salt: string;
}

/**
 * The default cost: 192 MiB and 3 passes, about 0.4 s per unlock on a 2-core machine
 * (bench/kdf.mjs). Well above the 64 MiB floor and inside the 0.2–1 s budget.
 */
export const DEFAULT_KDF_COST = { ops: 3, mem: 192 * 1024 * 1024 } as const;

/**
 * A deliberately weak cost for tests that spawn many CLI processes. Only the explicit
 * `--weak-kdf-for-tests` option of `init` selects it; nothing picks it by default.
 */
export const TEST_KDF_COST = { ops: 1, mem: 8 * 1024 } as const;

/** New parameters with a fresh random salt. */
export function newKdfParams(
  sodium: Sodium,
  cost: { ops: number; mem: number } = DEFAULT_KDF_COST,
): KdfParams {
  const salt = sodium.randombytes_buf(sodium.crypto_pwhash_SALTBYTES);
  return {
    alg: 'argon2id13',
    ops: cost.ops,
    mem: cost.mem,
    salt: Buffer.from(salt).toString('base64'),
  };
}

/** Derives a 32-byte key from a passphrase with Argon2id. */
export function deriveKey(sodium: Sodium, passphrase: string, params: KdfParams): Uint8Array {
  return sodium.crypto_pwhash(
    32,
    Buffer.from(passphrase.normalize('NFC'), 'utf8'),
    new Uint8Array(Buffer.from(params.salt, 'base64')),
    params.ops,
    params.mem,
    sodium.crypto_pwhash_ALG_ARGON2ID13,
  );
}

/**
 * Derives the key in a short-lived worker thread. Argon2id grows libsodium's WebAssembly
 * memory to the full memory cost and that memory is never returned; running it in a worker
 * that then exits keeps long-running processes (the proxy, the MCP server) small.
 */
export async function deriveKeyIsolated(
  passphrase: string,
  params: KdfParams,
): Promise<Uint8Array> {
  const { Worker } = await import('node:worker_threads');
  const { createRequire } = await import('node:module');
  const sodiumPath = createRequire(import.meta.url).resolve('libsodium-wrappers-sumo');
  const worker = new Worker(KDF_WORKER_SOURCE, {
    eval: true,
    workerData: { sodiumPath, passphrase: passphrase.normalize('NFC'), params },
  });
  try {
    return await new Promise<Uint8Array>((resolve, reject) => {
      worker.once('message', (key: Uint8Array) => resolve(new Uint8Array(key)));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`key derivation worker exited with ${code}`)));
    });
  } finally {
    await worker.terminate();
  }
}

const KDF_WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const sodium = require(workerData.sodiumPath);
sodium.ready.then(() => {
  const { passphrase, params } = workerData;
  const key = sodium.crypto_pwhash(32, Buffer.from(passphrase, 'utf8'),
    new Uint8Array(Buffer.from(params.salt, 'base64')), params.ops, params.mem,
    sodium.crypto_pwhash_ALG_ARGON2ID13);
  parentPort.postMessage(key);
});
`;
