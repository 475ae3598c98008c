// The credential proxy versus a direct call to the same loopback upstream, measured in one run.
// Targets (proxy issue): added latency of a proxied call, median <= 1 ms (keep-alive, audit on);
// throughput through the proxy >= 50% of direct. Upstream, proxy, client and wrk are separate
// processes, as in real use. A bare pass-through proxy (undici, no checks, no redaction, no
// audit) is measured alongside as a reference: the best any Node proxy can do on this machine.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent } from 'undici';
import { verifyChain } from '../dist/src/audit/verify.js';
import { prepareHome } from './home.mjs';
import { median, percentile } from './lib.mjs';

const N = Number(process.env.N ?? 2000);
const WARMUP = Number(process.env.WARMUP ?? 300);
const WRK_DURATION = process.env.WRK_DURATION ?? '5s';
const WRK_ROUNDS = Number(process.env.WRK_ROUNDS ?? 2);
const WRK_CONNECTIONS = Number(process.env.WRK_CONNECTIONS ?? 50);
const FSYNC = process.env.AGENTSECRETS_AUDIT_FSYNC ?? 'interval';
const LATENCY_TARGET_MS = 1;
const THROUGHPUT_TARGET = 0.5;
const SERVICE_MS = Number(process.env.SERVICE_MS ?? 2);
const PASSPHRASE = 'bench-passphrase';
const KEY = 'BENCH_API_KEY';
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const run = promisify(execFile);

// A small JSON API. A long keep-alive so the proxy's pooled connections are never cut mid-run.
const UPSTREAM = `
const http = require('node:http');
const body = JSON.stringify({ id: 'item_1', ok: true, items: [1, 2, 3] });
const delay = Number(process.env.DELAY_MS ?? 0);
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const answer = () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

// The reference: forwards every request to the upstream and buffers the answer, nothing else.
const BARE_PROXY = `
const http = require('node:http');
const { Agent, request } = require('undici');
const agent = new Agent({ keepAliveTimeout: 60000 });
const server = http.createServer(async (req, res) => {
  req.resume();
  try {
    const up = await request(process.env.UPSTREAM + '/v1/items', {
      dispatcher: agent,
      headers: { authorization: 'Bearer reference' },
    });
    const body = Buffer.from(await up.body.arrayBuffer());
    res.writeHead(up.statusCode, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  } catch {
    res.writeHead(502);
    res.end();
  }
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

const home = await mkdtemp(join(tmpdir(), 'agentsecrets-bench-'));
const children = [];
let failed = true;
try {
  const upstream = await startServer(UPSTREAM, {});
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
  // A second upstream with a realistic service time (a fast real API answers in milliseconds).
  const slowUpstream = await startServer(UPSTREAM, { DELAY_MS: String(SERVICE_MS) });
  const slowUrl = `http://127.0.0.1:${slowUpstream.port}`;
  const bare = await startServer(BARE_PROXY, { UPSTREAM: upstreamUrl });
  await prepareHome({
    home,
    passphrase: PASSPHRASE,
    secrets: { [KEY]: `sk_bench_${Date.now().toString(36)}` },
    allowPorts: [upstream.port, slowUpstream.port],
  });
  const proxy = await startProxy();
  const bareUrl = `http://127.0.0.1:${bare.port}`;
  const proxyUrl = `http://127.0.0.1:${proxy.state.port}`;
  const proxyHeaders = {
    'x-as-target-url': `${upstreamUrl}/v1/items`,
    'x-as-inject-bearer': KEY,
    'x-as-session-token': proxy.state.session_token,
  };

  // 1. Added latency: one keep-alive client; direct, reference and proxied calls in rotation.
  const agent = new Agent({ connections: 1, keepAliveTimeout: 60_000 });
  const kinds = {
    direct: () => timed(agent, upstreamUrl, '/v1/items', {}),
    bare: () => timed(agent, bareUrl, '/v1/items', {}),
    proxied: () => timed(agent, proxyUrl, '/proxy', proxyHeaders),
  };
  const names = Object.keys(kinds);
  const times = { direct: [], bare: [], proxied: [] };
  for (let i = 0; i < WARMUP + N; i++) {
    // Rotate the order, so no kind always runs right after another.
    for (let k = 0; k < names.length; k++) {
      const name = names[(i + k) % names.length];
      const elapsed = await kinds[name]();
      if (i >= WARMUP) times[name].push(elapsed);
    }
  }
  await agent.close();
  const added = median(times.proxied) - median(times.direct);
  const bareAdded = median(times.bare) - median(times.direct);

  // 2. Throughput: wrk with keep-alive against each, in alternating rounds.
  const rates = { direct: [], bare: [], proxied: [] };
  let wrkRequests = 0;
  for (let r = 0; r < WRK_ROUNDS; r++) {
    rates.direct.push((await wrk(`${upstreamUrl}/v1/items`, {})).rps);
    rates.bare.push((await wrk(`${bareUrl}/v1/items`, {})).rps);
    const p = await wrk(`${proxyUrl}/proxy`, proxyHeaders);
    rates.proxied.push(p.rps);
    wrkRequests += p.requests;
  }
  const ratio = median(rates.proxied) / median(rates.direct);
  const bareRatio = median(rates.bare) / median(rates.direct);
  // The same measurement against the upstream with a service time.
  const slowRates = { direct: [], proxied: [] };
  const slowHeaders = { ...proxyHeaders, 'x-as-target-url': `${slowUrl}/v1/items` };
  for (let r = 0; r < WRK_ROUNDS; r++) {
    slowRates.direct.push((await wrk(`${slowUrl}/v1/items`, {})).rps);
    const p = await wrk(`${proxyUrl}/proxy`, slowHeaders);
    slowRates.proxied.push(p.rps);
    wrkRequests += p.requests;
  }
  const slowRatio = median(slowRates.proxied) / median(slowRates.direct);
  const rssAfter = await rssMb(proxy.state.pid);

  // Stop the proxy (SIGTERM flushes the audit log) and check every call was recorded.
  proxy.child.kill('SIGTERM');
  const exit = await proxy.exited;
  const chain = await verifyChain(join(home, 'audit'));
  // wrk does not count calls still in flight when it stops; the proxy records them too.
  const minEntries = WARMUP + N + wrkRequests;

  const latencyOk = added <= LATENCY_TARGET_MS;
  const throughputOk = ratio >= THROUGHPUT_TARGET;
  const slowThroughputOk = slowRatio >= THROUGHPUT_TARGET;
  const auditOk = exit === 0 && chain.ok && chain.entries >= minEntries;
  const line = (label, values) =>
    `  ${label.padEnd(9)}median ${ms3(median(values))}  p99 ${ms3(percentile(values, 99))}`;
  const rateLine = (label, values) =>
    `  ${label.padEnd(9)}${values.map(rps).join(', ')}  median ${rps(median(values))}`;
  console.log(
    `credential proxy vs direct, loopback upstream, ${new Date().toISOString()}, ${cpus().length} cores (${cpus()[0]?.model})`,
  );
  console.log(
    `  audit durability: AGENTSECRETS_AUDIT_FSYNC=${FSYNC}${FSYNC === 'interval' ? ' (default: batches written to the OS, fsync every 1 s)' : ''}; each entry is written before its response is released`,
  );
  console.log(`latency: one keep-alive client, ${N} calls of each kind after ${WARMUP} warm-up`);
  console.log(line('direct', times.direct));
  console.log(line('bare', times.bare));
  console.log(line('proxied', times.proxied));
  console.log(
    `  added    median ${ms3(added)} (bare pass-through: ${ms3(bareAdded)}); target <= ${LATENCY_TARGET_MS} ms  ${latencyOk ? 'OK' : 'MISSED'}`,
  );
  console.log(
    `throughput: wrk -t2 -c${WRK_CONNECTIONS} -d${WRK_DURATION}, ${WRK_ROUNDS} alternating round(s)`,
  );
  console.log(rateLine('direct', rates.direct));
  console.log(rateLine('bare', rates.bare));
  console.log(rateLine('proxied', rates.proxied));
  console.log(
    `  ratio    ${pct(ratio)} of direct (bare pass-through: ${pct(bareRatio)}); target >= ${pct(THROUGHPUT_TARGET)}  ${throughputOk ? 'OK' : 'MISSED'}`,
  );
  console.log(
    `throughput against an upstream with a ${SERVICE_MS} ms service time (same wrk settings)`,
  );
  console.log(rateLine('direct', slowRates.direct));
  console.log(rateLine('proxied', slowRates.proxied));
  console.log(
    `  ratio    ${pct(slowRatio)} of direct; target >= ${pct(THROUGHPUT_TARGET)}  ${slowThroughputOk ? 'OK' : 'MISSED'}`,
  );
  console.log(
    `proxy: RSS after the run ${rssAfter === undefined ? 'n/a' : `${rssAfter.toFixed(1)} MiB`}; exit code ${exit}`,
  );
  console.log(
    `audit: ${chain.entries} entries (at least ${minEntries} expected), chain ${chain.ok ? 'intact' : `BROKEN at ${JSON.stringify(chain.firstBreak)}`}  ${auditOk ? 'OK' : 'FAILED'}`,
  );
  failed = !latencyOk || !throughputOk || !auditOk;
} catch (err) {
  console.error(err);
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await rm(home, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

/** A `node -e` server in its own process (run from the repository, for undici); its port. */
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

/** `agentsecrets proxy start --port 0`; resolves once proxy.json names it. */
async function startProxy() {
  const child = spawn(process.execPath, [cli, 'proxy', 'start', '--port', '0'], {
    cwd: home,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      AGENTSECRETS_HOME: home,
      AGENTSECRETS_PASSPHRASE: PASSPHRASE,
      AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
      AGENTSECRETS_AUDIT_FSYNC: FSYNC,
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
    if (state?.pid === child.pid) return { child, state, exited };
    await sleep(50);
  }
  throw new Error(`the proxy did not start:\n${stderr}`);
}

/** Wall time in ms of one GET, body included; throws unless it answers 200. */
async function timed(agent, origin, path, headers) {
  const start = performance.now();
  const res = await agent.request({ origin, path, method: 'GET', headers });
  const body = await res.body.text();
  const elapsed = performance.now() - start;
  if (res.statusCode !== 200) throw new Error(`${origin}${path}: ${res.statusCode} ${body}`);
  return elapsed;
}

/** One wrk run; throws on socket errors or any non-2xx answer. */
async function wrk(url, headers) {
  const args = ['-t2', `-c${WRK_CONNECTIONS}`, `-d${WRK_DURATION}`];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  const { stdout } = await run('wrk', [...args, url]);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  const total = /(\d+) requests in/.exec(stdout);
  if (rate === null || total === null) throw new Error(`unexpected wrk output:\n${stdout}`);
  if (/Non-2xx or 3xx responses|Socket errors/.test(stdout)) {
    throw new Error(`wrk saw errors against ${url}:\n${stdout}`);
  }
  return { rps: Number(rate[1]), requests: Number(total[1]) };
}

/** Resident set size of a process in MiB (Linux). */
function rssMb(pid) {
  return readFile(`/proc/${pid}/status`, 'utf8').then(
    (text) => Number(/^VmRSS:\s+(\d+)/m.exec(text)?.[1]) / 1024,
    () => undefined,
  );
}

function ms3(value) {
  return `${value.toFixed(3)} ms`;
}

function pct(value) {
  return `${(value * 100).toFixed(1)}%`;
}

function rps(value) {
  return `${Math.round(value)} req/s`;
}
