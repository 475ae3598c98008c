/**
 * Informational answers (1xx) before the real one, through the engine against a real upstream
 * on 127.0.0.1. undici hands a 103 Early Hints to the forwarder's handler like an answer; the
 * forwarder took it as the answer: the call got status 103 and a body stream that nothing
 * fed (the final answer went to another), so the call never ended and its audit entry was
 * never written, although the secret had gone upstream.
 */
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newestEntries } from '../../src/audit/reader.js';
import { type LocalCredentialService } from '../../src/proxy/credential-service.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { makeWorkspace, serviceFor, type Workspace } from '../helpers/proxy-fixture.js';

const VALUE = canary('EARLY');

describe('1xx answers before the answer', () => {
  let ws: Workspace;
  let service: LocalCredentialService;
  let port = 0;
  const sockets = new Set<Socket>();
  /** What the upstream got last (its Authorization header holds the value). */
  let received = '';

  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let seen = '';
    socket.on('data', (d) => {
      seen += d.toString('latin1');
      const end = seen.indexOf('\r\n\r\n');
      if (end < 0) return;
      received = seen.slice(0, end);
      seen = '';
      const value = /authorization: Bearer (\S+)/i.exec(received)?.[1] ?? '';
      const framing = /framing=(\w+)/.exec(received)?.[1];
      const body = `{"echo":"${value}"}`;
      socket.write(`HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n`);
      setTimeout(() => {
        socket.write(
          framing === 'chunked'
            ? `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`
            : `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
      }, 10);
    });
  });

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

  it.each(['length', 'chunked'])(
    'a 103 then a %s-framed answer: the answer comes back scrubbed, and is audited',
    async (framing) => {
      const result = await service.call({
        url: `http://127.0.0.1:${port}/?framing=${framing}`,
        method: 'GET',
        headers: [],
        body: undefined,
        injections: [{ style: 'bearer', key: 'API_KEY' }],
        target: ws.target,
        identity: { source: 'cli' },
      });
      // The attack: the upstream got the value and echoed it.
      expect(received).toContain(VALUE);
      expect(result.status).toBe(200);
      expect(findLeaks(result.body, VALUE)).toEqual([]);
      expect(result.body.toString()).toContain('"echo"');
      expect(result.redacted).toBe(true);
      const [entry] = await newestEntries(ws.services.config.paths.auditDir, 1);
      expect(entry!.id).toBe(result.requestId);
      expect(entry!.status_code).toBe(200);
      expect(entry!.redacted).toBe(true);
    },
  );
});
