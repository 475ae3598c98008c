import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAgentSecretsError } from '../../src/core/errors.js';
import { createApprovalsStore, newRule } from '../../src/policy/approvals.js';
import { createLocalCredentialService } from '../../src/proxy/credential-service.js';
import { canary } from '../helpers/canary.js';
import { makeWorkspace, type Workspace } from '../helpers/proxy-fixture.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';

/**
 * With no key holder nobody can be asked: a call an `approve` rule holds must be refused
 * in-process (`agentsecrets call`, the SDK and MCP without a key holder), not let through.
 */
describe('approve rules where no human can be asked', () => {
  let upstream: Upstream;
  let ws: Workspace;
  beforeAll(async () => {
    upstream = await startUpstream(echo);
    ws = await makeWorkspace({
      secrets: { API_KEY: canary('UNATTENDED') },
      allowlist: [`127.0.0.1:${upstream.port}`],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
  });
  afterAll(() => upstream.close());

  it('goes through without a rule, and is refused with approval_required with one', async () => {
    const service = await createLocalCredentialService({
      config: ws.services.config,
      workspaces: ws.services.workspaces,
      vault: ws.services.vault,
      unlock: () => ws.services.vault.unlock(),
    });
    const call = (path: string) =>
      service.call({
        url: `http://127.0.0.1:${upstream.port}${path}`,
        method: 'GET',
        headers: [],
        body: undefined,
        injections: [{ style: 'bearer', key: 'API_KEY' }],
        target: ws.target,
        identity: { source: 'cli', agentId: 'billing' },
      });
    // The attack: without the gate, the call is made.
    expect((await call('/before')).status).toBe(200);
    await createApprovalsStore(ws.services.config.paths).update((f) => {
      f.rules.push(newRule({ agent: 'billing' }, 'test'));
    });
    const refused = await call('/after').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAgentSecretsError(refused, 'approval_required')).toBe(true);
    expect(upstream.seen.some((r) => r.url === '/after')).toBe(false);
    await service.close();
  });
});
