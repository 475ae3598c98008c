// Sync server targets (sync issue), measured in one run, on both stores:
// - `secrets pull` of 1,000 secrets, end to end (the built CLI, spawned: unlock with the
//   default Argon2id cost, fetch, verify, decrypt, write the vault): ≤ 2 s on loopback;
// - pulls per second of a 50-secret project (GET records with ciphertexts, authenticated)
//   against two server processes sharing one PostgreSQL database: ≥ 500/s. One process and
//   the file store are measured alongside, as baselines.
// Usage: node bench/sync.mjs   (after npm run build; needs PostgreSQL, see
// AGENTSECRETS_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test)
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Pool } from 'undici';
import { parseSecretKey } from '../dist/src/crypto/secret-key.js';
import { signKeyPair } from '../dist/src/crypto/sign.js';
import { loadSodium } from '../dist/src/crypto/sodium.js';
import { docHash, walkChain } from '../dist/src/sync/chain.js';
import { deriveAccountKeys, signDoc } from '../dist/src/sync/crypto.js';
import { verifyDoc } from '../dist/src/sync/doc.js';
import { defaultPolicy } from '../dist/src/workspace/model.js';
import { median, timeCommand } from './lib.mjs';

const RUNS = Number(process.env.RUNS ?? 5);
const SECONDS = Number(process.env.SECONDS ?? 5);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 32);
const DB = process.env.AGENTSECRETS_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const root = await mkdtemp(join(tmpdir(), 'agentsecrets-bench-sync-'));
const PASSWORD = `bench-password-${randomBytes(4).toString('hex')}`;
const children = [];
/** Each account's secret key, from its sign-up (a second machine and the token need it). */
const secretKeys = new Map();

function run(home, args, input, extra = {}) {
  mkdirSync(home, { recursive: true });
  const r = spawnSync(process.execPath, [cli, ...args], {
    cwd: home,
    input: input ?? '',
    env: envFor(home, extra),
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`agentsecrets ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function envFor(home, extra = {}) {
  return {
    PATH: process.env.PATH,
    HOME: home,
    AGENTSECRETS_HOME: home,
    AGENTSECRETS_PASSPHRASE: 'bench-vault-passphrase',
    AGENTSECRETS_PASSWORD: PASSWORD,
    ...extra,
  };
}

async function startServer(home, args, extra = {}) {
  const child = spawn(
    process.execPath,
    [cli, 'server', 'start', '--port', '0', '--signup', 'open', ...args],
    {
      env: envFor(home, extra),
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  children.push(child);
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  for (let i = 0; i < 300; i++) {
    const url = /sync server on (http:\/\/\S+)/.exec(err)?.[1];
    if (url) return url;
    if (child.exitCode !== null) throw new Error(`server exited: ${err}`);
    await sleep(50);
  }
  throw new Error(`server did not start: ${err}`);
}

/** A user with a workspace, a project `web` holding `count` secrets, all pushed. */
async function seed(url, count, email) {
  const home = join(root, `${email}-${randomBytes(3).toString('hex')}`);
  run(home, ['init', '--backend', 'passphrase']);
  const signed = JSON.parse(run(home, ['signup', '--server', url, '--email', email, '--json']));
  secretKeys.set(email, signed.secret_key);
  run(home, ['workspace', 'create', 'bench']);
  run(home, ['project', 'create', 'web']);
  run(home, ['project', 'use', 'web', '--global']);
  const lines = Array.from(
    { length: count },
    (_, i) => `KEY_${i}=${randomBytes(24).toString('base64url')}`,
  );
  await writeFile(join(home, '.env.bench'), `${lines.join('\n')}\n`);
  run(home, ['secrets', 'import', '.env.bench']);
  run(home, ['secrets', 'push']);
  return home;
}

/** The same account on a second machine, joined and on `web`, ready to pull. */
function secondMachine(url, email) {
  const home = join(root, `${email}-2-${randomBytes(3).toString('hex')}`);
  run(home, ['init', '--backend', 'passphrase']);
  run(home, ['login', '--server', url, '--email', email], '', {
    AGENTSECRETS_SECRET_KEY: secretKeys.get(email),
  });
  run(home, ['workspace', 'switch', 'bench']);
  run(home, ['project', 'use', 'web', '--global']);
  return home;
}

/** Times `secrets pull` of everything: before each run the pulled records are dropped. */
function timePull(home) {
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const wipe = spawnSync(process.execPath, [
      '-e',
      `
      const fs=require('fs');const p=process.argv[1];const v=JSON.parse(fs.readFileSync(p,'utf8'));
      v.records=v.records.filter(r=>r.key.startsWith('@'));fs.writeFileSync(p,JSON.stringify(v));`,
      join(home, 'vault.json'),
    ]);
    if (wipe.status !== 0) throw new Error(String(wipe.stderr));
    times.push(
      timeCommand(process.execPath, [cli, 'secrets', 'pull'], { cwd: home, env: envFor(home) }),
    );
  }
  return median(times);
}

async function accessToken(url, email) {
  const post = async (path, body) => {
    const r = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${path}: ${r.status}`);
    return r.json();
  };
  const { kdf } = await post('/v1/auth/params', { email });
  const { authKey } = await deriveAccountKeys(PASSWORD, kdf, parseSecretKey(secretKeys.get(email)));
  const session = await post('/v1/auth/login', {
    email,
    auth_key: Buffer.from(authKey).toString('base64'),
  });
  return session.access_token;
}

/** Pulls/s of one project's records across `urls`, CONNECTIONS in flight per server. */
async function pullRate(urls, token, path) {
  const pools = urls.map((u) => new Pool(u, { connections: CONNECTIONS, pipelining: 1 }));
  let done = 0;
  let failed = 0;
  const until = performance.now() + SECONDS * 1000;
  const worker = async (pool) => {
    while (performance.now() < until) {
      const r = await pool.request({
        path,
        method: 'GET',
        headers: { authorization: `Bearer ${token}` },
      });
      const text = await r.body.text();
      if (r.statusCode === 200 && text.includes('"ciphertext"')) done++;
      else failed++;
    }
  };
  const started = performance.now();
  await Promise.all(
    pools.flatMap((pool) => Array.from({ length: CONNECTIONS }, () => worker(pool))),
  );
  const rate = done / ((performance.now() - started) / 1000);
  await Promise.all(pools.map((p) => p.close()));
  if (failed > 0) throw new Error(`${failed} pulls failed`);
  return rate;
}

async function recordsPath(home) {
  const ws = JSON.parse(run(home, ['workspace', 'list', '--json'])).workspaces.find(
    (w) => w.selected,
  );
  const project = JSON.parse(
    (await import('node:fs')).readFileSync(join(home, 'workspaces.json'), 'utf8'),
  )
    .workspaces.find((w) => w.id === ws.id)
    .projects.find((p) => p.name === 'web');
  return `/v1/workspaces/${ws.id}/projects/${project.id}/envs/development/records`;
}

/**
 * Verifying a 1,000-link document log (issue 12, F6), in process: each link parsed, hashed
 * and its Ed25519 signature checked against the admins of the link before. Baseline: the
 * check before the log, of the newest document alone.
 */
async function chainVerify() {
  const sodium = await loadSodium();
  const admin = signKeyPair(sodium);
  const adminEntry = {
    user_id: 'usr_benchadmin',
    email: 'admin@example.com',
    sign_public: Buffer.from(admin.publicKey).toString('base64'),
  };
  const members = Array.from({ length: 20 }, (_, i) => ({
    user_id: `usr_member${String(i).padStart(4, '0')}`,
    email: `m${i}@example.com`,
    box_public: randomBytes(32).toString('base64'),
    sign_public: randomBytes(32).toString('base64'),
  }));
  const links = [];
  let prev = null;
  for (let seq = 1; seq <= 1000; seq++) {
    const body = JSON.stringify({
      format: 1,
      workspace_id: 'ws_benchchain',
      name: 'bench',
      seq,
      issued_at: new Date(seq * 1000).toISOString(),
      prev_hash: prev === null ? null : docHash(prev),
      signer: adminEntry.user_id,
      max_staleness_s: 86400,
      epoch: 1,
      admins: [adminEntry],
      members,
      token_public_jwk: null,
      allowlist: [
        { pattern: 'api.example.com', added_by: 'admin', added_at: new Date(0).toISOString() },
      ],
      allowlist_log: [],
      policy: defaultPolicy(),
      agents: [],
    });
    links.push({ body, signature: signDoc(sodium, admin, body), signer: adminEntry.user_id });
    prev = body;
  }
  const genesis = { seq: 0, body: '', admins: [adminEntry] };
  // Wall time, and this process's CPU time (less distorted when the machine is shared).
  const time = (fn) => {
    const wall = [];
    const cpu = [];
    for (let i = 0; i < Math.max(RUNS, 5); i++) {
      const used = process.cpuUsage();
      const start = performance.now();
      fn();
      wall.push(performance.now() - start);
      const u = process.cpuUsage(used);
      cpu.push((u.user + u.system) / 1000);
    }
    return { wall: median(wall), cpu: median(cpu) };
  };
  const chain = time(() => {
    if (walkChain(sodium, 'ws_benchchain', genesis, links)?.doc.seq !== 1000)
      throw new Error('walk');
  });
  const head = time(() => verifyDoc(sodium, 'ws_benchchain', links[999], genesis));
  return { chain, head };
}

const results = [];
const chainTimes = await chainVerify();
try {
  const nodeBaseline = median(
    Array.from({ length: RUNS }, () => timeCommand(process.execPath, ['-e', '0'])),
  );

  // File store: one process.
  const fileUrl = await startServer(join(root, 'file-server'), [
    '--store',
    'file',
    '--data',
    join(root, 'file-data'),
  ]);
  const fileSeed = await seed(fileUrl, 1000, 'file@example.com');
  const filePull = timePull(secondMachine(fileUrl, 'file@example.com'));
  const smallFile = await seed(fileUrl, 50, 'file50@example.com');
  const fileToken = await accessToken(fileUrl, 'file50@example.com');
  const fileRate = await pullRate([fileUrl], fileToken, await recordsPath(smallFile));
  void fileSeed;

  // PostgreSQL: a fresh database, two server processes on it.
  const name = `agentsecrets_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: DB });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const dbUrl = new URL(DB);
  dbUrl.pathname = `/${name}`;
  try {
    const pgArgs = ['--store', 'postgres', '--database-url', dbUrl.toString()];
    // Replicas share one token-signing key file (it is not in the database).
    const shared = { AGENTSECRETS_SERVER_KEY_FILE: join(root, 'shared-key', 'jwt.pem') };
    const pgUrl = await startServer(join(root, 'pg-server-1'), pgArgs, shared);
    const pgUrl2 = await startServer(join(root, 'pg-server-2'), pgArgs, shared);
    await seed(pgUrl, 1000, 'pg@example.com');
    const pgPull = timePull(secondMachine(pgUrl2, 'pg@example.com'));
    const smallPg = await seed(pgUrl, 50, 'pg50@example.com');
    const pgToken = await accessToken(pgUrl, 'pg50@example.com');
    const path = await recordsPath(smallPg);
    const pgOne = await pullRate([pgUrl], pgToken, path);
    const pgTwo = await pullRate([pgUrl, pgUrl2], pgToken, path);
    results.push({ filePull, pgPull, fileRate, pgOne, pgTwo, nodeBaseline });
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await sleep(500);
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
} finally {
  for (const child of children) child.kill('SIGTERM');
  await rm(root, { recursive: true, force: true });
}

const [r] = results;
const pullOk = r.filePull <= 2000 && r.pgPull <= 2000;
const rateOk = r.pgTwo >= 500;
console.log(
  `sync: node -e 0 baseline ${r.nodeBaseline.toFixed(0)} ms; ${CONNECTIONS} connections per server, ${SECONDS} s per rate`,
);
console.log(
  `  secrets pull of 1,000 secrets (median of ${RUNS}, default Argon2id unlock included):`,
);
console.log(
  `    file store        ${r.filePull.toFixed(0)} ms   (target ≤ 2000 ms)  ${r.filePull <= 2000 ? 'OK' : 'MISSED'}`,
);
console.log(
  `    postgres store    ${r.pgPull.toFixed(0)} ms   (target ≤ 2000 ms)  ${r.pgPull <= 2000 ? 'OK' : 'MISSED'}`,
);
console.log('  pulls/s of a 50-secret project (GET records with ciphertexts, authenticated):');
console.log(`    file store, 1 process        ${r.fileRate.toFixed(0)}/s`);
console.log(`    postgres, 1 process          ${r.pgOne.toFixed(0)}/s`);
console.log(
  `    postgres, 2 processes        ${r.pgTwo.toFixed(0)}/s   (target ≥ 500/s)  ${rateOk ? 'OK' : 'MISSED'}`,
);
const chainOk = chainTimes.chain.wall <= 200;
console.log('  document log (in process, median; wall, and CPU time of this process):');
console.log(
  `    newest document alone (before the log)   ${chainTimes.head.wall.toFixed(2)} ms  (cpu ${chainTimes.head.cpu.toFixed(2)} ms)`,
);
console.log(
  `    walk of 1,000 links                      ${chainTimes.chain.wall.toFixed(1)} ms  (cpu ${chainTimes.chain.cpu.toFixed(1)} ms)   (target ≤ 200 ms)  ${chainOk ? 'OK' : 'MISSED'}`,
);
process.exitCode = pullOk && rateOk && chainOk ? 0 : 1;
