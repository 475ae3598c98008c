import { spawn, spawnSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, findLeaks } from '../helpers/canary.js';
import { baseEnv, CLI, runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';

const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
const PASSPHRASE = 'examples-test-passphrase';
const SECRET = canary('EXAMPLES');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runExample(argv: string[], env: Record<string, string | undefined>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      cwd: examples,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const hasRequests =
  spawnSync('python3', ['-c', 'import requests'], { stdio: 'ignore' }).status === 0;

/** Every example, how it is run, and the variable that points it at a local API. */
const RUNNERS = {
  'sdk/call-stripe.mjs': {
    argv: [process.execPath, 'sdk/call-stripe.mjs'],
    url: 'STRIPE_BALANCE_URL',
  },
  'proxy/curl.sh': { argv: ['sh', 'proxy/curl.sh'], url: 'TARGET_URL' },
  'proxy/python_requests.py': { argv: ['python3', 'proxy/python_requests.py'], url: 'TARGET_URL' },
} as const;

/** A stack trace has "    at " frames (Node) or a "Traceback" (Python). */
function expectOneLineHint(run: Run, hint: string): void {
  expect(run.code).not.toBe(0);
  expect(run.stderr).toContain(hint);
  expect(run.stderr).not.toMatch(/\n\s+at |Traceback/);
  expect(run.stderr.trim().split('\n')).toHaveLength(1);
}

describe('examples stay true', () => {
  it('every example is run by this file (or, for mcp/*.json, by test/mcp/install.test.ts)', async () => {
    const files = (await readdir(examples, { recursive: true, withFileTypes: true }))
      .filter((d) => d.isFile())
      .map((d) => join(d.parentPath, d.name).slice(examples.length));
    const covered = [...Object.keys(RUNNERS), 'sdk/self-check.mjs', 'README.md'];
    const uncovered = files.filter((f) => !covered.includes(f) && !/^mcp\/.*\.json$/.test(f));
    expect(uncovered).toEqual([]);
  });

  it('examples/sdk/self-check.mjs runs and verifies itself', async () => {
    const result = await runExample([process.execPath, 'sdk/self-check.mjs'], {});
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('ok: the secret was injected and never came back');
  }, 60_000);

  describe('with no proxy running', () => {
    it.each(Object.entries(RUNNERS))('%s exits 1 with a one-line hint', async (name, runner) => {
      if (name.endsWith('.py') && !hasRequests) return;
      const home = await tempDir();
      const result = await runExample([...runner.argv], { AGENTSECRETS_HOME: home });
      expectOneLineHint(result, 'agentsecrets proxy start');
    });
  });

  describe('with a proxy', () => {
    let home: string;
    let upstream: Upstream;
    let proxy: ReturnType<typeof spawn>;
    const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE, AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' };

    beforeAll(async () => {
      upstream = await startUpstream(echo);
      home = join(await tempDir(), 'state');
      expect(
        (await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], { home, env }))
          .code,
      ).toBe(0);
      for (const key of ['STRIPE_KEY', 'GITHUB_TOKEN', 'OPENAI_API_KEY'])
        expect((await runCli(['secrets', 'set', key], { home, env, input: SECRET })).code).toBe(0);
      const allow = await runCliInPty(
        ['workspace', 'allowlist', 'add', `127.0.0.1:${upstream.port}`, '--yes'],
        { home, env },
      );
      expect(allow.code).toBe(0);
      proxy = spawn(process.execPath, [CLI, 'proxy', 'start', '--port', '0'], {
        env: baseEnv(home, env),
        stdio: 'ignore',
      });
      for (let i = 0; i < 300 && !(await readdir(home)).includes('proxy.json'); i++)
        await sleep(50);
    }, 60_000);

    afterAll(async () => {
      const exited = new Promise((resolve) => proxy.once('exit', resolve));
      proxy.kill('SIGTERM');
      await exited;
      await upstream.close();
    });

    it.each(Object.entries(RUNNERS))(
      '%s: a refused call (host not allowlisted) exits 1 with a one-line hint',
      async (name, runner) => {
        if (name.endsWith('.py') && !hasRequests) return;
        const result = await runExample([...runner.argv], { AGENTSECRETS_HOME: home });
        expectOneLineHint(result, 'allowlist add');
        expect(findLeaks(result.stdout + result.stderr, SECRET)).toEqual([]);
      },
    );

    it.each(Object.entries(RUNNERS))(
      '%s: an allowed call exits 0, and the echoed secret is scrubbed',
      async (name, runner) => {
        if (name.endsWith('.py') && !hasRequests) return;
        const result = await runExample([...runner.argv], {
          AGENTSECRETS_HOME: home,
          [runner.url]: `${upstream.url}/v1/resource`,
        });
        expect(result.code, result.stderr).toBe(0);
        expect(result.stdout).toContain('REDACTED_BY_AGENTSECRETS');
        expect(findLeaks(result.stdout + result.stderr, SECRET)).toEqual([]);
      },
    );
  });
});
