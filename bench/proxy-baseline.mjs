// This build's credential proxy against another build's, in one run (a regression check).
// Target (redaction issue): throughput regresses by at most 10% against the commit before the
// work. Give the other build as BASE_DIR, a built checkout:
//   git worktree add /tmp/base <commit> && (cd /tmp/base && npm ci && npm run build)
//   BASE_DIR=/tmp/base node bench/proxy-baseline.mjs
// Both proxies get the same state (one bearer secret, as in proxy.mjs) and the same loopback
// upstream; wrk rounds alternate between them. SECRETS=1000 adds that many other secrets to
// the vault, which this build scrubs from every response and the base build does not.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent } from 'undici';
import { prepareHome } from './home.mjs';
import { median } from './lib.mjs';

const BASE_DIR = process.env.BASE_DIR;
if (BASE_DIR === undefined) {
  console.error('set BASE_DIR to a built checkout of the commit to compare with (see the header)');
  process.exit(2);
}
const ROUNDS = Number(process.env.WRK_ROUNDS ?? 3);
const DURATION = process.env.WRK_DURATION ?? '5s';
const CONNECTIONS = Number(process.env.WRK_CONNECTIONS ?? 50);
const N = Number(process.env.N ?? 1000);
const SECRETS = Number(process.env.SECRETS ?? 0);
const TARGET = 0.9;
const KEY = 'BENCH_API_KEY';
const PASSPHRASE = 'bench-passphrase';
const run = promisify(execFile);
const builds = {
  base: resolve(BASE_DIR, 'dist/src/cli/main.js'),
  this: fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url)),
};

const UPSTREAM = `
const http = require('node:http');
const body = JSON.stringify({ id: 'item_1', ok: true, items: [1, 2, 3] });
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

const children = [];
const homes = [];
let failed = true;
try {
  const upstream = await startServer(UPSTREAM);
  const upstreamUrl = `http://127.0.0.1:${upstream.port}`;
  const secret = `sk_bench_${Date.now().toString(36)}_0123456789`;
  const others = Object.fromEntries(
    Array.from({ length: SECRETS }, (_, i) => [
      `OTHER_${i}`,
      `other_${i}_${Date.now().toString(36)}_abcdefghij`,
    ]),
  );
  const proxies = {};
  for (const [name, cli] of Object.entries(builds)) {
    const home = await mkdtemp(join(tmpdir(), `agentsecrets-bench-${name}-`));
    homes.push(home);
    await prepareHome({
      home,
      passphrase: PASSPHRASE,
      secrets: { [KEY]: secret, ...others },
      allowPorts: [upstream.port],
    });
    proxies[name] = await startProxy(cli, home);
  }
  const headers = (name) => ({
    'x-as-target-url': `${upstreamUrl}/v1/items`,
    'x-as-inject-bearer': KEY,
    'x-as-session-token': proxies[name].state.session_token,
  });
  const url = (name) => `http://127.0.0.1:${proxies[name].state.port}/proxy`;

  // Latency: one keep-alive client each, calls alternating. Each proxy's CPU time over the
  // measured calls (from /proc) gives its CPU per call, which load on the machine hardly moves.
  const agents = { base: new Agent({ connections: 1 }), this: new Agent({ connections: 1 }) };
  const times = { base: [], this: [] };
  const cpu = {};
  for (let i = 0; i < N + 100; i++) {
    if (i === 100) {
      for (const name of Object.keys(proxies)) cpu[name] = await cpuMs(proxies[name].child.pid);
    }
    for (const name of i % 2 ? ['base', 'this'] : ['this', 'base']) {
      const start = performance.now();
      const res = await agents[name].request({
        origin: url(name).replace('/proxy', ''),
        path: '/proxy',
        method: 'GET',
        headers: headers(name),
      });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`${name}: ${res.statusCode}`);
      if (i >= 100) times[name].push(performance.now() - start);
    }
  }
  await Promise.all(Object.values(agents).map((a) => a.close()));
  const perCall = {};
  for (const name of Object.keys(proxies)) {
    perCall[name] = ((await cpuMs(proxies[name].child.pid)) - cpu[name]) / N;
  }

  const rates = { base: [], this: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of r % 2 ? ['this', 'base'] : ['base', 'this']) {
      rates[name].push(await wrk(url(name), headers(name)));
    }
  }
  const ratio = median(rates.this) / median(rates.base);
  const ok = ratio >= TARGET;
  const fmt = (values) => values.map((v) => `${Math.round(v)}`).join(', ');
  console.log(
    `this build vs ${BASE_DIR}, ${SECRETS} other secrets in the vault, ${new Date().toISOString()}`,
  );
  console.log(
    `  latency (1 keep-alive client, ${N} calls each): base median ${median(times.base).toFixed(3)} ms, this ${median(times.this).toFixed(3)} ms`,
  );
  console.log(
    `  CPU per call: base ${(perCall.base * 1000).toFixed(0)} µs, this ${(perCall.this * 1000).toFixed(0)} µs`,
  );
  console.log(`  throughput (wrk -t2 -c${CONNECTIONS} -d${DURATION}, req/s):`);
  console.log(`    base ${fmt(rates.base)}  median ${Math.round(median(rates.base))}`);
  console.log(`    this ${fmt(rates.this)}  median ${Math.round(median(rates.this))}`);
  console.log(
    `  ratio this/base ${(ratio * 100).toFixed(1)}% (target >= ${TARGET * 100}%)  ${ok ? 'OK' : 'MISSED'}`,
  );
  failed = !ok;
} catch (err) {
  console.error(err);
} finally {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await sleep(300);
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const home of homes) await rm(home, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

/** User + system CPU time of a process in ms (Linux /proc, clock ticks of 10 ms). */
async function cpuMs(pid) {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function startServer(source) {
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const port = await new Promise((resolvePort, reject) => {
    child.stdout.once('data', (chunk) => resolvePort(Number(String(chunk).trim())));
    child.once('exit', (code) => reject(new Error(`the upstream exited with ${code}`)));
  });
  return { child, port };
}

async function startProxy(cli, home) {
  const child = spawn(process.execPath, [cli, 'proxy', 'start', '--port', '0'], {
    cwd: home,
    env: {
      PATH: process.env.PATH,
      HOME: home,
      AGENTSECRETS_HOME: home,
      AGENTSECRETS_PASSPHRASE: PASSPHRASE,
      AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
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

async function wrk(target, headers) {
  const args = ['-t2', `-c${CONNECTIONS}`, `-d${DURATION}`];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  const { stdout } = await run('wrk', [...args, target]);
  if (/Non-2xx or 3xx responses|Socket errors/.test(stdout)) {
    throw new Error(`wrk saw errors against ${target}:\n${stdout}`);
  }
  return Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]);
}
