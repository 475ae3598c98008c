/**
 * A caller that hangs up while the upstream has not answered yet, through the credential
 * service against a real upstream on 127.0.0.1 that takes the request and never answers.
 * The exchange is aborted at once (the upstream sees its connection close), the call fails
 * with `cancelled`, and that is its audit entry. Before, the engine did not hand the caller's
 * signal to the forwarder: the exchange held its connection until the total deadline and was
 * then audited as the upstream's timeout.
 */
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newestEntries } from '../../src/audit/reader.js';
import { HangUp } from '../../src/core/hang-up.js';
import {
  createLocalCredentialService,
  type LocalCredentialService,
} from '../../src/proxy/credential-service.js';
import { canary } from '../helpers/canary.js';
import { makeWorkspace, type Workspace } from '../helpers/proxy-fixture.js';

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
    service = await createLocalCredentialService({
      config: ws.services.config,
      workspaces: ws.services.workspaces,
      vault: ws.services.vault,
      unlock: () => ws.services.vault.unlock(),
    });
  });

  afterAll(async () => {
    await service.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('aborts the upstream exchange at once and audits the call as cancelled', async () => {
    received = new Promise((r) => (gotHead = r));
    closed = new Promise((r) => (gotClose = r));
    const gone = new HangUp();
    const call = service.call({
      url: `http://127.0.0.1:${port}/slow`,
      method: 'GET',
      headers: [],
      body: undefined,
      injections: [{ style: 'bearer', key: 'API_KEY' }],
      target: ws.target,
      identity: { source: 'cli' },
      signal: gone,
    });
    const outcome = call.then(
      () => 'answered',
      (err: unknown) => err,
    );
    // The secret went upstream; the upstream holds the call without answering.
    expect(await received).toContain(VALUE);
    gone.abort();
    // The upstream's connection closes at once: without the signal handed to the forwarder it
    // stayed open until the total deadline (minutes), and this test timed out.
    await closed;
    const err = (await outcome) as { code?: string; message?: string };
    expect(err.code).toBe('cancelled');
    expect(String(err.message)).not.toContain(VALUE);
    const [entry] = await newestEntries(ws.services.config.paths.auditDir, 1);
    expect(entry!.status).toBe('ERROR');
    expect(entry!.reason).toBe('cancelled');
    expect(JSON.stringify(entry)).not.toContain(VALUE);
  }, 15_000);
});
