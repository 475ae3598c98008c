import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64 } from '../../src/crypto/aead.js';
import { boxKeyPair } from '../../src/crypto/seal.js';
import { signKeyPair } from '../../src/crypto/sign.js';
import { loadSodium } from '../../src/crypto/sodium.js';
import { createSyncApi } from '../../src/sync/api.js';
import { memberFingerprint } from '../../src/sync/crypto.js';
import { remoteWorkspace, teamContext } from '../../src/sync/team.js';
import { makeWorkspace } from '../helpers/proxy-fixture.js';

const sodium = await loadSodium();

/** What the client believes about members comes from keys, never from the server's labels. */
describe('member keys and fingerprints from a hostile server', () => {
  let server: Server;
  let url: string;
  const real = { box: boxKeyPair(sodium), sign: signKeyPair(sodium) };
  const attacker = boxKeyPair(sodium);

  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          workspace: { id: 'ws_x', name: 'acme', epoch: 1 },
          role: 'admin',
          members: [
            {
              id: 'usr_bob',
              // The attacker's box key, labelled with Bob's real fingerprint and a terminal escape.
              email: 'bob@example.com\u001b[2J',
              box_public: toBase64(attacker.publicKey),
              sign_public: toBase64(real.sign.publicKey),
              fingerprint: memberFingerprint(sodium, real.box.publicKey, real.sign.publicKey),
              role: 'member',
              status: 'pending',
            },
          ],
          invites: [],
          grants: [],
          doc: null,
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('recomputes the fingerprint from the keys it would seal to, and strips control characters', async () => {
    const ws = await makeWorkspace();
    const api = createSyncApi(url);
    api.useAccess('test-access-token');
    const team = await teamContext(ws.services, await ws.services.vault.unlock(), {
      account: { email: 'ada@example.com', userId: 'usr_ada', serverUrl: url },
      keys: { box: boxKeyPair(sodium), sign: signKeyPair(sodium) },
      api,
    });
    const remote = await remoteWorkspace(team, 'ws_x');
    const bob = remote.members[0]!;
    expect(bob.fingerprint).toBe(
      memberFingerprint(sodium, attacker.publicKey, real.sign.publicKey),
    );
    expect(bob.fingerprint).not.toBe(
      memberFingerprint(sodium, real.box.publicKey, real.sign.publicKey),
    );
    expect(bob.email).toBe('bob@example.com?[2J');
  });
});
