// Argon2id unlock cost with the default parameters (issue 2: >= 64 MiB, 0.2-1 s per unlock).
import {
  DEFAULT_KDF_COST,
  deriveKey,
  deriveKeyIsolated,
  newKdfParams,
} from '../dist/src/crypto/kdf.js';
import { loadSodium } from '../dist/src/crypto/sodium.js';
import { median, ms } from './lib.mjs';

const RUNS = Number(process.env.RUNS ?? 5);
const sodium = await loadSodium();
const params = newKdfParams(sodium, DEFAULT_KDF_COST);
const isolated = [];
const direct = [];
for (let i = 0; i < RUNS; i++) {
  let start = performance.now();
  await deriveKeyIsolated('benchmark passphrase', params);
  isolated.push(performance.now() - start);
  start = performance.now();
  deriveKey(sodium, 'benchmark passphrase', params);
  direct.push(performance.now() - start);
}
console.log(`Argon2id ops=${params.ops} mem=${params.mem / 1024 / 1024} MiB, ${RUNS} runs`);
console.log(`  unlock (worker thread, as used)  median ${ms(median(isolated))}`);
console.log(`  raw crypto_pwhash in-thread      median ${ms(median(direct))}`);
const m = median(isolated);
process.exitCode = params.mem >= 64 * 1024 * 1024 && m >= 200 && m <= 1000 ? 0 : 1;
