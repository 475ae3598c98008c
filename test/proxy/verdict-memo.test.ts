/**
 * The allowlist and binding verdicts are memoised per parsed pattern list and scheme + host +
 * port (src/proxy/engine.ts, allowedBy). These calls try to make a remembered "allowed" outlive
 * the change that revokes it, or borrow it for another port, scheme or spelling of the host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentSecretsError } from '../../src/core/errors.js';
import {
  type LocalCredentialService,
  type ServiceCallInput,
} from '../../src/proxy/credential-service.js';
import { parseAllowlistEntry } from '../../src/policy/allowlist.js';
import { createVerdictMemo, DEFAULT_VERDICT_MEMO } from '../../src/proxy/verdict-memo.js';
import { canary } from '../helpers/canary.js';
import { makeWorkspace, serviceFor, type Workspace } from '../helpers/proxy-fixture.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const SECRET = canary('MEMO');

async function outcome(promise: Promise<{ status: number }>): Promise<string> {
  return promise.then(
    (r) => `ok ${r.status}`,
    (err: unknown) => (err as AgentSecretsError).code,
  );
}

describe('memoised allowlist and binding verdicts', () => {
  let upstream: Upstream;
  let other: Upstream;
  let ws: Workspace;
  let service: LocalCredentialService;

  const call = (url: string): ServiceCallInput => ({
    url,
    method: 'GET',
    headers: [],
    body: undefined,
    injections: [{ style: 'bearer', key: 'API_KEY' }],
    target: ws.target,
    identity: { source: 'cli' },
  });

  beforeAll(async () => {
    upstream = await startUpstream();
    other = await startUpstream();
    ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: [`localhost:${upstream.port}`],
      bindings: { API_KEY: { domains: [`localhost:${upstream.port}`], styles: [] } },
      env: {
        AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
        AGENTSECRETS_RESOLVE: 'localhost=127.0.0.1',
      },
    });
    service = await serviceFor(ws);
  });

  afterAll(async () => {
    await service.close();
    await upstream.close();
    await other.close();
  });

  it('an allowed host:port is not lent to another port, spelling or scheme', async () => {
    // The attack works where nothing refuses: the listed port answers.
    expect(await outcome(service.call(call(`http://localhost:${upstream.port}/a`)))).toBe('ok 200');
    expect(await outcome(service.call(call(`http://LOCALHOST:${upstream.port}/a`)))).toBe('ok 200');
    // A trailing dot passes the allowlist (the table resolver knows no 'localhost.').
    expect(await outcome(service.call(call(`http://localhost.:${upstream.port}/a`)))).toBe(
      'upstream_error',
    );
    // Userinfo is refused before any verdict.
    expect(await outcome(service.call(call(`http://u:p@localhost:${upstream.port}/a`)))).toBe(
      'bad_request',
    );
    // The same host, another port; the same port under another scheme.
    expect(await outcome(service.call(call(`http://localhost:${other.port}/a`)))).toBe(
      'domain_not_in_allowlist',
    );
    expect(await outcome(service.call(call(`https://localhost:${upstream.port}/a`)))).not.toBe(
      'ok 200',
    );
    expect(await outcome(service.call(call(`http://127.0.0.1:${upstream.port}/a`)))).toBe(
      'domain_not_in_allowlist',
    );
    // Still allowed after the others were judged (no verdict overwrote it).
    expect(await outcome(service.call(call(`http://localhost:${upstream.port}/b`)))).toBe('ok 200');
  });

  it('a host cycling past the memo limit changes no verdict', async () => {
    for (let i = 0; i < 1100; i++) {
      const url = new URL(`http://h${i}.localhost:${upstream.port}/`);
      expect(await outcome(service.call(call(url.href)))).toBe('domain_not_in_allowlist');
    }
    expect(await outcome(service.call(call(`http://localhost:${upstream.port}/c`)))).toBe('ok 200');
  });

  it('an unbind or a rebinding elsewhere is in effect for the next call', async () => {
    expect(await outcome(service.call(call(`http://localhost:${upstream.port}/d`)))).toBe('ok 200');
    await ws.services.workspaces.updateWorkspace(ws.target.workspaceId, (w) => {
      w.allowlist = [
        ...w.allowlist,
        {
          pattern: `localhost:${other.port}`,
          added_by: 'test',
          added_at: new Date().toISOString(),
        },
      ];
    });
    const vault = await ws.services.vault.unlock();
    const selection = (await ws.services.workspaces.resolve()).selection;
    await vault.setBinding(selection, 'API_KEY', {
      domains: [`localhost:${other.port}`],
      styles: [],
    });
    expect(await outcome(service.call(call(`http://localhost:${upstream.port}/e`)))).toBe(
      'secret_binding_mismatch',
    );
    expect(await outcome(service.call(call(`http://localhost:${other.port}/e`)))).toBe('ok 200');
    await vault.setBinding(selection, 'API_KEY', null);
    vault.close();
    expect(await outcome(service.call(call(`http://localhost:${upstream.port}/f`)))).toBe('ok 200');
  });

  it('a domain removed from the allowlist is refused on the next call', async () => {
    expect(await outcome(service.call(call(`http://localhost:${upstream.port}/g`)))).toBe('ok 200');
    await ws.services.workspaces.updateWorkspace(ws.target.workspaceId, (w) => {
      w.allowlist = w.allowlist.filter((e) => e.pattern !== `localhost:${upstream.port}`);
    });
    expect(await outcome(service.call(call(`http://localhost:${upstream.port}/h`)))).toBe(
      'domain_not_in_allowlist',
    );
  });
});

describe('the verdict memo is bounded in key length as well as in entries', () => {
  // A URL's host has no length limit of its own: this one is over a megabyte, and an agent
  // can send a different one per call (the MCP tool takes 4 MiB, the key holder 64 MiB).
  const hugeHost = (i: number) => `h${i}-${'a'.repeat(60)}.`.repeat(20_000) + 'com';
  const patterns = [parseAllowlistEntry('api.example.com')];

  it('without the key bound, a megabyte host is kept (the attack), 1024 per list', () => {
    const open = createVerdictMemo({ ...DEFAULT_VERDICT_MEMO, keyChars: Number.POSITIVE_INFINITY });
    const url = new URL(`https://${hugeHost(1)}/`);
    expect(url.host.length).toBeGreaterThan(1_000_000);
    expect(open.allowedBy(url, patterns)).toBeUndefined();
    expect(open.remembered(patterns)).toBe(1);
  });

  it('with it, a megabyte host is judged and not kept; a DNS-sized one is kept', () => {
    const memo = createVerdictMemo();
    for (let i = 0; i < 3; i++) {
      expect(memo.allowedBy(new URL(`https://${hugeHost(i)}/`), patterns)).toBeUndefined();
    }
    expect(memo.remembered(patterns)).toBe(0);
    const longest = `https://${`${'a'.repeat(62)}.`.repeat(3)}${'b'.repeat(61)}:65535/`;
    expect(new URL(longest).hostname.length).toBe(250);
    expect(memo.allowedBy(new URL(longest), patterns)).toBeUndefined();
    expect(memo.allowedBy(new URL('https://API.example.com./x'), patterns)).toBe(patterns[0]);
    expect(memo.remembered(patterns)).toBe(2);
  });

  it('the engine still refuses a megabyte host by the allowlist', async () => {
    const ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: ['api.example.com'],
    });
    const service = await serviceFor(ws);
    try {
      const result = await outcome(
        service.call({
          url: `https://${hugeHost(9)}/`,
          method: 'GET',
          headers: [],
          body: undefined,
          injections: [{ style: 'bearer', key: 'API_KEY' }],
          target: ws.target,
          identity: { source: 'cli' },
        }),
      );
      expect(result).toBe('domain_not_in_allowlist');
    } finally {
      await service.close();
    }
  });
});
