import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newestEntries } from '../../src/audit/reader.js';
import type * as Sdk from '../../src/sdk/index.js';
import { verifyChain } from '../../src/audit/verify.js';
import {
  type ApiUpstream,
  makeGitRepository,
  randomLoopback,
  startApiUpstream,
} from '../helpers/api-upstream.js';
import { canary, findLeaks, scanTree } from '../helpers/canary.js';
import { baseEnv, CLI, type CliResult, runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { makeCertificates, type TestCertificates } from '../helpers/upstream.js';

/**
 * `agentsecrets run` with real programs (issue 13): curl, Python requests and httpx (Debian
 * packages), Node fetch, undici, https and axios, the official openai and stripe SDKs, and git, each
 * aimed at a local HTTPS upstream that presents the real API host name. The child holds only
 * placeholders; the upstream receives the value; a host the secret is not bound to gets a 403.
 */

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const PYTHON = '/usr/bin/python3';
const PASSPHRASE = 'run-e2e-passphrase';
const OPENAI = `sk-${canary('OPENAI')}`;
const STRIPE = `sk_test_${canary('STRIPE')}`;
const GITHUB = `ghp_${canary('GITHUB')}`;
const VALUES = [OPENAI, STRIPE, GITHUB];
const TUNNEL = 'downloads.tunnel.test';

describe('agentsecrets run with real programs through the intercepting proxy', () => {
  let home: string;
  let workdir: string;
  let certs: TestCertificates;
  let upstream: ApiUpstream;
  let proxy: ChildProcess;
  let env: Record<string, string | undefined>;
  const outputs: string[] = [];

  const cli = async (args: string[], input?: string): Promise<CliResult> => {
    // Programs under `run` start in the repository, so Node resolves openai, stripe, undici and
    // axios from its node_modules; everything else runs elsewhere (init writes into its folder).
    const cwd = args[0] === 'run' ? REPO : workdir;
    const result = await runCli(args, { home, env, input, cwd, timeoutMs: 60_000 });
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  const human = async (args: string[]) => {
    const result = await runCliInPty([...args, '--yes'], { home, env });
    outputs.push(result.stdout);
    expect(result.code, result.stdout).toBe(0);
  };
  /** Requests the upstream saw for a path prefix since `from`. */
  const seenSince = (from: number, prefix: string) =>
    upstream.seen.slice(from).filter((s) => s.url.startsWith(prefix));

  beforeAll(async () => {
    const address = randomLoopback();
    certs = makeCertificates(['api.openai.com', 'api.stripe.com', 'api.github.com', TUNNEL]);
    const gitRoot = makeGitRepository(join(await tempDir(), 'git'));
    upstream = await startApiUpstream({
      address,
      key: certs.key,
      cert: certs.cert,
      gitRoot,
      gitPassword: GITHUB,
    });
    home = join(await tempDir(), 'state');
    workdir = await tempDir();
    env = {
      AGENTSECRETS_PASSPHRASE: PASSPHRASE,
      AGENTSECRETS_ALLOW_PRIVATE: `${address}/32`,
      AGENTSECRETS_CA_FILE: certs.caFile,
      AGENTSECRETS_RESOLVE: ['api.openai.com', 'api.stripe.com', 'api.github.com', TUNNEL]
        .map((h) => `${h}=${address}`)
        .join(','),
      GIT_TERMINAL_PROMPT: '0',
    };
    expect(
      (await cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests', '--no-gitignore']))
        .code,
    ).toBe(0);
    expect((await cli(['secrets', 'set', 'OPENAI_API_KEY'], OPENAI)).code).toBe(0);
    expect((await cli(['secrets', 'set', 'STRIPE_KEY'], STRIPE)).code).toBe(0);
    expect((await cli(['secrets', 'set', 'GITHUB_TOKEN'], GITHUB)).code).toBe(0);
    await human([
      'workspace',
      'allowlist',
      'add',
      'api.openai.com',
      'api.stripe.com',
      'api.github.com',
    ]);
    await human(['secrets', 'bind', 'OPENAI_API_KEY', 'api.openai.com', '--styles', 'bearer']);
    await human(['secrets', 'bind', 'STRIPE_KEY', 'api.stripe.com', '--styles', 'bearer,basic']);
    await human(['secrets', 'bind', 'GITHUB_TOKEN', 'api.github.com']);

    proxy = spawn(process.execPath, [CLI, 'proxy', 'start', '--port', '0'], {
      env: baseEnv(home, env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let proxyErr = '';
    proxy.stderr!.on('data', (c: Buffer) => (proxyErr += c.toString()));
    for (let i = 0; i < 200 && !proxyErr.includes('intercepting proxy'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    outputs.push(proxyErr);
    expect(proxyErr).toContain('intercepting proxy');
    expect(proxyErr).toContain('AGENTSECRETS_RESOLVE pins');
  }, 60_000);

  afterAll(async () => {
    if (proxy !== undefined && proxy.exitCode === null && proxy.signalCode === null) {
      proxy.kill('SIGTERM');
      await new Promise((r) => proxy.once('exit', r));
    }
    await upstream?.close();
    certs?.cleanup();
  });

  const node = (code: string) => [process.execPath, '--input-type=module', '-e', code];
  const python = (code: string) => [PYTHON, '-c', code];

  // One row per program: the request it makes with the placeholder, and where the value lands.
  const programs: {
    name: string;
    argv: string[];
    path: string;
    expected: (s: { headers: Record<string, unknown> }) => unknown;
    value: string;
  }[] = [
    {
      name: 'curl',
      argv: [
        'sh',
        '-c',
        'curl -sS --fail -H "Authorization: Bearer $OPENAI_API_KEY" https://api.openai.com/v1/curl',
      ],
      path: '/v1/curl',
      expected: (s) => s.headers.authorization,
      value: `Bearer ${OPENAI}`,
    },
    {
      name: 'Python requests',
      argv: python(
        "import os, requests; r = requests.get('https://api.openai.com/v1/requests', headers={'Authorization': 'Bearer ' + os.environ['OPENAI_API_KEY']}); print(r.status_code, r.text); r.raise_for_status()",
      ),
      path: '/v1/requests',
      expected: (s) => s.headers.authorization,
      value: `Bearer ${OPENAI}`,
    },
    {
      name: 'Python httpx',
      argv: python(
        "import os, httpx; r = httpx.get('https://api.openai.com/v1/httpx', headers={'Authorization': 'Bearer ' + os.environ['OPENAI_API_KEY']}); print(r.status_code, r.text); r.raise_for_status()",
      ),
      path: '/v1/httpx',
      expected: (s) => s.headers.authorization,
      value: `Bearer ${OPENAI}`,
    },
    {
      name: 'Node fetch',
      argv: node(
        "const r = await fetch('https://api.openai.com/v1/fetch', { headers: { authorization: 'Bearer ' + process.env.OPENAI_API_KEY } }); console.log(r.status, await r.text()); if (!r.ok) process.exit(1);",
      ),
      path: '/v1/fetch',
      expected: (s) => s.headers.authorization,
      value: `Bearer ${OPENAI}`,
    },
    {
      name: 'Node undici',
      argv: node(
        "import { request } from 'undici'; const r = await request('https://api.openai.com/v1/undici', { headers: { authorization: 'Bearer ' + process.env.OPENAI_API_KEY } }); console.log(r.statusCode, await r.body.text()); if (r.statusCode !== 200) process.exit(1);",
      ),
      path: '/v1/undici',
      expected: (s) => s.headers.authorization,
      value: `Bearer ${OPENAI}`,
    },
    {
      name: 'Node axios',
      argv: node(
        "import axios from 'axios'; const r = await axios.get('https://api.openai.com/v1/axios', { headers: { Authorization: 'Bearer ' + process.env.OPENAI_API_KEY } }); console.log(r.status, JSON.stringify(r.data));",
      ),
      path: '/v1/axios',
      expected: (s) => s.headers.authorization,
      value: `Bearer ${OPENAI}`,
    },
    {
      name: 'Node https with its own Agent',
      argv: node(
        "import https from 'node:https'; const agent = new https.Agent({ keepAlive: true }); https.get('https://api.github.com/v1/https', { agent, headers: { authorization: 'token ' + process.env.GITHUB_TOKEN } }, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => { console.log(r.statusCode, b); agent.destroy(); process.exitCode = r.statusCode === 200 ? 0 : 1; }); });",
      ),
      path: '/v1/https',
      expected: (s) => s.headers.authorization,
      value: `token ${GITHUB}`,
    },
    {
      name: 'the openai SDK (configured only by OPENAI_API_KEY)',
      argv: node(
        "import OpenAI from 'openai'; const page = await new OpenAI().models.list(); console.log(JSON.stringify(page.body ?? page).slice(0, 400));",
      ),
      path: '/v1/models',
      expected: (s) => s.headers.authorization,
      value: `Bearer ${OPENAI}`,
    },
    {
      name: 'the stripe SDK (configured only by STRIPE_KEY)',
      argv: node(
        "import Stripe from 'stripe'; const b = await new Stripe(process.env.STRIPE_KEY).balance.retrieve(); console.log(JSON.stringify(b).slice(0, 400));",
      ),
      path: '/v1/balance',
      expected: (s) => s.headers.authorization,
      value: `Bearer ${STRIPE}`,
    },
  ];

  for (const program of programs) {
    it(`${program.name}: the upstream receives the value, the child only a placeholder`, async () => {
      const from = upstream.seen.length;
      const result = await cli(['run', '--', ...program.argv]);
      expect(result.code, result.stderr + result.stdout).toBe(0);
      const seen = seenSince(from, program.path);
      expect(seen.length).toBeGreaterThan(0);
      expect(program.expected(seen[0]!)).toBe(program.value);
      // The echo came back through the engine's redaction.
      for (const value of VALUES)
        expect(findLeaks(result.stdout + result.stderr, value)).toEqual([]);
    }, 60_000);
  }

  it('git clone over HTTPS with the token in the URL', async () => {
    const dir = await tempDir();
    const from = upstream.seen.length;
    const result = await cli([
      'run',
      '--',
      'sh',
      '-c',
      `git clone -q "https://x-access-token:$GITHUB_TOKEN@api.github.com/git/repo.git" ${join(dir, 'clone')} && cat ${join(dir, 'clone', 'hello.txt')}`,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('hello from the test repository');
    const authorized = seenSince(from, '/git/').filter((s) => s.headers.authorization);
    expect(authorized.length).toBeGreaterThan(0);
    const pair = Buffer.from(
      String(authorized[0]!.headers.authorization).slice('Basic '.length),
      'base64',
    ).toString('utf8');
    expect(pair).toBe(`x-access-token:${GITHUB}`);
    // git writes the remote URL into the clone: it holds the placeholder, never the value.
    expect(await scanTree(join(dir, 'clone'), GITHUB)).toEqual([]);
    const config = await readFile(join(dir, 'clone', '.git', 'config'), 'utf8');
    expect(config).toContain('agentsecrets-ph-GITHUB_TOKEN-');
  }, 60_000);

  it('git clone over HTTPS with the token in a header (http.extraHeader)', async () => {
    const dir = await tempDir();
    const from = upstream.seen.length;
    const result = await cli([
      'run',
      '--',
      'sh',
      '-c',
      `git -c http.extraHeader="Authorization: Bearer $GITHUB_TOKEN" clone -q https://api.github.com/git/repo.git ${join(dir, 'clone')} && cat ${join(dir, 'clone', 'hello.txt')}`,
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('hello from the test repository');
    const authorized = seenSince(from, '/git/').map((s) => s.headers.authorization);
    expect(authorized.length).toBeGreaterThan(0);
    expect(authorized.every((a) => a === `Bearer ${GITHUB}`)).toBe(true);
  }, 60_000);

  it("the child's environment holds placeholders, proxy variables and the CA bundle, no value", async () => {
    const result = await cli(['run', '--', 'env']);
    expect(result.code).toBe(0);
    const lines = new Map(
      result.stdout
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const),
    );
    expect(lines.get('OPENAI_API_KEY')).toMatch(/^agentsecrets-ph-OPENAI_API_KEY-[0-9A-Za-z]{24}$/);
    expect(lines.get('STRIPE_KEY')).toMatch(/^agentsecrets-ph-STRIPE_KEY-[0-9A-Za-z]{24}$/);
    for (const name of [
      'HTTPS_PROXY',
      'https_proxy',
      'HTTP_PROXY',
      'http_proxy',
      'ALL_PROXY',
      'all_proxy',
    ]) {
      expect(lines.get(name)).toMatch(/^http:\/\/run:[0-9a-f]+@127\.0\.0\.1:\d+$/);
    }
    const bundle = lines.get('NODE_EXTRA_CA_CERTS')!;
    for (const name of [
      'SSL_CERT_FILE',
      'REQUESTS_CA_BUNDLE',
      'CURL_CA_BUNDLE',
      'GIT_SSL_CAINFO',
      'AWS_CA_BUNDLE',
      'DENO_CERT',
    ]) {
      expect(lines.get(name)).toBe(bundle);
    }
    expect(lines.get('NODE_OPTIONS')).toContain('--import=file://');
    expect(lines.get('NO_PROXY')).not.toContain('api.openai.com');
    expect(lines.has('AGENTSECRETS_PASSPHRASE')).toBe(false);
    for (const value of VALUES) expect(findLeaks(result.stdout, value)).toEqual([]);
    // Placeholders are unique per run.
    const again = await cli(['run', '--', 'sh', '-c', 'echo "$OPENAI_API_KEY"']);
    expect(again.stdout.trim()).toMatch(/^agentsecrets-ph-OPENAI_API_KEY-/);
    expect(again.stdout.trim()).not.toBe(lines.get('OPENAI_API_KEY'));
    // The run's bundle is gone once the run ends.
    expect(existsSync(bundle)).toBe(false);
  }, 60_000);

  // The attack: send one secret to a host it is not bound to. It works under `env`, which
  // hands the value over (the defence off); under `run` it gets a 403 and the upstream nothing.
  const misdirected: { name: string; command: string }[] = [
    {
      name: 'curl with STRIPE_KEY to api.openai.com',
      command:
        'curl -sS --fail-with-body -w " %{http_code}" -H "Authorization: Bearer $STRIPE_KEY" https://api.openai.com/v1/steal-curl',
    },
    {
      name: 'Python requests with OPENAI_API_KEY to api.github.com',
      command: `${PYTHON} -c "import os, requests, sys; r = requests.get('https://api.github.com/v1/steal-requests', headers={'Authorization': 'Bearer ' + os.environ['OPENAI_API_KEY']}); print(r.status_code, r.text); sys.exit(0 if r.ok else 22)"`,
    },
    {
      name: 'Node fetch with GITHUB_TOKEN to api.stripe.com',
      command: `${process.execPath} --input-type=module -e "const r = await fetch('https://api.stripe.com/v1/steal-fetch', { headers: { authorization: 'Bearer ' + process.env.GITHUB_TOKEN } }); console.log(r.status, await r.text()); process.exit(r.ok ? 0 : 22);"`,
    },
  ];
  for (const attack of misdirected) {
    it(`${attack.name}: reaches the upstream under env, 403 under run`, async () => {
      const path = /\/v1\/steal-[a-z]+/.exec(attack.command)![0];
      // Defence off: env hands the value to the program, which sends it anywhere.
      const direct = attack.command.replace(
        'curl -sS',
        `curl -sS --resolve api.openai.com:443:${upstream.address} --cacert ${certs.caFile}`,
      );
      if (attack.name.startsWith('curl')) {
        const from = upstream.seen.length;
        const leaked = await cli(['env', '--', 'sh', '-c', direct]);
        expect(leaked.code, leaked.stderr).toBe(0);
        expect(JSON.stringify(seenSince(from, path))).toContain(STRIPE);
      }
      const from = upstream.seen.length;
      const result = await cli(['run', '--', 'sh', '-c', attack.command]);
      expect(result.code).not.toBe(0);
      expect(result.stdout).toContain('secret_binding_mismatch');
      expect(result.stdout).toContain('403');
      expect(seenSince(from, path)).toEqual([]);
    }, 60_000);
  }

  it("an agent's rules apply to its run: a denied secret's placeholder gets 403 policy_denied", async () => {
    expect((await cli(['agent', 'create', 'billing-bot'])).code).toBe(0);
    const issued = await runCliInPty(['agent', 'token', 'issue', 'billing-bot', '--yes'], {
      home,
      env,
    });
    const token = issued.stdout.split(/\r?\n/)[0]!.trim();
    expect(token).toMatch(/^agt_/);
    await human(['agent', 'policy', 'set', 'billing-bot', '--deny-secrets', 'STRIPE_KEY']);
    const command =
      'curl -sS -w " %{http_code}" -H "Authorization: Bearer $STRIPE_KEY" https://api.stripe.com/v1/policy';
    // Without the agent's token (its rules do not bind an anonymous run): the call goes through.
    const from = upstream.seen.length;
    const allowed = await cli(['run', '--', 'sh', '-c', command]);
    expect(allowed.stdout).toMatch(/ 200$/);
    expect(seenSince(from, '/v1/policy')).toHaveLength(1);
    // As billing-bot, whose rules deny STRIPE_KEY: refused, nothing reaches the upstream.
    const before = upstream.seen.length;
    const refused = await runCli(['run', '--', 'sh', '-c', command], {
      home,
      env: { ...env, AGENTSECRETS_AGENT_TOKEN: token },
      cwd: REPO,
    });
    outputs.push(refused.stdout, refused.stderr);
    expect(refused.stdout).toContain('policy_denied');
    expect(refused.stdout).toMatch(/ 403$/);
    expect(seenSince(before, '/v1/policy')).toEqual([]);
    const entries = await newestEntries(join(home, 'audit'), 20);
    expect(
      entries.some(
        (e) => e.source === 'run' && e.agent_id === 'billing-bot' && e.reason === 'policy_denied',
      ),
    ).toBe(true);
  }, 60_000);

  it('CONNECT to a host outside the allowlist is refused with the allowlist add hint', async () => {
    const result = await cli([
      'run',
      '--',
      'sh',
      '-c',
      'curl -sS -i https://evil.example.com/ 2>&1; echo',
    ]);
    expect(result.stdout).toContain('CONNECT tunnel failed, response 403');
  });

  it('passthrough: refused until a human lists the host, then tunnelled untouched', async () => {
    const command = `curl -sS --fail -w " %{http_code}" --cacert ${certs.caFile} -H "X-Key: $OPENAI_API_KEY" https://${TUNNEL}/v1/tunnel`;
    const before = upstream.seen.length;
    const refused = await cli(['run', '--', 'sh', '-c', `${command} 2>&1; true`]);
    expect(refused.stdout).toMatch(/CONNECT tunnel failed, response 403|returned error: 403/);
    expect(seenSince(before, '/v1/tunnel')).toEqual([]);
    await human(['workspace', 'passthrough', 'add', TUNNEL]);
    const listed = await cli(['workspace', 'passthrough', 'list', '--json']);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ pattern: TUNNEL })]);
    const from = upstream.seen.length;
    const tunnelled = await cli(['run', '--', 'sh', '-c', command]);
    expect(tunnelled.code, tunnelled.stderr).toBe(0);
    const seen = seenSince(from, '/v1/tunnel');
    expect(seen).toHaveLength(1);
    // No substitution in a passthrough tunnel: the placeholder arrives as it is.
    expect(String(seen[0]!.headers['x-key'])).toMatch(/^agentsecrets-ph-OPENAI_API_KEY-/);
  }, 60_000);

  it('a placeholder prefix set by a human is kept, and the SDK still gets the value through', async () => {
    const pty = await runCliInPty(
      ['secrets', 'set', 'STRIPE_KEY', '--placeholder-prefix', 'sk_test_', '--yes'],
      { home, env, input: `${STRIPE}\n` },
    );
    expect(pty.code, 'secrets set --placeholder-prefix').toBe(0);
    const list = await cli(['secrets', 'list', '--json']);
    const meta = (
      JSON.parse(list.stdout) as { key: string; placeholder_prefix: string | null }[]
    ).find((r) => r.key === 'STRIPE_KEY');
    expect(meta?.placeholder_prefix).toBe('sk_test_');
    const echo = await cli(['run', '--', 'sh', '-c', 'echo "$STRIPE_KEY"']);
    expect(echo.stdout.trim()).toMatch(/^sk_test_agentsecrets-ph-STRIPE_KEY-[0-9A-Za-z]{24}$/);
    const from = upstream.seen.length;
    const sdk = await cli([
      'run',
      '--',
      ...node(
        "import Stripe from 'stripe'; await new Stripe(process.env.STRIPE_KEY).balance.retrieve(); console.log('ok');",
      ),
    ]);
    expect(sdk.code, sdk.stderr).toBe(0);
    expect(seenSince(from, '/v1/balance')[0]!.headers.authorization).toBe(`Bearer ${STRIPE}`);
  }, 60_000);

  it('status shows the intercepting proxy and the active runs; the SDK spawns through run', async () => {
    const status = await cli(['status', '--json']);
    const parsed = JSON.parse(status.stdout) as { intercept: { up: boolean; active_runs: number } };
    expect(parsed.intercept).toEqual(expect.objectContaining({ up: true, active_runs: 0 }));
    // From inside a run, the run itself is counted.
    const inside = await cli(['run', '--', process.execPath, CLI, 'status', '--json']);
    expect(
      (JSON.parse(inside.stdout) as { intercept: { active_runs: number } }).intercept.active_runs,
    ).toBe(1);
    const sdkPath = join(REPO, 'dist', 'src', 'sdk', 'index.js');
    const { AgentSecrets } = (await import(sdkPath)) as typeof Sdk;
    const client = new AgentSecrets({ home, agentId: 'sdk-spawner' });
    const from = upstream.seen.length;
    const child = client.spawn(
      'sh',
      [
        '-c',
        'curl -sS --fail -H "Authorization: Bearer $OPENAI_API_KEY" https://api.openai.com/v1/spawned',
      ],
      { env: baseEnv(home, env) },
    );
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    outputs.push(out);
    expect(code, out).toBe(0);
    expect(seenSince(from, '/v1/spawned')[0]!.headers.authorization).toBe(`Bearer ${OPENAI}`);
    const entries = await newestEntries(join(home, 'audit'), 20);
    expect(entries.some((e) => e.method === 'RUN' && e.agent_id === 'sdk-spawner')).toBe(true);
  }, 60_000);

  it('every run request is audited with the run source and the resolve override; the chain verifies', async () => {
    const entries = await newestEntries(join(home, 'audit'), 500);
    const runs = entries.filter((e) => e.source === 'run');
    expect(runs.some((e) => e.method === 'RUN' && e.auth_styles.includes('placeholder'))).toBe(
      true,
    );
    expect(runs.some((e) => e.status === 'OK' && e.domain === 'api.stripe.com')).toBe(true);
    expect(runs.some((e) => e.status === 'BLOCKED' && e.reason === 'secret_binding_mismatch')).toBe(
      true,
    );
    expect(runs.some((e) => e.reason === 'domain_not_in_allowlist' && e.method === 'CONNECT')).toBe(
      true,
    );
    for (const entry of runs.filter((e) => e.method !== 'RUN')) {
      expect(entry.private_override).toContain('resolve api.openai.com=');
    }
    expect((await verifyChain(join(home, 'audit'))).ok).toBe(true);
  });

  it('signals are forwarded to the child and its exit code passes through', async () => {
    const child = spawn(
      process.execPath,
      [CLI, 'run', '--', 'sh', '-c', 'trap "exit 42" TERM; echo ready; sleep 30 & wait'],
      { env: baseEnv(home, env), cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    await new Promise<void>((resolve) =>
      child.stdout!.on('data', (c: Buffer) => {
        if (c.toString().includes('ready')) resolve();
      }),
    );
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.kill('SIGTERM');
    const [code, signal] = await new Promise<[number | null, string | null]>((r) =>
      child.once('exit', (c, s) => r([c, s])),
    );
    outputs.push(stderr);
    expect({ code, signal }, stderr).toEqual({ code: 42, signal: null });
  }, 60_000);

  it('without a key holder, run serves its own child; the exit code passes through', async () => {
    proxy.kill('SIGTERM');
    await new Promise((r) => proxy.once('exit', r));
    const status = await cli(['status', '--json']);
    expect((JSON.parse(status.stdout) as { intercept: { up: boolean } }).intercept.up).toBe(false);
    const from = upstream.seen.length;
    const result = await cli([
      'run',
      '--only',
      'OPENAI_API_KEY',
      '--',
      'sh',
      '-c',
      'curl -sS --fail -H "Authorization: Bearer $OPENAI_API_KEY" https://api.openai.com/v1/in-process && test -z "$STRIPE_KEY" && exit 7',
    ]);
    expect(result.code, result.stderr).toBe(7);
    expect(seenSince(from, '/v1/in-process')[0]!.headers.authorization).toBe(`Bearer ${OPENAI}`);
  }, 60_000);

  it('canaries: no value in any output, the audit log or the state folder', async () => {
    const all = outputs.join('\n');
    for (const value of VALUES) {
      expect(findLeaks(all, value)).toEqual([]);
      expect(await scanTree(home, value)).toEqual([]);
    }
  });
});
