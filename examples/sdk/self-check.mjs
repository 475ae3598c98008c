// A self-verifying SDK example: a throw-away state folder, a local echo server standing in
// for an API, a proxy, and one call. Exits non-zero if the secret leaks or the call fails.
// Run from the repository after `npm ci`: node examples/sdk/self-check.mjs
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentSecrets } from 'agentsecrets';

const cli = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const home = mkdtempSync(join(tmpdir(), 'agentsecrets-example-'));
const secret = `sk_example_${Math.random().toString(36).slice(2)}`;
const env = {
  ...process.env,
  AGENTSECRETS_HOME: home,
  AGENTSECRETS_PASSPHRASE: 'example-passphrase',
  AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
};
const run = (args, input) => {
  // cwd: the throw-away folder, so `init` writes its workflow file there, not here.
  const r = spawnSync(process.execPath, [cli, ...args], {
    env,
    input,
    encoding: 'utf8',
    cwd: home,
  });
  if (r.status !== 0) throw new Error(`agentsecrets ${args.join(' ')} failed: ${r.stderr}`);
};

const api = createServer((req, res) =>
  res.end(JSON.stringify({ you_sent: req.headers.authorization })),
);
await new Promise((resolve) => api.listen(0, '127.0.0.1', resolve));
const port = api.address().port;
run(['init', '--backend', 'passphrase', '--weak-kdf-for-tests']);
run(['secrets', 'set', 'EXAMPLE_KEY'], secret);
// The allowlist is human-gated; `script` gives the command the terminal a human would.
spawnSync(
  'script',
  [
    '-qec',
    `${process.execPath} ${cli} workspace allowlist add 127.0.0.1:${port} --yes`,
    '/dev/null',
  ],
  { env },
);
const proxy = spawn(process.execPath, [cli, 'proxy', 'start', '--port', '0'], {
  env,
  stdio: 'ignore',
  cwd: home,
});

const client = new AgentSecrets({ home, autoStart: false });
let ok;
try {
  for (let i = 0; i < 100 && !(await client.status()).running; i++)
    await new Promise((r) => setTimeout(r, 100));
  const response = await client.call({
    url: `http://127.0.0.1:${port}/whoami`,
    bearer: 'EXAMPLE_KEY',
  });
  console.log(`HTTP ${response.status}: ${response.text()}`);
  ok = response.status === 200 && response.redacted && !response.text().includes(secret);
} finally {
  client.close();
  proxy.kill('SIGTERM');
  api.close();
  await new Promise((r) => proxy.once('exit', r));
  rmSync(home, { recursive: true, force: true });
}
console.log(ok ? 'ok: the secret was injected and never came back' : 'FAILED');
process.exitCode = ok ? 0 : 1;
