// Issue "agent identity" performance targets, measured in one run:
// - token verification: cached ≤ 50 µs median per call, uncached ≤ 1 ms;
// - proxy throughput with issued tokens versus anonymous calls (ratio reported).
// Usage: node bench/identity.mjs   (after npm run build)
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../dist/src/core/config.js';
import { TEST_KDF_COST } from '../dist/src/crypto/kdf.js';
import { createAgentStore, newAgent } from '../dist/src/identity/agents.js';
import { createTokenVerifier, issueToken, loadSigningKey } from '../dist/src/identity/tokens.js';
import { startProxy } from '../dist/src/app/proxy-runtime.js';
import { createServices } from '../dist/src/services/index.js';
import { createMemoryKeyProvider } from '../dist/src/vault/key-providers.js';
import { median, percentile } from './lib.mjs';

const home = await mkdtemp(join(tmpdir(), 'agentsecrets-bench-id-'));
const upstream = createServer((_req, res) => res.end('{"ok":true}'));
await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const upstreamPort = upstream.address().port;

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
await vault.set(current.selection, [{ key: 'API_KEY', value: 'sk_bench_0123456789abcdef' }]);
await services.workspaces.updateWorkspace(workspace.id, (w) => {
  w.allowlist = [
    { pattern: `127.0.0.1:${upstreamPort}`, added_by: 'bench', added_at: new Date().toISOString() },
  ];
});
const key = await loadSigningKey(vault, workspace.id, { create: true });
const agents = createAgentStore(config.paths);
const agent = newAgent(workspace.id, 'bench-bot', '', new Date());
const tokens = [];
for (let i = 0; i < 2000; i++) {
  const issued = await issueToken({
    key,
    agent,
    label: `t${i}`,
    ttlSeconds: 3600,
    now: new Date(),
  });
  agent.tokens.push({
    id: issued.tokenId,
    label: '',
    created_at: new Date().toISOString(),
    expires_at: issued.expiresAt.toISOString(),
    revoked_at: null,
  });
  tokens.push(issued.token);
}
await agents.update((file) => void file.agents.push(agent));

// 1. Verification micro-benchmark.
const verifier = createTokenVerifier({
  workspaceId: workspace.id,
  publicKey: async () => key.publicKey,
  agents,
  cacheSize: 4096,
});
for (let i = 0; i < 200; i++) await verifier.verify(tokens[0]);
const cached = [];
for (let i = 0; i < 20_000; i++) {
  const t0 = process.hrtime.bigint();
  await verifier.verify(tokens[0]);
  cached.push(Number(process.hrtime.bigint() - t0) / 1000);
}
const uncachedVerifier = createTokenVerifier({
  workspaceId: workspace.id,
  publicKey: async () => key.publicKey,
  agents,
  cacheSize: 1,
});
const uncached = [];
for (const token of tokens) {
  const t0 = process.hrtime.bigint();
  await uncachedVerifier.verify(token);
  uncached.push(Number(process.hrtime.bigint() - t0) / 1000);
}

// 2. Proxy throughput: issued versus anonymous, the same keep-alive load, interleaved rounds.
const proxy = await startProxy({ services, vault, port: 0, host: '127.0.0.1', sessionToken: true });
const httpAgent = new Agent({ keepAlive: true, maxSockets: 32 });
const call = (extra) =>
  new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: proxy.state.port,
        path: '/proxy',
        agent: httpAgent,
        headers: {
          'X-AS-Session-Token': proxy.state.session_token,
          'X-AS-Target-URL': `http://127.0.0.1:${upstreamPort}/x`,
          'X-AS-Inject-Bearer': 'API_KEY',
          ...extra,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
async function throughput(extra, seconds) {
  let done = 0;
  const until = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (performance.now() < until) {
        await call(extra);
        done++;
      }
    }),
  );
  return done / seconds;
}
await throughput({}, 1); // warm-up
const rounds = { anonymous: [], issued: [] };
for (let i = 0; i < 3; i++) {
  rounds.anonymous.push(await throughput({}, 2));
  rounds.issued.push(await throughput({ 'X-AS-Agent-Token': tokens[1] }, 2));
}
httpAgent.destroy();
await proxy.close();
upstream.close();
await rm(home, { recursive: true, force: true });

const cachedMedian = median(cached);
const uncachedMedian = median(uncached);
const anon = median(rounds.anonymous);
const issued = median(rounds.issued);
console.log(
  'token verification (Ed25519/EdDSA via jose; revocation, generation and agent checked on every call)',
);
console.log(
  `  cached    median ${cachedMedian.toFixed(1)} µs  p99 ${percentile(cached, 99).toFixed(1)} µs  (target ≤ 50 µs)`,
);
console.log(
  `  uncached  median ${uncachedMedian.toFixed(1)} µs  p99 ${percentile(uncached, 99).toFixed(1)} µs  (target ≤ 1000 µs)`,
);
console.log(
  'proxy throughput, 32 keep-alive clients, in-process proxy and upstream, 3 interleaved rounds of 2 s',
);
console.log(`  anonymous  ${anon.toFixed(0)} calls/s`);
console.log(
  `  issued     ${issued.toFixed(0)} calls/s  (ratio issued/anonymous ${(issued / anon).toFixed(2)})`,
);
process.exitCode = cachedMedian <= 50 && uncachedMedian <= 1000 ? 0 : 1;
