// MCP performance targets (MCP issue), measured in one run against a spawned `mcp serve`:
// - `list` and `status` round trips over stdio: median ≤ 5 ms;
// - `call` via MCP adds at most 2 ms (median) over a call through the HTTP proxy to the same
//   upstream. A proxy runs as the key holder, so the MCP server does its credentialed work
//   through it, as it would on a user's machine.
// Usage: node bench/mcp.mjs   (after npm run build)
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Agent, request } from 'undici';
import { prepareHome } from './home.mjs';
import { median, percentile } from './lib.mjs';

const N = Number(process.env.N ?? 500);
const PASSPHRASE = 'bench-mcp-passphrase';
const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const home = await mkdtemp(join(tmpdir(), 'agentsecrets-bench-mcp-'));
const env = {
  PATH: process.env.PATH,
  HOME: home,
  AGENTSECRETS_HOME: home,
  AGENTSECRETS_PASSPHRASE: PASSPHRASE,
  AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
};

const upstream = createServer((_req, res) => res.end('{"ok":true}'));
await new Promise((resolve) => upstream.listen(0, '127.0.0.1', resolve));
const upstreamUrl = `http://127.0.0.1:${upstream.address().port}`;

await prepareHome({
  home,
  passphrase: PASSPHRASE,
  secrets: { API_KEY: 'sk_bench_mcp_0123456789' },
  allowPorts: [upstream.address().port],
});

const proxy = spawn(process.execPath, [cli, 'proxy', 'start', '--port', '0'], {
  env,
  cwd: home,
  stdio: 'ignore',
});
let state;
for (let i = 0; i < 200 && state === undefined; i++) {
  state = await readFile(join(home, 'proxy.json'), 'utf8').then(JSON.parse, () => undefined);
  if (state === undefined) await new Promise((r) => setTimeout(r, 50));
}
const client = new Client({ name: 'bench', version: '1.0.0' });
await client.connect(
  new StdioClientTransport({
    command: process.execPath,
    args: [cli, 'mcp', 'serve'],
    env,
    cwd: home,
  }),
);
const agent = new Agent({ connections: 1 });
const proxied = async () => {
  const t0 = performance.now();
  const res = await request(`http://127.0.0.1:${state.port}/proxy`, {
    dispatcher: agent,
    headers: {
      'x-as-session-token': state.session_token,
      'x-as-target-url': `${upstreamUrl}/x`,
      'x-as-inject-bearer': 'API_KEY',
    },
  });
  await res.body.text();
  return performance.now() - t0;
};
const tool = async (name, args) => {
  const t0 = performance.now();
  const result = await client.callTool({ name, arguments: args });
  if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  return performance.now() - t0;
};

const times = { status: [], list: [], mcpCall: [], proxyCall: [] };
for (let i = 0; i < 50; i++) {
  await tool('status', {});
  await tool('call', { url: `${upstreamUrl}/x`, bearer: 'API_KEY' });
  await proxied();
}
for (let i = 0; i < N; i++) {
  times.status.push(await tool('status', {}));
  times.list.push(await tool('list', {}));
  times.mcpCall.push(await tool('call', { url: `${upstreamUrl}/x`, bearer: 'API_KEY' }));
  times.proxyCall.push(await proxied());
}
await client.close();
await agent.close();
proxy.kill('SIGTERM');
await new Promise((r) => proxy.once('exit', r));
upstream.close();
await rm(home, { recursive: true, force: true });

const fmt = (v) => `${v.toFixed(3)} ms`;
const show = (label, values) =>
  console.log(
    `  ${label.padEnd(22)} median ${fmt(median(values))}  p99 ${fmt(percentile(values, 99))}`,
  );
console.log(`MCP over stdio (spawned mcp serve, key holder running), ${N} rounds`);
show('status round trip', times.status);
show('list round trip', times.list);
show('call via MCP', times.mcpCall);
show('call via HTTP proxy', times.proxyCall);
const added = median(times.mcpCall) - median(times.proxyCall);
console.log(
  `  targets: status ${median(times.status) <= 5 ? 'OK' : 'MISSED'} (≤ 5 ms), list ${median(times.list) <= 5 ? 'OK' : 'MISSED'} (≤ 5 ms), call via MCP adds ${fmt(added)} ${added <= 2 ? 'OK' : 'MISSED'} (≤ 2 ms)`,
);
process.exitCode = median(times.status) <= 5 && median(times.list) <= 5 && added <= 2 ? 0 : 1;
