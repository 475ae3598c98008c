import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, CLI, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The MCP conformance suite (@modelcontextprotocol/conformance 0.1.13, the last release that
 * runs on Node 20) against the HTTP transport with --allow-anonymous, for the scenarios that
 * apply to a real server (the others expect the SDK's "everything" fixture tools).
 */
const SCENARIOS = [
  'server-initialize',
  'ping',
  'tools-list',
  'prompts-list',
  'logging-set-level',
  'dns-rebinding-protection',
  'server-sse-multiple-streams',
];

const CONFORMANCE = join(
  dirname(createRequire(import.meta.url).resolve('@modelcontextprotocol/conformance/package.json')),
  'dist',
  'index.js',
);

describe('MCP conformance (HTTP transport, --allow-anonymous)', () => {
  let server: ChildProcess;
  let url: string;

  beforeAll(async () => {
    const home = await tempDir();
    const env = { AGENTSECRETS_PASSPHRASE: 'conformance-passphrase' };
    expect(
      (await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], { home, env }))
        .code,
    ).toBe(0);
    server = spawn(
      process.execPath,
      [CLI, 'mcp', 'serve', '--transport', 'http', '--port', '0', '--allow-anonymous'],
      {
        env: baseEnv(home, env),
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    url = await new Promise<string>((resolve, reject) => {
      server.stderr!.on('data', (c: Buffer) => {
        stderr += c.toString();
        const match = /(http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(stderr);
        if (match) resolve(match[1]!);
      });
      server.once('exit', (code) => reject(new Error(`mcp serve exited with ${code}: ${stderr}`)));
    });
  });

  afterAll(async () => {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  });

  it.each(SCENARIOS)('%s passes', async (scenario) => {
    const { code, output } = await new Promise<{ code: number | null; output: string }>(
      (resolve) => {
        const child = spawn(
          process.execPath,
          [CONFORMANCE, 'server', '--url', url, '--scenario', scenario],
          {
            env: { PATH: process.env.PATH, HOME: process.env.HOME },
          },
        );
        let output = '';
        child.stdout.on('data', (c: Buffer) => (output += c.toString()));
        child.stderr.on('data', (c: Buffer) => (output += c.toString()));
        child.on('close', (exitCode) => resolve({ code: exitCode, output }));
      },
    );
    expect(output, output).toMatch(/Passed: (\d+)\/\1, 0 failed/);
    expect(code, output).toBe(0);
  });
});
