import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../../src/server/runtime.js';
import { createFileStore } from '../../src/server/store-file.js';
import type { ServerStore } from '../../src/server/store.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * The server's request log: key holders poll it every few seconds, so a successful read is
 * logged at debug level (out of an info log), and writes and failures at info.
 */
describe('sync server request log levels', () => {
  const lines: { level: number; method: string; path: string; status: number }[] = [];
  let server: RunningServer;
  let store: ServerStore;

  beforeAll(async () => {
    store = await createFileStore({ dir: await tempDir() });
    await store.init();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) {
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry.msg === 'request') lines.push(entry as never);
        }
        callback();
      },
    });
    server = await startServer({
      store,
      port: 0,
      host: '127.0.0.1',
      signup: 'invite',
      logger: pino({ level: 'debug' }, sink),
    });
  });
  afterAll(async () => {
    await server.close();
    await store.close();
  });

  it('a successful GET (a poll) is debug; a failed POST is info', async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    const refused = await fetch(`${server.url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(refused.status).toBeGreaterThanOrEqual(400);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const health = lines.find((l) => l.path === '/health');
    const login = lines.find((l) => l.path === '/v1/auth/login');
    expect(health?.level).toBe(20);
    expect(login?.level).toBe(30);
  });
});
