import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newestEntries } from '../../src/audit/reader.js';
import { type LocalCredentialService } from '../../src/proxy/credential-service.js';
import { compileScrubber } from '../../src/core/scrub/scrubber.js';
import { redactHeaders } from '../../src/proxy/engine.js';
import { startProxy, type RunningProxy } from '../../src/app/proxy-runtime.js';
import { canary, encodings } from '../helpers/canary.js';
import { makeWorkspace, serviceFor, type Workspace } from '../helpers/proxy-fixture.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/** A value that is a valid header-name token as it is, so that it can be sent raw. */
const VALUE = canary('HDRNAME');

/**
 * A malicious allowlisted upstream that names response headers after the credential it
 * received. One row per way of writing the value into a name; each must be dropped.
 */
const ATTACKS: Record<string, (v: string) => string> = {
  raw: (v) => `x-${v}`,
  'raw, upper case': (v) => `X-${v.toUpperCase()}`,
  'raw, lower case': (v) => `x-${v.toLowerCase()}`,
  'inside a longer name': (v) => `x-leak-${v}-end`,
  'the whole name': (v) => v,
  hex: (v) => `x-${Buffer.from(v).toString('hex')}`,
  'hex, upper case': (v) => `x-${Buffer.from(v).toString('hex').toUpperCase()}`,
  base64url: (v) => `x-${Buffer.from(v).toString('base64url')}`,
  'base64url of "Bearer <value>"': (v) => `x-${Buffer.from(`Bearer ${v}`).toString('base64url')}`,
};

/** Every form of the value, lower-cased: what must not appear in any header name. */
function lowerForms(value: string): string[] {
  return encodings(value).map((form) => form.toLowerCase());
}

function assertNoNameLeaks(names: string[]): void {
  for (const name of names) {
    for (const form of lowerForms(VALUE)) expect(name.toLowerCase()).not.toContain(form);
  }
}

describe('redactHeaders (pure)', () => {
  const needles = compileScrubber([VALUE]);

  it.each(Object.entries(ATTACKS))('drops a header named with the value: %s', (_row, name) => {
    const out = redactHeaders(
      [
        [name(VALUE), '1'],
        ['content-type', 'text/plain'],
      ],
      needles,
    );
    expect(out.headers).toEqual([['content-type', 'text/plain']]);
    expect(out.count).toBe(1);
  });

  it('still scrubs values, and leaves unrelated headers alone', () => {
    const out = redactHeaders(
      [
        ['x-echo', `token=${VALUE}`],
        ['x-request-id', 'abc123'],
      ],
      needles,
    );
    expect(out.headers).toEqual([
      ['x-echo', 'token=[REDACTED_BY_AGENTSECRETS]'],
      ['x-request-id', 'abc123'],
    ]);
    expect(out.count).toBe(1);
  });

  it('without needles, every header passes', () => {
    const headers: [string, string][] = [['x-a', '1']];
    expect(redactHeaders(headers, compileScrubber([]))).toEqual({ headers, count: 0 });
  });
});

describe('response header names, end to end (call and proxy)', () => {
  let upstream: Upstream;
  let ws: Workspace;
  let service: LocalCredentialService;
  let proxy: RunningProxy;

  beforeAll(async () => {
    upstream = await startUpstream((req, res) => {
      const attack = ATTACKS[new URL(req.url ?? '/', 'http://x').searchParams.get('row') ?? ''];
      const value = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      if (attack !== undefined) res.setHeader(attack(value), '1');
      res.setHeader('x-kept', 'yes');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    ws = await makeWorkspace({
      secrets: { API_KEY: VALUE },
      allowlist: [`127.0.0.1:${upstream.port}`],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    service = await serviceFor(ws);
    proxy = await startProxy({
      services: ws.services,
      vault: await ws.services.vault.unlock(),
      port: 0,
      host: '127.0.0.1',
      sessionToken: true,
    });
  });
  afterAll(async () => {
    await service.close();
    await proxy.close();
    await upstream.close();
  });

  function viaProxy(path: string) {
    return new Promise<{ status: number; rawHeaders: string[] }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: proxy.state.port,
          path: '/proxy',
          headers: {
            'X-AS-Session-Token': proxy.state.session_token!,
            'X-AS-Target-URL': `${upstream.url}${path}`,
            'X-AS-Inject-Bearer': 'API_KEY',
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, rawHeaders: res.rawHeaders }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it.each(Object.keys(ATTACKS))('call: %s', async (row) => {
    const result = await service.call({
      url: `${upstream.url}/h?row=${encodeURIComponent(row)}`,
      method: 'GET',
      headers: [],
      body: undefined,
      injections: [{ style: 'bearer', key: 'API_KEY' }],
      target: ws.target,
      identity: { source: 'cli' },
    });
    const names = result.headers.map(([name]) => name);
    assertNoNameLeaks(names);
    expect(names).toContain('x-kept');
    expect(result.redacted).toBe(true);
  });

  it.each(Object.keys(ATTACKS))('proxy: %s', async (row) => {
    const result = await viaProxy(`/h?row=${encodeURIComponent(row)}`);
    expect(result.status).toBe(200);
    const names = result.rawHeaders.filter((_, i) => i % 2 === 0);
    assertNoNameLeaks(names);
    expect(names.map((n) => n.toLowerCase())).toContain('x-kept');
    const pairs = Object.fromEntries(
      names.map((n, i) => [n.toLowerCase(), result.rawHeaders[2 * i + 1]]),
    );
    expect(pairs['x-as-redacted']).toBe('true');
  });

  it('a clean response is not marked redacted', async () => {
    const result = await viaProxy('/h?row=none');
    const names = result.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    expect(names).toContain('x-kept');
    expect(names).not.toContain('x-as-redacted');
  });

  it('the audit entries say the response was redacted, and hold no form of the value', async () => {
    const entries = (await newestEntries(ws.services.config.paths.auditDir, 1000)).filter((e) =>
      e.target_url?.includes('row='),
    );
    expect(entries.length).toBe(2 * Object.keys(ATTACKS).length + 1);
    for (const entry of entries) {
      expect(entry.redacted).toBe(!entry.target_url!.endsWith('row=none'));
    }
    const text = JSON.stringify(entries).toLowerCase();
    for (const form of lowerForms(VALUE)) expect(text).not.toContain(form);
  });
});
