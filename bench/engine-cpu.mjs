// CPU per credentialed call, this build against another, in one run (BASE_DIR: a built
// checkout, as for proxy-baseline.mjs). Each build's in-process credential service makes N
// calls (bearer injection, a small JSON answer, audit on) to one loopback upstream in its own
// process; this process's CPU time per call is what the check, injection, forwarding, scrub and
// audit cost. CPU time, unlike wall time or wrk's rate, hardly moves when other jobs share the
// machine. SECRETS sets how many other values are in the vault (scrubbed from every answer by
// this build, not by builds before the redaction issue).
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from './lib.mjs';

const BASE_DIR = process.env.BASE_DIR;
if (BASE_DIR === undefined) {
  console.error('set BASE_DIR to a built checkout of the commit to compare with');
  process.exit(2);
}
const N = Number(process.env.N ?? 2000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const SECRETS = Number(process.env.SECRETS ?? 0);
const builds = { base: resolve(BASE_DIR, 'dist/src'), this: resolve('dist/src') };

const upstream = spawn(
  process.execPath,
  [
    '-e',
    `const http = require('node:http');
const body = JSON.stringify({ id: 'item_1', ok: true, items: [1, 2, 3] });
const server = http.createServer((req, res) => { req.resume(); req.on('end', () => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body); }); });
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));`,
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
const port = await new Promise((ok) => upstream.stdout.once('data', (d) => ok(Number(String(d)))));
const homes = [];

async function setUp(name) {
  const dist = builds[name];
  const load = (path) => import(pathToFileURL(join(dist, path)).href);
  const { loadConfig } = await load('core/config.js');
  const { TEST_KDF_COST } = await load('crypto/kdf.js');
  const { createServices } = await load('services/index.js');
  const { createMemoryKeyProvider } = await load('vault/key-providers.js');
  const { createLocalCredentialService } = await load('proxy/credential-service.js');
  const home = await mkdtemp(join(tmpdir(), `agentsecrets-cpu-${name}-`));
  homes.push(home);
  const memory = createMemoryKeyProvider();
  const config = loadConfig(
    { AGENTSECRETS_HOME: home, AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    home,
  );
  const services = createServices(config, { memoryKeys: memory, kdfCost: TEST_KDF_COST });
  await services.vault.create(memory);
  const { workspace } = await services.workspaces.initLocal({
    projectName: 'bench',
    backend: 'passphrase',
  });
  const current = await services.workspaces.resolve();
  const vault = await services.vault.unlock();
  const entries = [{ key: 'API_KEY', value: `sk_bench_${Date.now().toString(36)}_0123456789` }];
  for (let i = 0; i < SECRETS; i++) {
    entries.push({ key: `OTHER_${i}`, value: `other_${i}_${Date.now().toString(36)}_abcdefghij` });
  }
  await vault.set(current.selection, entries);
  vault.close();
  await services.workspaces.updateWorkspace(workspace.id, (w) => {
    w.allowlist = [
      { pattern: `127.0.0.1:${port}`, added_by: 'bench', added_at: new Date().toISOString() },
    ];
  });
  const service = await createLocalCredentialService({
    config,
    workspaces: services.workspaces,
    vault: services.vault,
    unlock: () => services.vault.unlock(),
  });
  const input = {
    url: `http://127.0.0.1:${port}/v1/items`,
    method: 'GET',
    headers: [],
    body: undefined,
    injections: [{ style: 'bearer', key: 'API_KEY' }],
    target: {
      workspaceId: workspace.id,
      projectId: current.project.id,
      environment: current.environment,
    },
    identity: { source: 'sdk' },
  };
  return { service, call: () => service.call(input) };
}

const runners = { base: await setUp('base'), this: await setUp('this') };
const cpu = { base: [], this: [] };
try {
  for (const r of Object.values(runners)) for (let i = 0; i < 200; i++) await r.call();
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of round % 2 ? ['this', 'base'] : ['base', 'this']) {
      const start = process.cpuUsage();
      for (let i = 0; i < N; i++) {
        const result = await runners[name].call();
        if (result.status !== 200) throw new Error(`${name}: ${result.status}`);
      }
      const used = process.cpuUsage(start);
      cpu[name].push((used.user + used.system) / N);
    }
  }
  const ratio = median(cpu.this) / median(cpu.base);
  console.log(
    `CPU per in-process call, ${SECRETS} other secrets in the vault, ${ROUNDS} rounds of ${N}, ${new Date().toISOString()}`,
  );
  console.log(
    `  base ${cpu.base.map((v) => v.toFixed(0)).join(', ')} µs; median ${median(cpu.base).toFixed(0)} µs`,
  );
  console.log(
    `  this ${cpu.this.map((v) => v.toFixed(0)).join(', ')} µs; median ${median(cpu.this).toFixed(0)} µs`,
  );
  console.log(
    `  this/base ${(ratio * 100).toFixed(1)}% (throughput target: at most 10% lower, so <= 111%)`,
  );
  process.exitCode = ratio <= 1.11 ? 0 : 1;
} finally {
  for (const r of Object.values(runners)) await r.service.close();
  upstream.kill();
  for (const home of homes) await rm(home, { recursive: true, force: true });
}
