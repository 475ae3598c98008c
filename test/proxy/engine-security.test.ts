import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentSecretsError } from '../../src/core/errors.js';
import { newestEntries } from '../../src/audit/reader.js';
import { verifyChain } from '../../src/audit/verify.js';
import {
  createLocalCredentialService,
  type LocalCredentialService,
} from '../../src/proxy/credential-service.js';
import type { ServiceCallInput } from '../../src/proxy/credential-service.js';
import type { Injection } from '../../src/proxy/inject.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canary, encodings, findLeaks, scanTree } from '../helpers/canary.js';
import { makeWorkspace, tableResolver, type Workspace } from '../helpers/proxy-fixture.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';

const SECRET = canary('SSRF');
const identity = { source: 'cli' as const };
const bearer: Injection[] = [{ style: 'bearer', key: 'API_KEY' }];

async function serviceFor(
  ws: Workspace,
  resolver = tableResolver({}),
): Promise<LocalCredentialService> {
  return createLocalCredentialService({
    config: ws.services.config,
    workspaces: ws.services.workspaces,
    vault: ws.services.vault,
    unlock: () => ws.services.vault.unlock(),
    resolver,
  });
}

function input(
  ws: Workspace,
  url: string,
  extra: Partial<ServiceCallInput> = {},
): ServiceCallInput {
  return {
    url,
    method: 'GET',
    headers: [],
    body: undefined,
    injections: bearer,
    target: ws.target,
    identity,
    ...extra,
  };
}

async function refusal(promise: Promise<unknown>): Promise<AgentSecretsError> {
  const result = await promise.then(
    () => undefined,
    (err: unknown) => err as AgentSecretsError,
  );
  if (result === undefined) throw new Error('the call was not refused');
  return result;
}

/**
 * SSRF: every row must be refused with ssrf_protection_blocked, with the host allowlisted,
 * so that the SSRF guard (not the allowlist) is what stops it.
 */
describe('SSRF guard (at least 40 destinations, one per row)', () => {
  const literalUrls = [
    'https://127.0.0.1/',
    'https://2130706433/',
    'https://0x7f000001/',
    'https://0x7f.1/',
    'https://0177.0.0.1/',
    'https://127.1/',
    'https://127.0.0.1./',
    'https://127.255.255.254/',
    'https://[::1]/',
    'https://[0:0:0:0:0:0:0:1]/',
    'https://[::ffff:127.0.0.1]/',
    'https://[::ffff:7f00:1]/',
    'https://169.254.169.254/latest/meta-data/',
    'https://[::ffff:169.254.169.254]/',
    'https://0.0.0.0/',
    'https://0/',
    'https://10.0.0.1/',
    'https://172.16.0.1/',
    'https://192.168.1.1/',
    'https://100.64.0.1/',
    'https://198.18.0.1/',
    'https://224.0.0.1/',
    'https://255.255.255.255/',
    'https://[fd00::1]/',
    'https://[fe80::1]/',
    'https://[64:ff9b::7f00:1]/',
    'https://[2002:7f00:1::]/',
    'https://[::]/',
    'https://[::127.0.0.1]/',
  ];
  const dnsRows: [string, string[]][] = [
    ['internal.example.com', ['10.0.0.5']],
    ['metadata.example.com', ['169.254.169.254']],
    ['loop.example.com', ['127.0.0.1']],
    ['loop6.example.com', ['::1']],
    ['mapped.example.com', ['::ffff:127.0.0.1']],
    ['mixed.example.com', ['8.8.8.8', '10.0.0.1']],
    ['mixed6.example.com', ['2606:4700:4700::1111', 'fd12::1']],
    ['nat64.example.com', ['64:ff9b::a00:1']],
    ['zero.example.com', ['0.0.0.0']],
    ['cgnat.example.com', ['100.64.1.1']],
    ['bench.example.com', ['198.18.0.1']],
    ['linklocal6.example.com', ['fe80::1']],
    ['sixtofour.example.com', ['2002:a00:1::1']],
  ];
  let ws: Workspace;
  let service: LocalCredentialService;
  const resolver = tableResolver(Object.fromEntries(dnsRows));

  beforeAll(async () => {
    ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: [
        ...literalUrls.map((u) => {
          const host = new URL(u).hostname;
          return host.replace(/\.$/, '');
        }),
        ...dnsRows.map(([host]) => host),
      ],
    });
    service = await serviceFor(ws, resolver);
  });
  afterAll(() => service.close());

  it.each(literalUrls)('IP literal %s', async (url) => {
    const err = await refusal(service.call(input(ws, url)));
    expect(err.code).toBe('ssrf_protection_blocked');
    expect(err.message).not.toContain(SECRET);
  });

  it.each(dnsRows)('a name that resolves to a private address: %s → %j', async (host) => {
    const err = await refusal(service.call(input(ws, `https://${host}/v1/x`)));
    expect(err.code).toBe('ssrf_protection_blocked');
    expect(err.context.domain).toBe(host);
  });

  it('every refusal was audited as BLOCKED, and no value reached the log', async () => {
    await service.audit.flush();
    const entries = await newestEntries(ws.services.config.paths.auditDir, 1000);
    const blocked = entries.filter((e) => e.reason === 'ssrf_protection_blocked');
    expect(blocked.length).toBe(literalUrls.length + dnsRows.length);
    expect(blocked.every((e) => e.status === 'BLOCKED' && e.status_code === 403)).toBe(true);
    expect(await scanTree(ws.home, SECRET)).toEqual([]);
    expect((await verifyChain(ws.services.config.paths.auditDir)).ok).toBe(true);
  });
});

describe('SSRF guard: rebinding and redirects', () => {
  let upstream: Upstream;
  let internal: Upstream;
  beforeAll(async () => {
    internal = await startUpstream(echo);
    upstream = await startUpstream((req, res) => {
      if (req.url?.startsWith('/redirect-internal')) {
        res.writeHead(302, { location: `http://169.254.169.254/latest/meta-data/` });
        return void res.end();
      }
      if (req.url?.startsWith('/redirect-local')) {
        res.writeHead(307, { location: `${internal.url}/stolen` });
        return void res.end();
      }
      echo(req, res, '');
    });
  });
  afterAll(async () => {
    await upstream.close();
    await internal.close();
  });

  it('a name that rebinds after the check cannot move the connection: it goes to the checked address', async () => {
    let call = 0;
    const resolver = Object.assign(
      async () => {
        call++;
        return [{ address: call === 1 ? '127.0.0.1' : '10.0.0.1', family: 4 }];
      },
      { calls: [] as string[] },
    );
    const ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: [`rebind.test:${upstream.port}`],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    const service = await serviceFor(ws, resolver);
    try {
      for (let i = 0; i < 3; i++) {
        const result = await service.call(input(ws, `http://rebind.test:${upstream.port}/r${i}`));
        expect(result.status).toBe(200);
      }
      // One resolution for the one connection; the socket used exactly that address.
      expect(call).toBe(1);
      expect(upstream.seen.filter((s) => s.url.startsWith('/r')).length).toBe(3);
    } finally {
      await service.close();
    }
    // A new connection resolves again, gets the private address, and is refused.
    const fresh = await serviceFor(ws, resolver);
    try {
      const err = await refusal(fresh.call(input(ws, `http://rebind.test:${upstream.port}/r9`)));
      expect(['ssrf_protection_blocked', 'non_https_blocked']).toContain(err.code);
    } finally {
      await fresh.close();
    }
  });

  it.each(['/redirect-internal', '/redirect-local'])(
    'does not follow a redirect (%s): the 3xx comes back as is',
    async (path) => {
      const ws = await makeWorkspace({
        secrets: { API_KEY: SECRET },
        allowlist: [`127.0.0.1:${upstream.port}`],
        env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
      });
      const service = await serviceFor(ws);
      try {
        const before = internal.seen.length;
        const result = await service.call(
          input(ws, `${upstream.url}${path}`, {
            method: 'POST',
            injections: [{ style: 'body', target: 'token', key: 'API_KEY' }],
            headers: [['Content-Type', 'application/json']],
          }),
        );
        expect([302, 307]).toContain(result.status);
        expect(result.headers.find(([n]) => n === 'location')).toBeDefined();
        expect(internal.seen.length).toBe(before);
      } finally {
        await service.close();
      }
    },
  );
});

/** Allowlist bypass attempts: every row must be refused before any connection is made. */
describe('allowlist bypass (at least 20 URLs, one per row)', () => {
  const rows: [string, string][] = [
    ['https://api.example.com@evil.com/', 'bad_request'],
    ['https://user:pass@api.example.com/', 'bad_request'],
    ['https://api.example.com:443@evil.com/', 'bad_request'],
    ['https://evil.com/?api.example.com', 'domain_not_in_allowlist'],
    ['https://evil.com/api.example.com', 'domain_not_in_allowlist'],
    ['https://evil.com#@api.example.com', 'domain_not_in_allowlist'],
    ['https://api.example.com.evil.com/', 'domain_not_in_allowlist'],
    ['https://evilapi.example.com/', 'domain_not_in_allowlist'],
    ['https://api-example.com/', 'domain_not_in_allowlist'],
    ['https://api.example.co/', 'domain_not_in_allowlist'],
    ['https://example.com/', 'domain_not_in_allowlist'],
    ['https://a.b.svc.example.com/', 'domain_not_in_allowlist'],
    ['https://svc.example.com/', 'domain_not_in_allowlist'],
    ['https://api.example.com:8443/', 'domain_not_in_allowlist'],
    ['https://api.example.com:444/', 'domain_not_in_allowlist'],
    ['http://api.example.com/', 'non_https_blocked'],
    ['ftp://api.example.com/', 'bad_request'],
    ['file:///etc/passwd', 'bad_request'],
    // Not valid punycode: the URL parser itself refuses it.
    ['https://xn--pi-7ld.example.com/', 'bad_request'],
    ['https://xn--api-c3d.example.com/', 'domain_not_in_allowlist'],
    ['https://\u0430pi.example.com/', 'domain_not_in_allowlist'],
    ['https://api.example.com.%65vil.com/', 'domain_not_in_allowlist'],
    ['https://evil.com\\@api.example.com/', 'domain_not_in_allowlist'],
    ['//api.example.com/', 'bad_request'],
    ['api.example.com', 'bad_request'],
    ['https://[::ffff:api.example.com]/', 'bad_request'],
  ];
  let ws: Workspace;
  let service: LocalCredentialService;
  const resolver = tableResolver({});

  beforeAll(async () => {
    ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: ['api.example.com', '*.svc.example.com'],
    });
    service = await serviceFor(ws, resolver);
  });
  afterAll(() => service.close());

  it.each(rows)('%s → %s', async (url, code) => {
    const before = resolver.calls.length;
    const err = await refusal(service.call(input(ws, url)));
    expect(err.code).toBe(code);
    // Refused before any name was resolved: no connection was attempted.
    expect(resolver.calls.length).toBe(before);
  });

  it('the allowlisted host itself, in any case and with a trailing dot, gets past the allowlist', async () => {
    // The URL parser reads `\` as `/` in https URLs: this one really goes to api.example.com.
    for (const url of [
      'https://API.EXAMPLE.COM/',
      'https://api.example.com./',
      'https://x.svc.example.com/',
      'https://api.example.com\\.evil.com/',
    ]) {
      const err = await refusal(service.call(input(ws, url)));
      // Past the allowlist, the (empty) resolver table fails the lookup: the allowlist said yes.
      expect(err.code).toBe('upstream_error');
    }
  });

  it('an empty allowlist refuses everything and says which command to run', async () => {
    const empty = await makeWorkspace({ secrets: { API_KEY: SECRET } });
    const svc = await serviceFor(empty);
    try {
      const err = await refusal(svc.call(input(empty, 'https://api.example.com/v1')));
      expect(err.code).toBe('empty_allowlist');
      expect(err.message).toContain('agentsecrets workspace allowlist add api.example.com');
    } finally {
      await svc.close();
    }
  });
});

describe('checks order and bindings', () => {
  let upstream: Upstream;
  beforeAll(async () => {
    upstream = await startUpstream(echo);
  });
  afterAll(() => upstream.close());

  it('a missing secret is reported only after the allowlist (names cannot be probed)', async () => {
    const ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: ['api.example.com'],
    });
    const svc = await serviceFor(ws);
    try {
      const elsewhere = await refusal(
        svc.call(
          input(ws, 'https://other.example.com/', {
            injections: [{ style: 'bearer', key: 'NO_SUCH_KEY' }],
          }),
        ),
      );
      expect(elsewhere.code).toBe('domain_not_in_allowlist');
      const allowed = await refusal(
        svc.call(
          input(ws, 'https://api.example.com/', {
            injections: [{ style: 'bearer', key: 'NO_SUCH_KEY' }],
          }),
        ),
      );
      expect(allowed.code).toBe('secret_not_found');
      expect(allowed.message).toContain("secret 'NO_SUCH_KEY' not found");
    } finally {
      await svc.close();
    }
  });

  it('a bound secret is never injected toward another allowlisted host', async () => {
    const ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: [`127.0.0.1:${upstream.port}`, 'api.github.com'],
      bindings: { API_KEY: { domains: ['api.github.com'], styles: [] } },
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    const svc = await serviceFor(ws);
    try {
      const before = upstream.seen.length;
      const err = await refusal(svc.call(input(ws, `${upstream.url}/issues`)));
      expect(err.code).toBe('secret_binding_mismatch');
      expect(upstream.seen.length).toBe(before);
    } finally {
      await svc.close();
    }
  });

  it('a binding can restrict the injection style', async () => {
    const ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: [`127.0.0.1:${upstream.port}`],
      bindings: { API_KEY: { domains: [`127.0.0.1:${upstream.port}`], styles: ['header'] } },
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    const svc = await serviceFor(ws);
    try {
      expect((await refusal(svc.call(input(ws, `${upstream.url}/a`)))).code).toBe(
        'secret_binding_mismatch',
      );
      const ok = await svc.call(
        input(ws, `${upstream.url}/b`, {
          injections: [{ style: 'header', target: 'X-Api-Key', key: 'API_KEY' }],
        }),
      );
      expect(ok.status).toBe(200);
    } finally {
      await svc.close();
    }
  });

  it('require-binding makes unbound secrets unusable', async () => {
    const ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: [`127.0.0.1:${upstream.port}`],
      requireBinding: true,
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    const svc = await serviceFor(ws);
    try {
      const err = await refusal(svc.call(input(ws, `${upstream.url}/a`)));
      expect(err.code).toBe('secret_binding_mismatch');
      expect(err.message).toContain('agentsecrets secrets bind API_KEY');
    } finally {
      await svc.close();
    }
  });

  it('plain HTTP is refused without the private-network override', async () => {
    const ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: [`127.0.0.1:${upstream.port}`],
    });
    const svc = await serviceFor(ws);
    try {
      expect((await refusal(svc.call(input(ws, `${upstream.url}/a`)))).code).toBe(
        'non_https_blocked',
      );
    } finally {
      await svc.close();
    }
  });

  it('records the private-network override in every audit entry', async () => {
    const ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: [`127.0.0.1:${upstream.port}`],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    const svc = await serviceFor(ws);
    try {
      await svc.call(input(ws, `${upstream.url}/a`));
      await refusal(svc.call(input(ws, 'https://nowhere.example.com/')));
      await svc.audit.flush();
      const entries = await newestEntries(ws.services.config.paths.auditDir, 10);
      expect(entries).toHaveLength(2);
      expect(entries.every((e) => e.private_override === '127.0.0.1/32')).toBe(true);
    } finally {
      await svc.close();
    }
  });
});

describe('a URL parsed by the edge (parsedUrl) is trusted only when it is the call URL', () => {
  // run's intercepting proxy hands the engine the URL it parsed, so it is not parsed twice.
  // The engine uses it only if it is a URL object whose href is the call's url; anything
  // else is ignored and the url itself is parsed and checked.
  it('the allowlist judges the url, whatever a mismatching or fake parsedUrl says', async () => {
    const ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: ['allowed.example.com'],
    });
    const svc = await serviceFor(ws);
    try {
      // Controls: the allowed host passes the allowlist (and fails later, at DNS), and
      // a consistent parsedUrl changes nothing; the other host is refused by the allowlist.
      const allowed = await refusal(svc.call(input(ws, 'https://allowed.example.com/')));
      expect(allowed.code).toBe('upstream_error');
      const consistent = await refusal(
        svc.call(
          input(ws, 'https://allowed.example.com/', {
            parsedUrl: new URL('https://allowed.example.com/'),
          }),
        ),
      );
      expect(consistent.code).toBe('upstream_error');
      const plain = await refusal(svc.call(input(ws, 'https://evil.example.com/')));
      expect(plain.code).toBe('domain_not_in_allowlist');

      // A URL object for the allowed host beside an url for another one: ignored.
      const mismatched = await refusal(
        svc.call(
          input(ws, 'https://evil.example.com/', {
            parsedUrl: new URL('https://allowed.example.com/'),
          }),
        ),
      );
      expect(mismatched.code).toBe('domain_not_in_allowlist');
      // A look-alike object whose href matches but whose host says otherwise: not a URL.
      const fake = {
        ...Object.fromEntries(
          ['protocol', 'host', 'hostname', 'port', 'pathname', 'search', 'hash', 'origin'].map(
            (k) => [k, new URL('https://allowed.example.com/')[k as keyof URL]],
          ),
        ),
        username: '',
        password: '',
        href: 'https://evil.example.com/',
      } as unknown as URL;
      const faked = await refusal(
        svc.call(input(ws, 'https://evil.example.com/', { parsedUrl: fake })),
      );
      expect(faked.code).toBe('domain_not_in_allowlist');
    } finally {
      await svc.close();
    }
  });
});

describe('canary: the scan the suites above rely on can fail', () => {
  it('scanTree finds the canary in a state folder, raw and in each encoding', async () => {
    // The suites assert `scanTree(ws.home, SECRET)` is empty; that proves nothing unless the
    // scan reports a value that is there. Plant it, in each form a leak could take.
    const home = await mkdtemp(join(tmpdir(), 'as-canary-'));
    try {
      expect(await scanTree(home, SECRET)).toEqual([]);
      for (const [i, form] of encodings(SECRET).entries()) {
        await writeFile(join(home, `leak-${i}.log`), `before ${form} after`);
      }
      const hits = await scanTree(home, SECRET);
      expect(hits).toHaveLength(encodings(SECRET).length);
      expect(findLeaks(`{"x":"${SECRET}"}`, SECRET)).toContain(SECRET);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
