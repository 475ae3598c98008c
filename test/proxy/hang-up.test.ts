/**
 * A caller of the X-AS-* proxy that hangs up while the upstream has not answered yet: a real
 * HTTP client, the proxy server on 127.0.0.1, and a real upstream that takes the request and
 * never answers. The exchange is aborted at once (the upstream sees its connection close) and
 * the call is audited `cancelled`. Before, the engine did not hand the caller's hang-up to the
 * forwarder: the exchange held its connection until the total deadline and was then audited
 * as the upstream's timeout. (MCP calls in flight still finish on shutdown: test/mcp/shutdown.)
 */
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newestEntries } from '../../src/audit/reader.js';
import { createProxyServer } from '../../src/proxy/http-server.js';
import { type LocalCredentialService } from '../../src/proxy/credential-service.js';
import { canary } from '../helpers/canary.js';
import { makeWorkspace, serviceFor, type Workspace } from '../helpers/proxy-fixture.js';

const VALUE = canary('HANGUP');

describe('a caller that hangs up before the answer', () => {
  let ws: Workspace;
  let service: LocalCredentialService;
  let port = 0;
  const sockets = new Set<Socket>();
  /** Resolves with the request's head when the upstream has it. */
  let received: Promise<string> = Promise.resolve('');
  /** Resolves when the upstream's connection for that request closes. */
  let closed: Promise<void> = Promise.resolve();

  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let seen = '';
    socket.on('data', (d) => {
      seen += d.toString('latin1');
      if (seen.includes('\r\n\r\n')) gotHead(seen);
    });
    socket.on('close', () => gotClose());
  });
  let gotHead: (head: string) => void = () => undefined;
  let gotClose: () => void = () => undefined;

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    ws = await makeWorkspace({
      secrets: { API_KEY: VALUE },
      allowlist: [`127.0.0.1:${port}`],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    service = await serviceFor(ws);
  });

  afterAll(async () => {
    await service.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('aborts the upstream exchange at once and audits the call as cancelled', async () => {
    received = new Promise((r) => (gotHead = r));
    closed = new Promise((r) => (gotClose = r));
    const proxy = createProxyServer({
      engine: service.engine,
      sessionToken: null,
      maxRequestBytes: 1 << 20,
      resolveTarget: async () => ws.target,
      identify: async () => ({ level: 'anonymous', agentId: null, tokenId: null, source: 'proxy' }),
      version: 'test',
    });
    const listening = await proxy.listen(0, '127.0.0.1');
    try {
      const req = httpRequest({
        host: '127.0.0.1',
        port: listening.port,
        path: '/proxy',
        method: 'GET',
        headers: {
          'X-AS-Target-URL': `http://127.0.0.1:${port}/slow`,
          'X-AS-Inject-Bearer': 'API_KEY',
        },
      });
      req.on('error', () => undefined);
      req.end();
      // The secret went upstream; the upstream holds the call without answering.
      expect(await received).toContain(VALUE);
      req.destroy();
      // The upstream's connection closes at once: without the hang-up handed to the forwarder
      // it stayed open until the total deadline (minutes), and this test timed out.
      await closed;
      let entry;
      for (let i = 0; i < 200; i++) {
        [entry] = await newestEntries(ws.services.config.paths.auditDir, 1);
        if (entry !== undefined) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(entry!.status).toBe('ERROR');
      expect(entry!.reason).toBe('cancelled');
      expect(JSON.stringify(entry)).not.toContain(VALUE);
    } finally {
      await proxy.close();
    }
  }, 15_000);
});
