import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import {
  applySubstitutions,
  checkSubstitutionPlaces,
  findPlaceholders,
} from '../../src/proxy/substitute.js';
import { parseResolveList, tableFirstResolver } from '../../src/proxy/resolve.js';
import { makePlaceholder, randomBase62 } from '../../src/run/placeholders.js';
import { buildChildEnv } from '../../src/run/child-env.js';

const PH = makePlaceholder('API_KEY');
const VALUE = 'v@l "ue"/+&=';
const placeholders = new Map([[PH, 'API_KEY']]);
const values = new Map([['API_KEY', VALUE]]);

function request(
  path: string,
  headers: [string, string][] = [],
  body?: string | Buffer,
): { method: string; url: URL; headers: [string, string][]; body: Buffer | undefined } {
  return {
    method: 'POST',
    url: new URL(`https://api.example.com${path}`),
    headers,
    body: body === undefined ? undefined : Buffer.from(body),
  };
}

describe('placeholders', () => {
  it('have the documented form and are unique', () => {
    expect(PH).toMatch(/^agentsecrets-ph-API_KEY-[0-9A-Za-z]{24}$/);
    expect(makePlaceholder('API_KEY')).not.toBe(PH);
    expect(makePlaceholder('K', 'sk_live_')).toMatch(/^sk_live_agentsecrets-ph-K-/);
    expect(randomBase62(100)).toMatch(/^[0-9A-Za-z]{100}$/);
  });
});

describe('finding placeholders (one row per place)', () => {
  const rows: {
    name: string;
    req: ReturnType<typeof request>;
    style: string;
    target?: string;
    sent: (r: ReturnType<typeof applySubstitutions>) => string;
    expected: string;
  }[] = [
    {
      name: 'Authorization: Bearer',
      req: request('/', [['Authorization', `Bearer ${PH}`]]),
      style: 'bearer',
      sent: (r) => r.headers[0]![1],
      expected: `Bearer ${VALUE}`,
    },
    {
      name: 'Authorization: Basic (a URL user:token)',
      req: request('/', [
        ['Authorization', `Basic ${Buffer.from(`x-access-token:${PH}`).toString('base64')}`],
      ]),
      style: 'basic',
      target: 'Authorization',
      sent: (r) => Buffer.from(r.headers[0]![1].slice(6), 'base64').toString(),
      expected: `x-access-token:${VALUE}`,
    },
    {
      name: 'another header',
      req: request('/', [['X-Api-Key', PH]]),
      style: 'header',
      target: 'X-Api-Key',
      sent: (r) => r.headers[0]![1],
      expected: VALUE,
    },
    {
      name: 'the query string (URL-encoded on the way out)',
      req: request(`/items?a=1&key=${PH}`),
      style: 'query',
      target: 'key',
      sent: (r) => r.url.search,
      expected: `?a=1&key=${encodeURIComponent(VALUE)}`,
    },
    {
      name: 'a JSON body (JSON-escaped)',
      req: request('/', [['Content-Type', 'application/json']], `{"k":"${PH}"}`),
      style: 'body',
      target: 'json',
      sent: (r) => JSON.parse(r.body!.toString()).k as string,
      expected: VALUE,
    },
    {
      name: 'a form body (form-encoded)',
      req: request('/', [['Content-Type', 'application/x-www-form-urlencoded']], `k=${PH}&b=2`),
      style: 'form',
      target: 'form',
      sent: (r) => new URLSearchParams(r.body!.toString()).get('k')!,
      expected: VALUE,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const found = findPlaceholders(row.req, placeholders);
      expect(found).toEqual([
        {
          key: 'API_KEY',
          placeholder: PH,
          style: row.style,
          ...(row.target ? { target: row.target } : {}),
        },
      ]);
      const out = applySubstitutions(row.req, found, values);
      expect(row.sent(out)).toBe(row.expected);
      expect(JSON.stringify(out)).not.toContain(PH);
    });
  }

  const refused: { name: string; req: ReturnType<typeof request> }[] = [
    { name: 'the URL path', req: request(`/bot${PH}/send`) },
    { name: 'a query parameter name', req: request(`/?${PH}=1`) },
    { name: 'a transport header', req: request('/', [['Proxy-Authorization', PH]]) },
    {
      name: 'a gzip-compressed body',
      req: request('/', [['Content-Encoding', 'gzip']], gzipSync(`{"k":"${PH}"}`)),
    },
  ];
  for (const row of refused) {
    it(`refuses a placeholder in ${row.name}`, () => {
      expect(() => findPlaceholders(row.req, placeholders)).toThrow(
        expect.objectContaining({ code: 'bad_request' }),
      );
    });
  }

  it('leaves a request without placeholders alone', () => {
    expect(findPlaceholders(request('/?a=1', [['X', 'y']], 'body'), placeholders)).toEqual([]);
  });
});

describe('where a placeholder may be replaced', () => {
  const at = (style: 'header' | 'query' | 'body') => [
    { key: 'API_KEY', placeholder: PH, style, target: 't' },
  ];
  it('headers for an unbound secret; query and body only when a human allowed the style', () => {
    const unbound = new Map([['API_KEY', null]]);
    expect(() => checkSubstitutionPlaces(at('header'), unbound)).not.toThrow();
    expect(() => checkSubstitutionPlaces(at('query'), unbound)).toThrow(/secrets bind API_KEY/);
    expect(() => checkSubstitutionPlaces(at('body'), unbound)).toThrow(
      expect.objectContaining({ code: 'secret_binding_mismatch' }),
    );
    const anyStyle = new Map([['API_KEY', { domains: ['api.example.com'], styles: [] }]]);
    expect(() => checkSubstitutionPlaces(at('body'), anyStyle)).toThrow();
    const allowed = new Map([['API_KEY', { domains: ['api.example.com'], styles: ['body'] }]]);
    expect(() => checkSubstitutionPlaces(at('body'), allowed)).not.toThrow();
  });
});

describe('AGENTSECRETS_RESOLVE', () => {
  it('pins hosts and asks the fallback for others; rejects malformed entries', async () => {
    const table = parseResolveList('api.openai.com=127.0.0.9, API.stripe.com=::1');
    expect(table.source).toBe('api.openai.com=127.0.0.9,api.stripe.com=::1');
    const resolver = tableFirstResolver(table, async () => [{ address: '203.0.113.1', family: 4 }]);
    expect(await resolver('api.openai.com')).toEqual([{ address: '127.0.0.9', family: 4 }]);
    expect(await resolver('api.stripe.com')).toEqual([{ address: '::1', family: 6 }]);
    expect(await resolver('other.test')).toEqual([{ address: '203.0.113.1', family: 4 }]);
    expect(() => parseResolveList('api.openai.com')).toThrow(/host=ip/);
    expect(() => parseResolveList('a=not-an-ip')).toThrow(/host=ip/);
  });
});

describe("a run child's environment", () => {
  it('never lists an allowlisted host in NO_PROXY and withholds the passphrase', () => {
    const env = buildChildEnv({
      parent: {
        NO_PROXY: 'internal.corp,api.openai.com,.stripe.com',
        AGENTSECRETS_PASSPHRASE: 'x',
        NODE_OPTIONS: '--max-old-space-size=512',
        API_KEY: 'inherited-real-value',
      },
      placeholders: { API_KEY: PH },
      runId: 'run_1',
      proxyUrl: 'http://run:t@127.0.0.1:1',
      bundlePath: '/tmp/b.pem',
      preloadUrl: 'file:///p.js',
      allowlist: ['api.openai.com', 'api.stripe.com'],
    });
    expect(env.NO_PROXY).toBe('localhost,127.0.0.1,::1,internal.corp');
    expect(env.API_KEY).toBe(PH);
    expect(env.AGENTSECRETS_PASSPHRASE).toBeUndefined();
    expect(env.NODE_OPTIONS).toBe('--max-old-space-size=512 --import=file:///p.js');
    expect(env.https_proxy).toBe('http://run:t@127.0.0.1:1');
    expect(env.DENO_CERT).toBe('/tmp/b.pem');
  });
});
