import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { expect } from 'vitest';
import type { AuditEntry } from '../../src/audit/format.js';
import { newestEntries } from '../../src/audit/reader.js';
import { canary } from '../helpers/canary.js';
import { baseEnv, CLI, runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { echo, type Handler, startUpstream, type Upstream } from '../helpers/upstream.js';

export const PASSPHRASE = 'mcp-e2e-passphrase';
export const SECRET = canary('MCP');

/** A state folder with one secret, an allowlisted upstream and issued tokens. */
export interface Fixture {
  home: string;
  upstream: Upstream;
  env: Record<string, string>;
  tokens: Record<string, string>;
}

/** How long `/slow` takes to answer. */
export const SLOW_MS = 500;

/**
 * The echo upstream, plus `/slow` (answers after SLOW_MS) and `/header-name`, a malicious
 * upstream that puts the bearer value it received into response header names.
 */
export const routes: Handler = async (req, res, body) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/slow') await new Promise((r) => setTimeout(r, SLOW_MS));
  if (path !== '/header-name') return echo(req, res, body);
  const value = (req.headers.authorization ?? '').replace(/^Bearer /, '');
  res.setHeader(`x-${value}`, '1');
  res.setHeader(`x-leak-${Buffer.from(value).toString('hex')}`, '1');
  res.setHeader(`x-b64-${Buffer.from(value).toString('base64url')}`, '1');
  res.setHeader('x-kept', 'yes');
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('ok');
};

/** Runs the CLI at a terminal in the fixture's state folder; expects success. */
export async function human(fixture: Fixture, args: string[]): Promise<string> {
  const result = await runCliInPty(args, { home: fixture.home, env: fixture.env });
  expect(result.code, result.stdout).toBe(0);
  return result.stdout;
}

/** Creates an agent and issues it a token. */
export async function issueToken(fixture: Fixture, name: string): Promise<string> {
  expect(
    (await runCli(['agent', 'create', name], { home: fixture.home, env: fixture.env })).code,
  ).toBe(0);
  const token = (await human(fixture, ['agent', 'token', 'issue', name, '--yes']))
    .split(/\r?\n/)[0]!
    .trim();
  expect(token).toMatch(/^agt_/);
  return token;
}

/** Revokes the (only) token of `name`, as a human does. */
export async function revokeToken(fixture: Fixture, name: string): Promise<void> {
  const list = await runCli(['agent', 'token', 'list', name, '--json'], {
    home: fixture.home,
    env: fixture.env,
  });
  const [meta] = JSON.parse(list.stdout) as { id: string }[];
  await human(fixture, ['agent', 'token', 'revoke', meta!.id, '--agent', name, '--yes']);
}

/** A state folder, the routes upstream allowlisted, and tokens for three agents. */
export async function setup(): Promise<Fixture> {
  const upstream = await startUpstream(routes);
  const home = join(await tempDir(), 'state');
  const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE, AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' };
  expect(
    (await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], { home, env })).code,
  ).toBe(0);
  expect((await runCli(['secrets', 'set', 'API_KEY'], { home, env, input: SECRET })).code).toBe(0);
  const fixture: Fixture = { home, upstream, env, tokens: {} };
  await human(fixture, ['workspace', 'allowlist', 'add', `127.0.0.1:${upstream.port}`, '--yes']);
  for (const name of ['alpha-bot', 'beta-bot', 'gamma-bot']) {
    fixture.tokens[name] = await issueToken(fixture, name);
  }
  return fixture;
}

/** `mcp serve` over stdio, as an SDK client transport; stderr is kept. */
export function stdioClient(
  fixture: Fixture,
  extraEnv: Record<string, string> = {},
  args: string[] = [],
) {
  let stderr = '';
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', 'serve', ...args],
    env: baseEnv(fixture.home, { ...fixture.env, ...extraEnv }) as Record<string, string>,
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return { transport, stderr: () => stderr };
}

/** `mcp serve --transport http` on a free port; resolves with its base URL. */
export async function startHttp(
  fixture: Fixture,
  extra: string[],
): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(
    process.execPath,
    [CLI, 'mcp', 'serve', '--transport', 'http', '--port', '0', ...extra],
    { env: baseEnv(fixture.home, fixture.env), stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      const match = /(http:\/\/127\.0\.0\.1:\d+)\/mcp/.exec(stderr);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`mcp serve exited with ${code}: ${stderr}`)));
  });
  return { child, base: url };
}

/** Stops a server started by `startHttp`. */
export async function stopHttp(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** The newest audit entry that matches. */
export async function latest(
  fixture: Fixture,
  filter: (e: AuditEntry) => boolean,
): Promise<AuditEntry | undefined> {
  await new Promise((r) => setTimeout(r, 50));
  return (await newestEntries(join(fixture.home, 'audit'), 1000)).find(filter);
}
