import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentSecretsError } from '../../src/core/errors.js';
import { toBase64 } from '../../src/crypto/aead.js';
import { boxKeyPair } from '../../src/crypto/seal.js';
import { signKeyPair } from '../../src/crypto/sign.js';
import { loadSodium } from '../../src/crypto/sodium.js';
import { createSyncApi } from '../../src/sync/api.js';
import { remoteWorkspaces, syncDoc, teamContext } from '../../src/sync/team.js';
import * as wire from '../../src/sync/wire.js';
import { defaultPolicy } from '../../src/workspace/model.js';
import { makeWorkspace } from '../helpers/proxy-fixture.js';

const sodium = await loadSodium();

/**
 * Every answer of the sync server is checked against its schema (issue 11): a malformed body
 * is `bad_server_response` naming the endpoint, never a cast that fails somewhere later.
 * The server here is a real HTTP server on 127.0.0.1 whose answers the test sets per path.
 */
describe('malformed server answers', () => {
  let server: Server;
  let url: string;
  const answers = new Map<string, unknown>();

  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]!;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answers.get(`${req.method} ${path}`) ?? {}));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  async function caught(p: Promise<unknown>): Promise<AgentSecretsError> {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AgentSecretsError);
    return err as AgentSecretsError;
  }

  it('the login parameters: a well-formed answer passes, a malformed one names POST /v1/auth/params', async () => {
    const api = createSyncApi(url);
    const good = {
      kdf: { alg: 'argon2id13', ops: 3, mem: 65536, salt: toBase64(new Uint8Array(16)) },
    };
    answers.set('POST /v1/auth/params', good);
    await expect(
      api.anonymous('POST', '/v1/auth/params', wire.authParamsResponse, { email: 'a@b.c' }),
    ).resolves.toEqual(good);
    answers.set('POST /v1/auth/params', { kdf: { ...good.kdf, mem: 'lots' } });
    const err = await caught(
      api.anonymous('POST', '/v1/auth/params', wire.authParamsResponse, { email: 'a@b.c' }),
    );
    expect(err.code).toBe('bad_server_response');
    expect(err.message).toContain('POST /v1/auth/params');
    expect(err.message).toContain('kdf.mem');
  });

  it('the workspace list and the document poll, through the team functions', async () => {
    const ws = await makeWorkspace();
    const api = createSyncApi(url);
    api.useAccess('test-access-token');
    const team = await teamContext(ws.services, await ws.services.vault.unlock(), {
      account: { email: 'ada@example.com', userId: 'usr_ada', serverUrl: url },
      keys: { box: boxKeyPair(sodium), sign: signKeyPair(sodium) },
      api,
    });
    answers.set('GET /v1/workspaces', {
      workspaces: [{ id: 'ws_x', name: 'acme', epoch: 1, role: 'admin', status: 'active' }],
    });
    expect((await remoteWorkspaces(team))[0]!.name).toBe('acme');
    answers.set('GET /v1/workspaces', { workspaces: [{ id: 'ws_x', name: 42 }] });
    const listErr = await caught(remoteWorkspaces(team));
    expect(listErr.code).toBe('bad_server_response');
    expect(listErr.message).toContain('GET /v1/workspaces');

    answers.set('GET /v1/workspaces/ws_team/doc', { unchanged: 'yes', seq: 1 });
    const workspace = {
      id: 'ws_team',
      name: 'team',
      kind: 'team' as const,
      created_at: new Date().toISOString(),
      projects: [],
      allowlist: [],
      allowlist_log: [],
      policy: defaultPolicy(),
      team: {
        server_url: url,
        user_id: 'usr_ada',
        role: 'member' as const,
        epoch: 1,
        doc: { body: '{"seq":1}', signature: 'x', signer: 'usr_bob' },
        doc_seq: 1,
        synced_at: new Date().toISOString(),
        pinned: {},
      },
    };
    const docErr = await caught(syncDoc(ws.services, api, sodium, workspace));
    expect(docErr.code).toBe('bad_server_response');
    // The endpoint, without its query string; the field, never a value.
    expect(docErr.message).toContain('GET /v1/workspaces/ws_team/doc ');
    expect(docErr.message).toContain('unchanged');
    expect(docErr.message).not.toContain('yes');
  });
});
