// CPU per proxied call, in the key holder process, this build against another (issue 17).
// The key holder (`agentsecrets proxy start`) is spawned; a fixed number of calls is made
// through it with CONNECTIONS concurrent keep-alive callers, and its user + system CPU time over
// those calls (from /proc/<pid>/stat: the counters process.cpuUsage() reads, in 10 ms ticks) is
// divided by the number of calls. CPU time per call hardly moves when other jobs share the
// machine, unlike a request rate. Two paths are measured:
//   - X-AS-*: plain HTTP to the proxy port, bearer injection, plain HTTP upstream (as the shared
//     proxy-vs-nginx script does);
//   - CONNECT: `run`'s intercepting proxy (undici ProxyAgent, TLS terminated with our leaf, the
//     placeholder substituted through the engine, TLS again to an HTTPS upstream).
// Also reported: wall rate and median latency under that load, and the single-client added
// latency (median, proxied minus direct, one keep-alive connection, calls alternating).
//
// Run: `node bench/proxy-cpu.mjs` (this build only) or `BASE_DIR=/tmp/base node bench/proxy-cpu.mjs`
// (BASE_DIR: a built checkout to compare with, MAIN_DIR: a second one; see bench/README.md). N=, CONNECTIONS=, ROUNDS=,
// LATENCY_N=, PROFILE=<dir> (writes a --cpu-prof of this build's key holder there).
// Targets (issue 17): CPU per X-AS-* call <= 60 µs; single-client added latency <= 0.62 ms.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Pool, ProxyAgent } from 'undici';
import { postToKeyHolder } from '../dist/src/proxy/key-holder.js';
import { prepareHome } from './home.mjs';
import { median, percentile } from './lib.mjs';

const N = Number(process.env.N ?? 20_000);
const CONNECT_N = Number(process.env.CONNECT_N ?? Math.round(N / 2));
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const LATENCY_N = Number(process.env.LATENCY_N ?? 2000);
const PROFILE = process.env.PROFILE;
const PATHS = (process.env.PATHS ?? 'xas,run').split(',');
const CPU_TARGET_US = 60;
const LATENCY_TARGET_MS = 0.62;
const HOST = 'api.bench.test';
const PASSPHRASE = 'bench-passphrase';
const KEY = 'BENCH_API_KEY';
const builds = { this: fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url)) };
if (process.env.BASE_DIR !== undefined)
  builds.base = resolve(process.env.BASE_DIR, 'dist/src/cli/main.js');
// A second build to compare with in the same run (e.g. main, when BASE_DIR is an older base).
if (process.env.MAIN_DIR !== undefined)
  builds.main = resolve(process.env.MAIN_DIR, 'dist/src/cli/main.js');

const UPSTREAM = `
const http = require('node:http'), https = require('node:https');
const body = JSON.stringify({ object: 'balance', available: [{ amount: 420000, currency: 'usd' }] });
const handler = (req, res) => { req.resume(); req.on('end', () => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body); }); };
const plain = http.createServer(handler), tls = https.createServer({ key: process.env.TLS_KEY, cert: process.env.TLS_CERT }, handler);
plain.keepAliveTimeout = tls.keepAliveTimeout = 60000;
plain.listen(0, '127.0.0.1', () => tls.listen(0, '127.0.0.1', () =>
  process.stdout.write(plain.address().port + ' ' + tls.address().port + '\\n')));
`;

// The floor: a pass-through proxy that does nothing but forward (undici, no checks, no
// injection, no redaction, no audit), measured the same way in the same run.
const BARE_PROXY = `
const http = require('node:http');
const { Agent, request } = require('undici');
const agent = new Agent({ keepAliveTimeout: 60000 });
const server = http.createServer(async (req, res) => {
  req.resume();
  try {
    const up = await request(process.env.UPSTREAM + '/v1/balance', { dispatcher: agent, headers: { authorization: 'Bearer reference' } });
    const body = Buffer.from(await up.body.arrayBuffer());
    res.writeHead(up.statusCode, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  } catch { res.writeHead(502); res.end(); }
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

const children = [];
const dirs = [];
let failed = true;
try {
  const work = await mkdtemp(join(tmpdir(), 'agentsecrets-cpu-'));
  dirs.push(work);
  const tls = makeCertificates(join(work, 'tls'));
  const upstream = spawn(process.execPath, ['-e', UPSTREAM], {
    env: { ...process.env, TLS_KEY: tls.key, TLS_CERT: tls.cert },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(upstream);
  const [plainPort, tlsPort] = await new Promise((ok) =>
    upstream.stdout.once('data', (d) => ok(String(d).trim().split(' ').map(Number))),
  );
  const bare = spawn(process.execPath, ['-e', BARE_PROXY], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { ...process.env, UPSTREAM: `http://127.0.0.1:${plainPort}` },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(bare);
  const barePort = await new Promise((ok) => bare.stdout.once('data', (d) => ok(Number(d))));
  const barePool = new Pool(`http://127.0.0.1:${barePort}`, { connections: CONNECTIONS });
  const bareCall = () => call(barePool, `http://127.0.0.1:${barePort}`, '/v1/balance', {});
  const secret = `sk_bench_${Date.now().toString(36)}_0123456789`;

  const parties = {};
  for (const [name, cli] of Object.entries(builds)) {
    const home = await mkdtemp(join(tmpdir(), `agentsecrets-cpu-${name}-`));
    dirs.push(home);
    await prepareHome({
      home,
      passphrase: PASSPHRASE,
      secrets: { [KEY]: secret },
      allowPorts: [plainPort],
      allowPatterns: [`${HOST}:${tlsPort}`],
    });
    const proxy = await startProxy(cli, home, tls.caFile, name === 'this' ? PROFILE : undefined);
    const ticket = await postToKeyHolder(proxy.state.socket, '/v1/run/start', {
      target: await defaultTarget(home),
      keys: [KEY],
      command: 'bench',
      identity: { source: 'run', agentId: 'bench' },
    });
    const xasOrigin = `http://127.0.0.1:${proxy.state.port}`;
    const xasHeaders = {
      'x-as-target-url': `http://127.0.0.1:${plainPort}/v1/balance`,
      'x-as-inject-bearer': KEY,
      'x-as-session-token': proxy.state.session_token,
    };
    const xasPool = new Pool(xasOrigin, { connections: CONNECTIONS, keepAliveTimeout: 60_000 });
    const xasOne = new Pool(xasOrigin, { connections: 1, keepAliveTimeout: 60_000 });
    const connect = new ProxyAgent({
      uri: ticket.proxy_url,
      connections: CONNECTIONS,
      keepAliveTimeout: 60_000,
      requestTls: { ca: ticket.ca_pem },
    });
    const origin = `https://${HOST}:${tlsPort}`;
    const runHeaders = { authorization: `Bearer ${ticket.placeholders[KEY]}` };
    parties[name] = {
      proxy,
      close: () => Promise.all([xasPool.close(), xasOne.close(), connect.close()]),
      xas: () => call(xasPool, xasOrigin, '/proxy', xasHeaders),
      xasOne: () => call(xasOne, xasOrigin, '/proxy', xasHeaders),
      run: () => call(connect, origin, '/v1/balance', runHeaders),
    };
  }
  const direct = new Pool(`http://127.0.0.1:${plainPort}`, { connections: 1 });
  const directCall = () => call(direct, `http://127.0.0.1:${plainPort}`, '/v1/balance', {});
  const names = Object.keys(parties);

  // Warm-up: JIT, connections, the CONNECT tunnels and leaves.
  for (const name of names) for (const path of PATHS) await fixed(parties[name][path], 1000);

  // 1. Single-client latency, calls alternating between direct and each build.
  const times = { direct: [] };
  for (const name of names) times[name] = [];
  for (let i = 0; i < LATENCY_N + 200; i++) {
    const order = ['direct', ...names];
    for (let k = 0; k < order.length; k++) {
      const who = order[(i + k) % order.length];
      const start = performance.now();
      await (who === 'direct' ? directCall() : parties[who].xasOne());
      if (i >= 200) times[who].push(performance.now() - start);
    }
  }
  await direct.close();

  // 2. CPU per call under load, a fixed number of calls, rounds alternating between builds.
  const results = {};
  for (const name of names) results[name] = { xas: [], run: [] };
  const bareCpu = [];
  await fixed(bareCall, 2000);
  for (let r = 0; r < ROUNDS; r++) {
    const before = await cpuMs(bare.pid);
    await fixed(bareCall, N);
    bareCpu.push((((await cpuMs(bare.pid)) - before) * 1000) / N);
    for (const name of r % 2 ? [...names].reverse() : names) {
      const party = parties[name];
      for (const path of PATHS) {
        const count = path === 'xas' ? N : CONNECT_N;
        const before = await cpuMs(party.proxy.child.pid);
        const outcome = await fixed(party[path], count);
        const used = (await cpuMs(party.proxy.child.pid)) - before;
        results[name][path].push({ cpuUs: (used * 1000) / count, ...outcome });
      }
    }
  }

  const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  console.log(
    `key holder CPU per call, ${new Date().toISOString()}, load average ${load}; ${ROUNDS} rounds of ${N} X-AS-* and ${CONNECT_N} CONNECT calls, ${CONNECTIONS} callers`,
  );
  console.log(
    `  bare pass-through (floor)  CPU/call ${bareCpu.map((v) => v.toFixed(0)).join(', ')} µs, median ${median(bareCpu).toFixed(1)} µs`,
  );
  await barePool.close();
  for (const name of names) {
    for (const path of PATHS) {
      const rows = results[name][path];
      console.log(
        `  ${name.padEnd(4)} ${path === 'xas' ? 'X-AS-* ' : 'CONNECT'}  CPU/call ${rows.map((r) => r.cpuUs.toFixed(0)).join(', ')} µs, median ${median(rows.map((r) => r.cpuUs)).toFixed(1)} µs;  ${Math.round(median(rows.map((r) => r.rate)))} req/s, p50 ${median(rows.map((r) => r.p50)).toFixed(2)} ms`,
      );
    }
  }
  const added = {};
  console.log(`single client, ${LATENCY_N} calls each: direct median ${ms3(median(times.direct))}`);
  for (const name of names) {
    added[name] = median(times[name]) - median(times.direct);
    console.log(
      `  ${name.padEnd(4)} X-AS-* median ${ms3(median(times[name]))}, p99 ${ms3(percentile(times[name], 99))}, added ${ms3(added[name])}`,
    );
  }
  for (const other of ['base', 'main']) {
    if (builds[other] === undefined) continue;
    const ratio = (path) =>
      median(results.this[path].map((r) => r.cpuUs)) /
      median(results[other][path].map((r) => r.cpuUs));
    console.log(
      `  this/${other} CPU per call: X-AS-* ${(ratio('xas') * 100).toFixed(1)}%, CONNECT ${(ratio('run') * 100).toFixed(1)}%`,
    );
  }
  const cpuThis = median(results.this.xas.map((r) => r.cpuUs));
  const cpuOk = cpuThis <= CPU_TARGET_US;
  const latencyOk = added.this <= LATENCY_TARGET_MS;
  console.log(
    `targets: CPU per X-AS-* call ${cpuThis.toFixed(1)} µs <= ${CPU_TARGET_US} µs ${cpuOk ? 'OK' : 'MISSED'}; added latency ${ms3(added.this)} <= ${LATENCY_TARGET_MS} ms ${latencyOk ? 'OK' : 'MISSED'}`,
  );
  for (const party of Object.values(parties)) await party.close();
  for (const party of Object.values(parties)) {
    party.proxy.child.kill('SIGTERM');
    await new Promise((ok) =>
      party.proxy.child.exitCode === null ? party.proxy.child.once('exit', ok) : ok(),
    );
  }
  failed = !cpuOk || !latencyOk;
} catch (err) {
  console.error(err);
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

/** `count` calls with CONNECTIONS callers in a closed loop: rate and median latency. */
async function fixed(kind, count) {
  let started = 0;
  const latencies = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (started < count) {
        started++;
        const s = performance.now();
        await kind();
        latencies.push(performance.now() - s);
      }
    }),
  );
  return { rate: count / ((performance.now() - t0) / 1000), p50: median(latencies) };
}

async function call(dispatcher, origin, path, headers) {
  const res = await dispatcher.request({ origin, path, method: 'GET', headers });
  const body = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${origin}${path}: ${res.statusCode} ${body}`);
}

/** User + system CPU time of a process in ms (Linux /proc, clock ticks of 10 ms). */
async function cpuMs(pid) {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function ms3(v) {
  return `${v.toFixed(3)} ms`;
}

async function startProxy(cli, home, caFile, profileDir) {
  const args = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const child = spawn(process.execPath, [...args, cli, 'proxy', 'start', '--port', '0'], {
    cwd: home,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      AGENTSECRETS_HOME: home,
      AGENTSECRETS_PASSPHRASE: PASSPHRASE,
      AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
      AGENTSECRETS_RESOLVE: `${HOST}=127.0.0.1`,
      AGENTSECRETS_CA_FILE: caFile,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  for (let waited = 0; waited < 30_000; waited += 50) {
    if (child.exitCode !== null) break;
    const state = await readFile(join(home, 'proxy.json'), 'utf8').then(JSON.parse, () => null);
    if (state?.pid === child.pid) return { child, state };
    await sleep(50);
  }
  throw new Error(`the proxy did not start:\n${stderr}`);
}

async function defaultTarget(home) {
  const ws = JSON.parse(await readFile(join(home, 'workspaces.json'), 'utf8')).workspaces[0];
  const config = JSON.parse(await readFile(join(home, 'config.json'), 'utf8'));
  return { workspaceId: ws.id, projectId: ws.projects[0].id, environment: config.environment };
}

/** A test CA and a leaf for HOST, made with openssl. */
function makeCertificates(dir) {
  execFileSync('mkdir', ['-p', dir]);
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=bench CA',
    ]),
  );
  run(
    ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-keyout',
      'leaf.key',
      '-out',
      'leaf.csr',
      '-subj',
      `/CN=${HOST}`,
    ]),
  );
  execFileSync('sh', ['-c', `printf 'subjectAltName=DNS:${HOST}' > ext.cnf`], { cwd: dir });
  run(
    [
      'x509',
      '-req',
      '-in',
      'leaf.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
    ].concat(['-out', 'leaf.pem', '-days', '2', '-extfile', 'ext.cnf']),
  );
  return {
    key: execFileSync('cat', [join(dir, 'leaf.key')], { encoding: 'utf8' }),
    cert: execFileSync('cat', [join(dir, 'leaf.pem')], { encoding: 'utf8' }),
    caFile: join(dir, 'ca.pem'),
  };
}
