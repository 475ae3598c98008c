import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, CLI } from '../helpers/cli.js';
import { type Fixture, latest, setup, SLOW_MS } from './fixture.js';

/** A raw stdio MCP session: JSON-RPC lines, so that stdin can be closed at any moment. */
function spawnServer(fixture: Fixture) {
  const child = spawn(process.execPath, [CLI, 'mcp', 'serve'], {
    env: baseEnv(fixture.home, fixture.env),
    stdio: ['pipe', 'pipe', 'pipe'],
  }) as ChildProcessWithoutNullStreams;
  const replies = new Map<number, (message: unknown) => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line) as { id?: number };
    if (message.id !== undefined) replies.get(message.id)?.(message);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const send = (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`);
  const reply = (id: number) => new Promise((resolve) => replies.set(id, resolve));
  return { child, exited, send, reply };
}

async function initialize(server: ReturnType<typeof spawnServer>): Promise<void> {
  const ready = server.reply(1);
  server.send({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'shutdown-test', version: '1.0.0' },
    },
  });
  await ready;
  server.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
}

/** How the session ends while the call is in flight. One row per way. */
const ENDINGS: [string, (server: ReturnType<typeof spawnServer>) => Promise<void>][] = [
  ['stdin closes right after the call is sent', async (server) => void server.child.stdin.end()],
  [
    'SIGTERM arrives while the upstream is still answering',
    async (server) => {
      await new Promise((r) => setTimeout(r, SLOW_MS / 2));
      server.child.kill('SIGTERM');
    },
  ],
];

describe('mcp serve (stdio) shutting down with a call in flight', () => {
  let fixture: Fixture;
  beforeAll(async () => {
    fixture = await setup();
  });
  afterAll(() => fixture.upstream.close());

  it.each(ENDINGS)('%s: the call completes and its audit entry is written', async (how, end) => {
    const server = spawnServer(fixture);
    await initialize(server);
    const path = `/slow?ending=${encodeURIComponent(how)}`;
    server.send({
      jsonrpc: '2.0',
      id: 2,
      method: 'tools/call',
      params: {
        name: 'call',
        arguments: { url: `${fixture.upstream.url}${path}`, bearer: 'API_KEY' },
      },
    });
    await end(server);
    expect(await server.exited).toBe(0);
    expect(fixture.upstream.seen.some((r) => r.url === path)).toBe(true);
    expect(
      await latest(fixture, (e) => e.target_url === `${fixture.upstream.url}${path}`),
    ).toMatchObject({ status: 'OK', status_code: 200, source: 'mcp' });
  });
});
