import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import {
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postToKeyHolder } from '../../src/proxy/key-holder.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { baseEnv, CLI, runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';

/**
 * Approvals through MCP (issue 16): the real MCP client over stdio against `mcp serve`,
 * which sends its calls to the spawned key holder; the key holder holds a call to a domain
 * outside the allowlist (ask_unlisted) until someone decides.
 */

const SECRET = canary('MCPAPPROVE');

describe('approvals for MCP clients', () => {
  let home: string;
  let listed: Upstream;
  let unlisted: Upstream;
  let proxy: ChildProcess;
  const env = {
    AGENTSECRETS_PASSPHRASE: 'mcp-approval-passphrase',
    AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
  };
  const outputs: string[] = [];

  const connect = async (elicitation: boolean) => {
    const client = new Client(
      { name: elicitation ? 'eliciting-client' : 'plain-client', version: '1.0.0' },
      { capabilities: elicitation ? { elicitation: {} } : {} },
    );
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', 'serve'],
      env: baseEnv(home, env) as Record<string, string>,
      stderr: 'pipe',
    });
    await client.connect(transport);
    return client;
  };

  const socket = () => join(home, 'agentsecrets.sock');
  /** The id of the waiting call to `path`, once it waits. */
  const waitingFor = async (path: string) => {
    for (let i = 0; i < 200; i++) {
      const r = await postToKeyHolder(socket(), '/v1/dashboard/approvals', {});
      const id = (r.pending as { id: string; path: string }[]).find((p) => p.path === path)?.id;
      if (id !== undefined) return id;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error(`no call to ${path} waits`);
  };
  const pendingPaths = async () =>
    (
      (await postToKeyHolder(socket(), '/v1/dashboard/approvals', {})).pending as {
        path: string;
      }[]
    ).map((p) => p.path);
  /** A human's decision in the dashboard (login URL, session cookie, CSRF token). */
  const decideInDashboard = async (id: string, decision: string) => {
    const dash = await runCli(['dashboard', '--no-open', '--json'], { home, env });
    expect(dash.code, dash.stderr).toBe(0);
    const { url, login_url } = JSON.parse(dash.stdout) as { url: string; login_url: string };
    const login = await fetch(login_url, { redirect: 'manual' });
    const cookie = String(login.headers.get('set-cookie')).split(';')[0]!;
    // The session's pages live under its path secret (the login redirects there).
    const base = `${url}${String(login.headers.get('location')).replace(/\/$/, '')}`;
    const page = await (await fetch(`${base}/approvals`, { headers: { cookie } })).text();
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(page)![1]!;
    const decided = await fetch(`${base}/approvals/${id}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, origin: url, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf, decision }).toString(),
    });
    expect(decided.status).toBe(303);
    return url;
  };

  beforeAll(async () => {
    listed = await startUpstream(echo);
    unlisted = await startUpstream(echo);
    home = join(await tempDir(), 'state');
    const cli = (args: string[], input?: string) => runCli(args, { home, env, input });
    expect((await cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'])).code).toBe(0);
    expect((await cli(['secrets', 'set', 'API_KEY'], SECRET)).code).toBe(0);
    const add = await runCliInPty(
      ['workspace', 'allowlist', 'add', `127.0.0.1:${listed.port}`, '--yes'],
      { home, env },
    );
    expect(add.code, add.stdout).toBe(0);
    const config = await runCliInPty(
      ['approvals', 'config', '--ask-unlisted', 'on', '--timeout', '30', '--yes'],
      { home, env },
    );
    expect(config.code, config.stdout).toBe(0);
    proxy = spawn(process.execPath, [CLI, 'proxy', 'start', '--port', '0'], {
      env: baseEnv(home, env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (let i = 0; i < 400; i++) {
      if ((await readFile(join(home, 'proxy.json'), 'utf8').catch(() => undefined)) !== undefined)
        break;
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(async () => {
    if (proxy !== undefined && proxy.exitCode === null && proxy.signalCode === null) {
      proxy.kill('SIGTERM');
      await new Promise((r) => proxy.once('exit', r));
    }
    await Promise.all([listed?.close(), unlisted?.close()]);
  });

  it('never asks the MCP client: the call waits for the dashboard, where a human approves it', async () => {
    // A client that supports elicitation could answer for itself (review finding 3): it is
    // not asked, and the key holder takes no decision over its socket.
    const client = await connect(true);
    const asked: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(String(request.params.message));
      return { action: 'accept', content: { decision: 'approve_once' } };
    });
    const call = client.callTool({
      name: 'call',
      arguments: { url: `http://127.0.0.1:${unlisted.port}/waited`, bearer: 'API_KEY' },
    });
    const socket = join(home, 'agentsecrets.sock');
    let id: string | undefined;
    for (let i = 0; i < 200 && id === undefined; i++) {
      const r = await postToKeyHolder(socket, '/v1/dashboard/approvals', {});
      id = (r.pending as { id: string; path: string }[]).find((p) => p.path === '/waited')?.id;
      if (id === undefined) await new Promise((res) => setTimeout(res, 50));
    }
    expect(id).toBeDefined();
    await expect(
      postToKeyHolder(socket, '/v1/dashboard/decide', { id, decision: 'approve_once' }),
    ).rejects.toThrow();
    // The terminal view shows the same waiting call.
    const listing = await runCli(['approvals', 'list', '--json'], { home, env });
    expect(
      (JSON.parse(listing.stdout) as { id: string; path: string }[]).map((p) => p.path),
    ).toContain('/waited');
    outputs.push(listing.stdout, listing.stderr);
    // The human approves in the dashboard.
    await decideInDashboard(id!, 'approve_once');
    const result = await call;
    outputs.push(JSON.stringify(result), ...asked);
    expect(result.isError, JSON.stringify(result)).not.toBe(true);
    expect(asked).toEqual([]);
    expect(unlisted.seen.some((r) => r.url === '/waited')).toBe(true);
    await client.close();
    for (const text of outputs) expect(findLeaks(text, SECRET)).toEqual([]);
  });

  it('tells a client without elicitation that the call waits, and where a human decides', async () => {
    // The dashboard is serving (the test above started it): its URL is named.
    const client = await connect(false);
    const progress: string[] = [];
    const call = client.callTool(
      {
        name: 'call',
        arguments: { url: `http://127.0.0.1:${unlisted.port}/told`, bearer: 'API_KEY' },
      },
      undefined,
      {
        onprogress: (p) => progress.push(String(p.message)),
        resetTimeoutOnProgress: true,
      },
    );
    const id = await waitingFor('/told');
    for (let i = 0; i < 100 && progress.length === 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(progress[0]).toMatch(
      /^waiting for a human's approval \(up to 30 s\): open http:\/\/127\.0\.0\.1:\d+\/approvals or run `agentsecrets approvals watch`$/,
    );
    const url = await decideInDashboard(id, 'deny');
    const result = (await call) as { isError?: boolean; content: { text: string }[] };
    outputs.push(JSON.stringify(result), ...progress);
    expect(result.isError).toBe(true);
    const text = result.content.map((c) => c.text).join('\n');
    expect(text).toContain('approval_denied');
    expect(text).toContain(`${url}/approvals`);
    expect(text).toContain('agentsecrets approvals watch');
    expect(unlisted.seen.some((r) => r.url === '/told')).toBe(false);
    await client.close();
    for (const t of outputs) expect(findLeaks(t, SECRET)).toEqual([]);
  });

  it('logs the wait to a client that asked for no progress, and a cancelled call leaves the queue', async () => {
    const client = await connect(false);
    const logged: string[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
      logged.push(String(n.params.data));
    });
    const stop = new AbortController();
    const call = client
      .callTool(
        {
          name: 'call',
          arguments: { url: `http://127.0.0.1:${unlisted.port}/abandoned`, bearer: 'API_KEY' },
        },
        undefined,
        { signal: stop.signal },
      )
      .catch((e: unknown) => e);
    await waitingFor('/abandoned');
    for (let i = 0; i < 100 && logged.length === 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(logged[0]).toMatch(/^waiting for a human's approval \(up to 30 s\): open http/);
    stop.abort();
    await call;
    // Gone from the queue without a human, and audited as cancelled.
    let paths = await pendingPaths();
    for (let i = 0; i < 100 && paths.includes('/abandoned'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      paths = await pendingPaths();
    }
    expect(paths).not.toContain('/abandoned');
    const log = await runCli(['log', '--json', '--limit', '50'], { home, env });
    const reasons = (JSON.parse(log.stdout) as { reason: string | null; target_url: string }[])
      .filter((e) => e.target_url?.endsWith('/abandoned'))
      .map((e) => e.reason);
    expect(reasons).toContain('approval_cancelled');
    expect(unlisted.seen.some((r) => r.url === '/abandoned')).toBe(false);
    outputs.push(log.stdout, ...logged);
    await client.close();
    for (const t of outputs) expect(findLeaks(t, SECRET)).toEqual([]);
  });
});
