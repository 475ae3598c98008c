// `agentsecrets run`'s intercepting proxy (issue 13), measured in one run against baselines:
// - added latency of a request through CONNECT (TLS terminated, placeholder substituted, the
//   engine, TLS again upstream) versus a direct HTTPS call to the same local upstream, both on
//   kept-alive connections: target median <= 2 ms;
// - issuing a leaf certificate for a new host name: target median <= 5 ms;
// - throughput through CONNECT versus the X-AS-* protocol on the same key holder, same
//   upstream, same client concurrency: target >= 50%.
// Upstream, key holder and client are separate processes.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Agent, Pool, ProxyAgent } from 'undici';
import { loadLocalCa } from '../dist/src/proxy/ca.js';
import { postToKeyHolder } from '../dist/src/proxy/key-holder.js';
import { prepareHome } from './home.mjs';
import { median, percentile } from './lib.mjs';

const N = Number(process.env.N ?? 1500);
const WARMUP = Number(process.env.WARMUP ?? 200);
const LEAVES = Number(process.env.LEAVES ?? 300);
const SECONDS = Number(process.env.SECONDS ?? 5);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 20);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const HOST = 'api.bench.test';
const PASSPHRASE = 'bench-passphrase';
const KEY = 'BENCH_API_KEY';
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));

const UPSTREAM = `
const https = require('node:https');
const body = JSON.stringify({ id: 'item_1', ok: true, items: [1, 2, 3] });
const server = https.createServer({ key: process.env.TLS_KEY, cert: process.env.TLS_CERT }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

const home = await mkdtemp(join(tmpdir(), 'agentsecrets-bench-'));
const children = [];
let failed = true;
try {
  const tls = makeCertificates(join(home, 'tls'));
  const upstream = await startServer(UPSTREAM, { TLS_KEY: tls.key, TLS_CERT: tls.cert });
  await prepareHome({
    home,
    passphrase: PASSPHRASE,
    secrets: { [KEY]: `sk_bench_${Date.now().toString(36)}` },
    allowPorts: [],
    allowPatterns: [`${HOST}:${upstream.port}`],
  });
  const proxy = await startProxy(tls.caFile);
  const ticket = await postToKeyHolder(proxy.state.socket, '/v1/run/start', {
    target: await defaultTarget(),
    keys: [KEY],
    command: 'bench',
    identity: { source: 'run', agentId: 'bench' },
  });
  const placeholder = ticket.placeholders[KEY];
  const origin = `https://${HOST}:${upstream.port}`;
  const path = '/v1/items';
  const caPem = await readFile(tls.caFile, 'utf8');

  // Clients: direct (TLS to the upstream), X-AS-* (plain HTTP to the proxy port) and CONNECT
  // (through the intercepting proxy, trusting our CA), each keeping its connections alive.
  const direct = new Agent({
    connections: CONNECTIONS,
    keepAliveTimeout: 60_000,
    connect: { ca: caPem, lookup: (_h, _o, cb) => cb(null, [{ address: '127.0.0.1', family: 4 }]) },
  });
  const xas = new Pool(`http://127.0.0.1:${proxy.state.port}`, {
    connections: CONNECTIONS,
    keepAliveTimeout: 60_000,
  });
  const intercept = new ProxyAgent({
    uri: ticket.proxy_url,
    connections: CONNECTIONS,
    keepAliveTimeout: 60_000,
    requestTls: { ca: ticket.ca_pem },
  });
  const xasHeaders = {
    'x-as-target-url': `${origin}${path}`,
    'x-as-inject-bearer': KEY,
    'x-as-session-token': proxy.state.session_token,
  };
  const kinds = {
    direct: () => call(direct, origin, path, {}),
    xas: () => call(xas, `http://127.0.0.1:${proxy.state.port}`, '/proxy', xasHeaders),
    run: () => call(intercept, origin, path, { authorization: `Bearer ${placeholder}` }),
  };

  // 1. Latency, one request at a time, in rotation.
  const names = Object.keys(kinds);
  const times = { direct: [], xas: [], run: [] };
  for (let i = 0; i < WARMUP + N; i++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length];
      const start = performance.now();
      await kinds[name]();
      if (i >= WARMUP) times[name].push(performance.now() - start);
    }
  }
  const added = median(times.run) - median(times.direct);

  // 2. A new host's leaf: the key holder's code, on a fresh CA, one new name per issue.
  let stored;
  const ca = await loadLocalCa({
    store: { read: async () => stored, write: async (v) => void (stored = v) },
  });
  const leafTimes = [];
  for (let i = 0; i < LEAVES + 20; i++) {
    const start = performance.now();
    await ca.issue(`h${i}.leaf.bench.test`);
    if (i >= 20) leafTimes.push(performance.now() - start);
  }

  // 3. Throughput: CONNECTIONS concurrent callers for SECONDS, X-AS-* and CONNECT alternating.
  const rates = { xas: [], run: [] };
  for (let r = 0; r < ROUNDS; r++) {
    rates.xas.push(await load(kinds.xas));
    rates.run.push(await load(kinds.run));
  }
  const ratio = median(rates.run) / median(rates.xas);
  await Promise.all([direct.close(), xas.close(), intercept.close()]);

  const latencyOk = added <= 2;
  const leafOk = median(leafTimes) <= 5;
  const throughputOk = ratio >= 0.5;
  const line = (label, values) =>
    `  ${label.padEnd(9)}median ${ms3(median(values))}  p99 ${ms3(percentile(values, 99))}`;
  console.log(
    `intercepting proxy (run) vs direct HTTPS and X-AS-*, ${new Date().toISOString()}, ${cpus().length} cores (${cpus()[0]?.model})`,
  );
  console.log(`latency: one kept-alive connection each, ${N} calls of each kind after ${WARMUP}`);
  console.log(line('direct', times.direct));
  console.log(line('X-AS-*', times.xas));
  console.log(line('run', times.run));
  console.log(
    `  added    median ${ms3(added)} (run vs direct); target <= 2 ms  ${latencyOk ? 'OK' : 'MISSED'}`,
  );
  console.log(
    `leaf certificate for a new host: ${LEAVES} issues, median ${ms3(median(leafTimes))}, p99 ${ms3(percentile(leafTimes, 99))}; target <= 5 ms  ${leafOk ? 'OK' : 'MISSED'}`,
  );
  console.log(
    `throughput: ${CONNECTIONS} concurrent callers, ${SECONDS} s, ${ROUNDS} alternating rounds`,
  );
  console.log(`  X-AS-*   ${rates.xas.map(rps).join(', ')}  median ${rps(median(rates.xas))}`);
  console.log(`  CONNECT  ${rates.run.map(rps).join(', ')}  median ${rps(median(rates.run))}`);
  console.log(
    `  ratio    ${(ratio * 100).toFixed(1)}% of X-AS-*; target >= 50%  ${throughputOk ? 'OK' : 'MISSED'}`,
  );
  proxy.child.kill('SIGTERM');
  await proxy.exited;
  failed = !latencyOk || !leafOk || !throughputOk;
} catch (err) {
  console.error(err);
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(home, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

async function call(dispatcher, origin, path, headers) {
  const res = await dispatcher.request({ origin, path, method: 'GET', headers });
  const body = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${origin}${path}: ${res.statusCode} ${body}`);
}

/** Requests per second with CONNECTIONS callers in a closed loop for SECONDS. */
async function load(kind) {
  const until = performance.now() + SECONDS * 1000;
  let count = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < until) {
        await kind();
        count++;
      }
    }),
  );
  return count / SECONDS;
}

async function defaultTarget() {
  const ws = JSON.parse(await readFile(join(home, 'workspaces.json'), 'utf8')).workspaces[0];
  const config = JSON.parse(await readFile(join(home, 'config.json'), 'utf8'));
  return { workspaceId: ws.id, projectId: ws.projects[0].id, environment: config.environment };
}

function makeCertificates(dir) {
  execFileSync('mkdir', ['-p', dir]);
  const run = (args) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=bench CA',
  ]);
  run([
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    's.key',
    '-out',
    's.csr',
    '-subj',
    `/CN=${HOST}`,
  ]);
  execFileSync('sh', ['-c', `printf 'subjectAltName=DNS:${HOST},IP:127.0.0.1\\n' > ext.cnf`], {
    cwd: dir,
  });
  run([
    'x509',
    '-req',
    '-in',
    's.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    's.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  ]);
  return {
    caFile: join(dir, 'ca.pem'),
    key: execFileSync('cat', [join(dir, 's.key')]).toString(),
    cert: execFileSync('cat', [join(dir, 's.pem')]).toString(),
  };
}

async function startServer(source, env) {
  const child = spawn(process.execPath, ['-e', source], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const port = await new Promise((resolve, reject) => {
    child.stdout.once('data', (chunk) => resolve(Number(String(chunk).trim())));
    child.once('exit', (code) => reject(new Error(`a helper server exited with ${code}`)));
  });
  return { child, port };
}

async function startProxy(caFile) {
  const child = spawn(process.execPath, [cli, 'proxy', 'start', '--port', '0'], {
    cwd: home,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      AGENTSECRETS_HOME: home,
      AGENTSECRETS_PASSPHRASE: PASSPHRASE,
      AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
      AGENTSECRETS_CA_FILE: caFile,
      AGENTSECRETS_RESOLVE: `${HOST}=127.0.0.1`,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  for (let waited = 0; waited < 30_000; waited += 50) {
    if (child.exitCode !== null) break;
    const state = await readFile(join(home, 'proxy.json'), 'utf8').then(JSON.parse, () => null);
    if (state?.pid === child.pid && state.intercept_port) return { child, state, exited };
    await sleep(50);
  }
  throw new Error(`the proxy did not start:\n${stderr}`);
}

function ms3(value) {
  return `${value.toFixed(3)} ms`;
}

function rps(value) {
  return `${Math.round(value)} req/s`;
}
