import { readFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, type Limits } from '../../src/core/config.js';
import { AgentSecretsError } from '../../src/core/errors.js';
import {
  createForwarder,
  type Forwarder,
  type Resolver,
  translate,
  type UpstreamResponse,
} from '../../src/proxy/forward.js';
import type { OutboundRequest } from '../../src/proxy/inject.js';
import { decodeResponseBody } from '../../src/proxy/response-body.js';
import { compileScrubber } from '../../src/core/scrub/scrubber.js';
import { parseCidrList } from '../../src/proxy/ssrf.js';
import { canary } from '../helpers/canary.js';
import { tableResolver } from '../helpers/proxy-fixture.js';
import {
  type Handler,
  makeCertificates,
  startUpstream,
  type TestCertificates,
  type Upstream,
} from '../helpers/upstream.js';

const PUBLIC_IP = '93.184.216.34';
const LOOPBACK = '127.0.0.1/32';

// ---------------------------------------------------------------------------------------------
// translate: a pure mapping table
// ---------------------------------------------------------------------------------------------

const coded = (code: string, message = 'boom'): Error =>
  Object.assign(new Error(message), { code });

describe('translate', () => {
  const url = new URL('https://api.example.com/v1/charges/SECRETPATH?key=SECRETVALUE#SECRETHASH');

  it.each<{ name: string; err: unknown; deadline?: boolean; code: string; message: RegExp }>([
    ...[
      'UND_ERR_CONNECT_TIMEOUT',
      'UND_ERR_HEADERS_TIMEOUT',
      'UND_ERR_BODY_TIMEOUT',
      'ETIMEDOUT',
    ].map((c) => ({
      name: c,
      err: coded(c),
      code: 'upstream_timeout',
      message: new RegExp(`api\\.example\\.com did not answer in time \\(${c}\\)`),
    })),
    {
      name: 'the deadline passed, whatever the error',
      err: coded('ECONNRESET'),
      deadline: true,
      code: 'upstream_timeout',
      message: /did not answer in time/,
    },
    {
      name: 'the deadline passed with an AbortSignal.timeout reason',
      err: new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      deadline: true,
      code: 'upstream_timeout',
      message: /did not answer in time \(deadline\)/,
    },
    {
      name: 'a timeout code found under a wrapper',
      err: new TypeError('fetch failed', { cause: coded('UND_ERR_HEADERS_TIMEOUT') }),
      code: 'upstream_timeout',
      message: /UND_ERR_HEADERS_TIMEOUT/,
    },
    ...['ENOTFOUND', 'EAI_AGAIN'].map((c) => ({
      name: c,
      err: coded(c, `getaddrinfo ${c} api.example.com`),
      code: 'upstream_error',
      message: new RegExp(`api\\.example\\.com could not be resolved \\(${c}\\)`),
    })),
    ...[
      'CERT_HAS_EXPIRED',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'SELF_SIGNED_CERT_IN_CHAIN',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'ERR_SSL_WRONG_VERSION_NUMBER',
    ].map((c) => ({
      name: c,
      err: coded(c),
      code: 'upstream_error',
      message: new RegExp(
        `TLS verification failed for api\\.example\\.com \\(${c}\\).*AGENTSECRETS_CA_FILE`,
      ),
    })),
    ...['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET'].map((c) => ({
      name: c,
      err: coded(c),
      code: 'upstream_error',
      message: new RegExp(`the call to api\\.example\\.com failed \\(${c}\\)`),
    })),
    {
      name: 'UND_ERR_SOCKET reports the code of its cause',
      err: Object.assign(new Error('other side closed', { cause: coded('ECONNRESET') }), {
        code: 'UND_ERR_SOCKET',
      }),
      code: 'upstream_error',
      message: /failed \(ECONNRESET\)/,
    },
    {
      name: 'an error with no code',
      err: new Error('something odd'),
      code: 'upstream_error',
      message: /failed \(connection error\)/,
    },
    {
      name: 'a caller abort',
      err: new DOMException('This operation was aborted', 'AbortError'),
      code: 'upstream_error',
      message: /failed \(aborted\)/,
    },
    {
      name: 'not even an Error',
      err: 'a string',
      code: 'upstream_error',
      message: /failed \(connection error\)/,
    },
    {
      name: 'an error whose own message quotes the full URL',
      err: coded('ECONNREFUSED', `connect to ${url.href} failed`),
      code: 'upstream_error',
      message: /ECONNREFUSED/,
    },
    {
      name: 'a TLS error whose message quotes the full URL',
      err: new Error(`request to ${url.href}`, { cause: coded('CERT_HAS_EXPIRED', url.href) }),
      code: 'upstream_error',
      message: /AGENTSECRETS_CA_FILE/,
    },
  ])('$name → $code', ({ err, deadline, code, message }) => {
    const out = translate(err, url, deadline ?? false);
    expect(out).toBeInstanceOf(AgentSecretsError);
    expect(out.code).toBe(code);
    expect(out.message).toMatch(message);
    expect(out.context.domain).toBe('api.example.com');
    for (const hidden of ['SECRETPATH', 'SECRETVALUE', 'SECRETHASH', '/v1/charges', '?key']) {
      expect(out.message).not.toContain(hidden);
      expect(JSON.stringify(out.context)).not.toContain(hidden);
    }
  });

  it('keeps the original error as the cause', () => {
    const err = coded('ECONNRESET');
    expect(translate(err, url, false).cause).toBe(err);
  });

  it('passes an AgentSecretsError through unchanged', () => {
    const err = new AgentSecretsError('response_too_large', 'too big');
    expect(translate(err, url, true)).toBe(err);
  });

  it('never quotes credentials in the URL userinfo', () => {
    const withUser = new URL('https://user:SECRETPASS@api.example.com/?key=SECRETVALUE');
    const out = translate(coded('ECONNREFUSED'), withUser, false);
    expect(out.message).not.toContain('SECRETPASS');
    expect(out.message).not.toContain('SECRETVALUE');
    expect(out.message).not.toContain('user');
  });
});

// ---------------------------------------------------------------------------------------------
// createForwarder against real servers on 127.0.0.1
// ---------------------------------------------------------------------------------------------

const upstreams: Upstream[] = [];
const forwarders: Forwarder[] = [];

afterEach(async () => {
  await Promise.all(forwarders.splice(0).map((f) => f.close()));
  await Promise.all(upstreams.splice(0).map((u) => u.close()));
});

async function upstream(handler?: Handler): Promise<Upstream> {
  const u = await startUpstream(handler);
  upstreams.push(u);
  return u;
}

function forwarder(
  options: {
    override?: string;
    limits?: Partial<Limits>;
    resolver?: Resolver;
    ca?: string[];
  } = {},
): Forwarder {
  const f = createForwarder({
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    override: parseCidrList(options.override ?? LOOPBACK),
    resolver: options.resolver ?? tableResolver({ 'upstream.test': ['127.0.0.1'] }),
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  });
  forwarders.push(f);
  return f;
}

function outbound(url: string, overrides: Partial<OutboundRequest> = {}): OutboundRequest {
  return { method: 'GET', url: new URL(url), headers: [], body: undefined, ...overrides };
}

async function readAll(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

async function sendError(promise: Promise<unknown>): Promise<AgentSecretsError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(AgentSecretsError);
    return err as AgentSecretsError;
  }
  throw new Error('expected the call to fail');
}

/** A promise with its resolve function, to learn that an upstream got a request. */
function signalled(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const header = (headers: [string, string][], name: string): string[] =>
  headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);

describe('createForwarder: the SSRF guard in the connection lookup', () => {
  it('plain HTTP to a name in the override reaches the upstream', async () => {
    const up = await upstream();
    const resolver = tableResolver({ 'upstream.test': ['127.0.0.1'] });
    const res = await forwarder({ resolver }).send(
      outbound(`http://upstream.test:${up.port}/hello?x=1`),
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(await readAll(res.body))).toMatchObject({ method: 'GET', url: '/hello?x=1' });
    expect(resolver.calls).toEqual(['upstream.test']);
    expect(up.seen).toHaveLength(1);
  });

  it.each<{
    name: string;
    scheme: 'http' | 'https';
    addresses: string[];
    override: string;
    code: string;
    detail?: RegExp;
  }>([
    {
      name: 'a name resolving to loopback, no override (HTTPS)',
      scheme: 'https',
      addresses: ['127.0.0.1'],
      override: '',
      code: 'ssrf_protection_blocked',
      detail: /127\.0\.0\.1: loopback/,
    },
    {
      name: 'a name resolving to loopback, no override (plain HTTP)',
      scheme: 'http',
      addresses: ['127.0.0.1'],
      override: '',
      code: 'non_https_blocked',
    },
    {
      name: 'a name resolving to a private address the override does not open',
      scheme: 'https',
      addresses: ['10.0.0.1'],
      override: LOOPBACK,
      code: 'ssrf_protection_blocked',
      detail: /10\.0\.0\.1/,
    },
    {
      name: 'a name resolving to IPv6 loopback',
      scheme: 'https',
      addresses: ['::1'],
      override: LOOPBACK,
      code: 'ssrf_protection_blocked',
      detail: /::1/,
    },
    {
      name: 'a name resolving to cloud metadata',
      scheme: 'https',
      addresses: ['169.254.169.254'],
      override: '',
      code: 'ssrf_protection_blocked',
      detail: /link-local/,
    },
    {
      name: 'plain HTTP to a public address',
      scheme: 'http',
      addresses: [PUBLIC_IP],
      override: '',
      code: 'non_https_blocked',
    },
    {
      name: 'plain HTTP to a public address, with an override that does not open it',
      scheme: 'http',
      addresses: [PUBLIC_IP],
      override: LOOPBACK,
      code: 'non_https_blocked',
    },
    {
      name: 'one public then one private address',
      scheme: 'https',
      addresses: [PUBLIC_IP, '127.0.0.1'],
      override: '',
      code: 'ssrf_protection_blocked',
      detail: /127\.0\.0\.1/,
    },
    {
      name: 'one private then one public address',
      scheme: 'https',
      addresses: ['10.1.2.3', PUBLIC_IP],
      override: '',
      code: 'ssrf_protection_blocked',
      detail: /10\.1\.2\.3/,
    },
    {
      name: 'plain HTTP where only one of two addresses is in the override',
      scheme: 'http',
      addresses: ['127.0.0.1', PUBLIC_IP],
      override: LOOPBACK,
      code: 'non_https_blocked',
    },
  ])('refuses $name with $code, without connecting', async (row) => {
    // Nothing listens on the resolved addresses: the guard fails inside the lookup.
    const resolver = tableResolver({ 'target.test': row.addresses });
    const secret = canary('GUARD');
    const err = await sendError(
      forwarder({ resolver, override: row.override }).send(
        outbound(`${row.scheme}://target.test:1/v1/${secret}?key=${secret}`, {
          headers: [['Authorization', `Bearer ${secret}`]],
        }),
      ),
    );
    expect(err.code).toBe(row.code);
    expect(err.context.domain).toBe('target.test');
    expect(err.message).toContain('target.test');
    if (row.detail !== undefined) expect(err.message).toMatch(row.detail);
    expect(err.message).not.toContain(secret);
    expect(resolver.calls).toEqual(['target.test']);
  });

  it('plain HTTP refusal mentions the private-network override', async () => {
    const resolver = tableResolver({ 'public.test': [PUBLIC_IP] });
    const err = await sendError(
      forwarder({ resolver, override: '' }).send(outbound('http://public.test/')),
    );
    expect(err.code).toBe('non_https_blocked');
    expect(err.message).toMatch(/only https:\/\/ URLs are allowed.*AGENTSECRETS_ALLOW_PRIVATE/);
  });

  it.each<{ name: string; table: Record<string, string[]> }>([
    { name: 'a name the resolver does not know', table: {} },
    { name: 'a name with no address', table: { 'nowhere.test': [] } },
  ])('$name → upstream_error (could not be resolved)', async ({ table }) => {
    const err = await sendError(
      forwarder({ resolver: tableResolver(table) }).send(outbound('https://nowhere.test/')),
    );
    expect(err.code).toBe('upstream_error');
    expect(err.message).toMatch(/nowhere\.test could not be resolved \(ENOTFOUND\)/);
  });

  it('resolves once per connection: a rebinding name cannot switch address on a kept-alive connection', async () => {
    const up = await upstream();
    const calls: string[] = [];
    const rebinding: Resolver = async (hostname) => {
      calls.push(hostname);
      return [{ address: calls.length === 1 ? '127.0.0.1' : '10.0.0.1', family: 4 }];
    };
    const f = forwarder({ resolver: rebinding });
    const url = `http://rebind.test:${up.port}/`;
    const first = await f.send(outbound(`${url}one`));
    expect(JSON.parse(await readAll(first.body))).toMatchObject({ url: '/one' });
    // undici hands the connection back to its pool in a microtask after the body ends.
    await new Promise((resolve) => setImmediate(resolve));
    const second = await f.send(outbound(`${url}two`));
    expect(JSON.parse(await readAll(second.body))).toMatchObject({ url: '/two' });
    expect(calls).toEqual(['rebind.test']);
    expect(up.seen.map((s) => s.url)).toEqual(['/one', '/two']);
  });

  it('a new connection resolves again and is checked again', async () => {
    // The upstream closes each connection, so the second request needs a new lookup.
    const up = await upstream((_req, res, body) => {
      res.writeHead(200, { connection: 'close', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    const calls: string[] = [];
    const rebinding: Resolver = async (hostname) => {
      calls.push(hostname);
      return [{ address: calls.length === 1 ? '127.0.0.1' : '10.0.0.1', family: 4 }];
    };
    const f = forwarder({ resolver: rebinding });
    const first = await f.send(outbound(`http://rebind.test:${up.port}/one`));
    await readAll(first.body);
    const err = await sendError(f.send(outbound(`http://rebind.test:${up.port}/two`)));
    expect(err.code).toBe('non_https_blocked');
    expect(calls).toEqual(['rebind.test', 'rebind.test']);
    expect(up.seen.map((s) => s.url)).toEqual(['/one']);
  });
});

describe('createForwarder: what goes upstream', () => {
  it('forces Accept-Encoding: identity', async () => {
    const up = await upstream();
    const res = await forwarder().send(
      outbound(`http://upstream.test:${up.port}/`, {
        headers: [
          ['Accept-Encoding', 'gzip, br'],
          ['accept-encoding', 'deflate'],
        ],
      }),
    );
    await readAll(res.body);
    const raw = up.seen[0]!.rawHeaders;
    const values = raw.filter(
      (_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === 'accept-encoding',
    );
    expect(values).toEqual(['identity']);
  });

  it('sends Accept-Encoding: identity even when the request had none', async () => {
    const up = await upstream();
    await readAll((await forwarder().send(outbound(`http://upstream.test:${up.port}/`))).body);
    expect(up.seen[0]!.headers['accept-encoding']).toBe('identity');
  });

  it('does not forward hop-by-hop, X-AS-*, Host or Content-Length headers from the input', async () => {
    const up = await upstream();
    const res = await forwarder().send(
      outbound(`http://upstream.test:${up.port}/p`, {
        method: 'POST',
        headers: [
          ['Host', 'evil.example'],
          ['Connection', 'close, X-Foo'],
          ['X-Foo', 'named by Connection'],
          ['Keep-Alive', 'timeout=99'],
          ['TE', 'trailers'],
          ['Trailer', 'Expires'],
          ['Upgrade', 'websocket'],
          ['Proxy-Authorization', 'Basic cHJveHk6cHJveHk='],
          ['Proxy-Connection', 'keep-alive'],
          ['Transfer-Encoding', 'chunked'],
          ['Content-Length', '999'],
          ['X-AS-Agent-Token', 'agt_should_not_leave'],
          ['x-as-target-url', 'https://elsewhere.example/'],
          ['X-Kept-Header', 'yes'],
          ['Content-Type', 'text/plain'],
        ],
        body: Buffer.from('hello'),
      }),
    );
    expect(res.status).toBe(200);
    await readAll(res.body);
    const seen = up.seen[0]!;
    const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const dropped of [
      'x-foo',
      'keep-alive',
      'te',
      'trailer',
      'upgrade',
      'proxy-authorization',
      'proxy-connection',
      'transfer-encoding',
      'x-as-agent-token',
      'x-as-target-url',
    ]) {
      expect(names).not.toContain(dropped);
    }
    expect(seen.headers.host).toBe(`upstream.test:${up.port}`);
    expect(seen.headers['x-kept-header']).toBe('yes');
    expect(seen.headers['content-length']).toBe('5');
    expect(seen.headers.connection).not.toMatch(/x-foo/i);
    expect(seen.body).toBe('hello');
    expect(seen.method).toBe('POST');
  });

  it('sends the method, path, query and body unchanged', async () => {
    const up = await upstream();
    const res = await forwarder().send(
      outbound(`http://upstream.test:${up.port}/v1/x?a=1&b=%2Fx&c`, {
        method: 'PUT',
        headers: [['Content-Type', 'application/json']],
        body: Buffer.from('{"k":"v"}'),
      }),
    );
    await readAll(res.body);
    expect(up.seen[0]).toMatchObject({
      method: 'PUT',
      url: '/v1/x?a=1&b=%2Fx&c',
      body: '{"k":"v"}',
    });
  });

  it('a header value with a line break never reaches the wire as a second header', async () => {
    const up = await upstream();
    const secret = canary('CRLF');
    const err = await sendError(
      forwarder().send(
        outbound(`http://upstream.test:${up.port}/`, {
          headers: [['Authorization', `Bearer ${secret}\r\nX-Evil: 1`]],
        }),
      ),
    );
    expect(err.message).not.toContain(secret);
    expect(up.seen).toEqual([]);
  });
});

/** The body as the engine decodes it (src/proxy/response-body.ts), with nothing to scrub. */
function decoded(res: UpstreamResponse) {
  return decodeResponseBody(res.body, res.headers, {
    url: new URL('http://upstream.test/'),
    transferCodings: res.transferCodings,
    maxBytes: 1 << 24,
    scrubber: compileScrubber([]),
    tooLarge: () => new AgentSecretsError('response_too_large', 'too large'),
  });
}

describe('createForwarder: what comes back', () => {
  const TEXT = 'plain text with a value: ' + 'x'.repeat(2000);

  it('returns status, headers and the declared length of an unencoded body', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(201, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(TEXT),
        'x-upstream': 'yes',
      });
      res.end(TEXT);
    });
    const res = await forwarder().send(outbound(`http://upstream.test:${up.port}/`));
    expect(res.status).toBe(201);
    expect(header(res.headers, 'x-upstream')).toEqual(['yes']);
    expect(res.contentLength).toBe(Buffer.byteLength(TEXT));
    expect(await readAll(res.body)).toBe(TEXT);
  });

  it('removes hop-by-hop response headers, including those Connection names', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, {
        connection: 'keep-alive, X-Internal',
        'keep-alive': 'timeout=5',
        'x-internal': 'hop',
        'x-public': 'end-to-end',
        'content-length': 2,
      });
      res.end('ok');
    });
    const res = await forwarder().send(outbound(`http://upstream.test:${up.port}/`));
    await readAll(res.body);
    const names = res.headers.map(([n]) => n.toLowerCase());
    expect(names).not.toContain('connection');
    expect(names).not.toContain('keep-alive');
    expect(names).not.toContain('x-internal');
    expect(header(res.headers, 'x-public')).toEqual(['end-to-end']);
  });

  it.each<{ name: string; encoding: string; encode: (b: Buffer) => Buffer }>([
    { name: 'gzip', encoding: 'gzip', encode: (b) => gzipSync(b) },
    { name: 'x-gzip', encoding: 'x-gzip', encode: (b) => gzipSync(b) },
    { name: 'upper-case GZIP', encoding: 'GZIP', encode: (b) => gzipSync(b) },
    { name: 'deflate', encoding: 'deflate', encode: (b) => deflateSync(b) },
    { name: 'br', encoding: 'br', encode: (b) => brotliCompressSync(b) },
    {
      name: 'deflate then gzip',
      encoding: 'deflate, gzip',
      encode: (b) => gzipSync(deflateSync(b)),
    },
    { name: 'identity, br', encoding: 'identity, br', encode: (b) => brotliCompressSync(b) },
  ])('decodes a $name body the upstream sent anyway', async ({ encoding, encode }) => {
    const encoded = encode(Buffer.from(TEXT));
    const up = await upstream((_req, res) => {
      res.writeHead(200, {
        'content-type': 'text/plain',
        'content-encoding': encoding,
        'content-length': encoded.length,
      });
      res.end(encoded);
    });
    const res = await forwarder().send(outbound(`http://upstream.test:${up.port}/`));
    expect(res.status).toBe(200);
    const body = decoded(res);
    expect(await readAll(body.body)).toBe(TEXT);
    expect(header(body.headers, 'content-encoding')).toEqual([]);
    expect(header(body.headers, 'content-length')).toEqual([]);
    expect(header(body.headers, 'content-type')).toEqual(['text/plain']);
    expect(body.decoded).toBe(true);
    expect(up.seen[0]!.headers['accept-encoding']).toBe('identity');
  });

  it.each(['zstd', 'gzip, zstd', 'compress'])(
    'withholds a %s body it cannot decode with undecodable_response',
    async (encoding) => {
      const secret = canary('ZSTD');
      const up = await upstream((_req, res) => {
        res.writeHead(200, { 'content-encoding': encoding, 'content-length': 4 });
        res.end('\x28\xb5\x2f\xfd');
      });
      const res = await forwarder().send(
        outbound(`http://upstream.test:${up.port}/p/${secret}?k=${secret}`),
      );
      const err = await sendError(Promise.resolve().then(() => decoded(res)));
      expect(err.code).toBe('undecodable_response');
      expect(err.message).toMatch(/-encoded, so it cannot be scanned/);
      expect(err.message).not.toContain(secret);
      expect(err.context.domain).toBe('upstream.test');
    },
  );

  it('a body that claims gzip but is not fails while reading', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': 8 });
      res.end('not gzip');
    });
    const res = await forwarder().send(outbound(`http://upstream.test:${up.port}/`));
    await expect(readAll(decoded(res).body)).rejects.toThrow(/encoding is corrupt/);
  });

  it.each([301, 302, 303, 307, 308])('does not follow a %i redirect', async (status) => {
    const other = await upstream();
    const up = await upstream((_req, res) => {
      res.writeHead(status, { location: `${other.url}/stolen`, 'content-length': 0 });
      res.end();
    });
    const res = await forwarder().send(
      outbound(`http://upstream.test:${up.port}/start`, {
        method: 'POST',
        headers: [['X-Api-Key', 'credential']],
        body: Buffer.from('{}'),
      }),
    );
    await readAll(res.body);
    expect(res.status).toBe(status);
    expect(header(res.headers, 'location')).toEqual([`${other.url}/stolen`]);
    expect(up.seen).toHaveLength(1);
    expect(other.seen).toEqual([]);
  });

  // undici hands 1xx answers to the handler's onHeaders too. Taken as the answer, a 103 gave
  // the call a body stream that the final answer never fed: the call hung for good (the
  // deadline was cleared when the exchange completed) and its audit entry was never written.
  it.each([
    { name: 'a small body with its length', chunked: false },
    { name: 'a streamed (chunked) body', chunked: true },
  ])('a 103 Early Hints before the answer is skipped: $name', async ({ chunked }) => {
    const up = await upstream((_req, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
      res.writeHead(200, {
        'content-type': 'text/plain',
        ...(chunked ? {} : { 'content-length': 5 }),
      });
      res.end('final');
    });
    const res = await forwarder().send(outbound(`http://upstream.test:${up.port}/hints`));
    expect(res.status).toBe(200);
    expect(header(res.headers, 'link')).toEqual([]);
    expect(await readAll(res.body)).toBe('final');
  });
});

describe('createForwarder: failures and limits', () => {
  it('an upstream that never answers hits the headers timeout → upstream_timeout', async () => {
    const up = await upstream(() => undefined);
    const err = await sendError(
      forwarder({ limits: { headersTimeoutMs: 300 } }).send(
        outbound(`http://upstream.test:${up.port}/slow?key=SECRETVALUE`),
      ),
    );
    expect(err.code).toBe('upstream_timeout');
    expect(err.message).toMatch(
      /upstream\.test did not answer in time \(UND_ERR_HEADERS_TIMEOUT\)/,
    );
    expect(err.message).not.toContain('SECRETVALUE');
    expect(up.seen).toHaveLength(1);
  });

  it('an upstream that trickles its headers past the total deadline → upstream_timeout', async () => {
    const up = await upstream((req) => {
      const socket = req.socket;
      socket.write('HTTP/1.1 200 OK\r\n');
      const timer = setInterval(() => socket.write('X-Slow: 1\r\n'), 50);
      socket.on('close', () => clearInterval(timer));
    });
    const err = await sendError(
      forwarder({ limits: { totalTimeoutMs: 300 } }).send(
        outbound(`http://upstream.test:${up.port}/trickle`),
      ),
    );
    expect(err.code).toBe('upstream_timeout');
    expect(err.message).toMatch(/did not answer in time/);
  });

  // After the headers, the body still runs under the total deadline and the idle timeout. The
  // response's translateError gives the failure the same code as one before the headers, so
  // the engine can audit it as upstream_timeout.
  it.each<{ name: string; limits: Partial<Limits>; trickle: boolean }>([
    {
      name: 'a body trickling past the total deadline',
      limits: { totalTimeoutMs: 300 },
      trickle: true,
    },
    {
      name: 'a body that stalls past the idle timeout',
      limits: { idleTimeoutMs: 300 },
      trickle: false,
    },
  ])('$name fails the body stream with upstream_timeout', async ({ limits, trickle }) => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('a');
      if (!trickle) return;
      const timer = setInterval(() => res.write('b'), 50);
      res.on('close', () => clearInterval(timer));
    });
    const res = await forwarder({ limits }).send(outbound(`http://upstream.test:${up.port}/`));
    expect(res.status).toBe(200);
    const failure = await readAll(res.body).then(
      () => undefined,
      (err: unknown) => res.translateError(err),
    );
    expect(failure).toBeInstanceOf(AgentSecretsError);
    expect((failure as AgentSecretsError).code).toBe('upstream_timeout');
  });

  it('the caller signal aborts a call in flight (not reported as a timeout)', async () => {
    const arrived = signalled();
    const up = await upstream(() => arrived.resolve());
    const controller = new AbortController();
    const pending = forwarder().send(
      outbound(`http://upstream.test:${up.port}/`),
      controller.signal,
    );
    await arrived.promise;
    controller.abort();
    const err = await sendError(pending);
    expect(err.code).toBe('cancelled');
    expect(err.message).toMatch(/cancelled by its caller/);
  });

  it('a connection reset by the upstream → upstream_error', async () => {
    const up = await upstream((req) => {
      req.socket.destroy();
    });
    const err = await sendError(
      forwarder().send(outbound(`http://upstream.test:${up.port}/reset?key=SECRETVALUE`)),
    );
    expect(err.code).toBe('upstream_error');
    expect(err.message).toMatch(/^the call to upstream\.test failed \(/);
    expect(err.message).not.toContain('SECRETVALUE');
  });

  it('a closed port → upstream_error (ECONNREFUSED)', async () => {
    const server = createNetServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const err = await sendError(forwarder().send(outbound(`http://upstream.test:${port}/`)));
    expect(err.code).toBe('upstream_error');
    expect(err.message).toMatch(/upstream\.test failed \(ECONNREFUSED\)/);
  });
});

describe('createForwarder: HTTPS upstreams', () => {
  let certs: TestCertificates;
  let tlsUp: Upstream;

  beforeAll(async () => {
    certs = makeCertificates();
    tlsUp = await startUpstream(undefined, { key: certs.key, cert: certs.cert });
  });

  afterAll(async () => {
    await tlsUp.close();
    certs.cleanup();
  });

  it('reaches an HTTPS upstream whose CA is given', async () => {
    const res = await forwarder({
      resolver: tableResolver({ localhost: ['127.0.0.1'] }),
      ca: [readFileSync(certs.caFile, 'utf8')],
    }).send(outbound(`https://localhost:${tlsUp.port}/tls`));
    expect(res.status).toBe(200);
    expect(JSON.parse(await readAll(res.body))).toMatchObject({ url: '/tls' });
  });

  it.each<{ name: string; host: string; withCa: boolean; code: RegExp }>([
    {
      name: 'an unknown CA',
      host: 'localhost',
      withCa: false,
      code: /SELF_SIGNED|UNABLE_TO|CERT/,
    },
    {
      name: 'a certificate for another name',
      host: 'wrong-name.test',
      withCa: true,
      code: /ALTNAME/,
    },
  ])('$name → upstream_error pointing at AGENTSECRETS_CA_FILE', async ({ host, withCa, code }) => {
    const err = await sendError(
      forwarder({
        resolver: tableResolver({ [host]: ['127.0.0.1'] }),
        ...(withCa ? { ca: [readFileSync(certs.caFile, 'utf8')] } : {}),
      }).send(outbound(`https://${host}:${tlsUp.port}/p?key=SECRETVALUE`)),
    );
    expect(err.code).toBe('upstream_error');
    expect(err.message).toMatch(/TLS verification failed/);
    expect(err.message).toMatch(code);
    expect(err.message).toContain('AGENTSECRETS_CA_FILE');
    expect(err.message).not.toContain('SECRETVALUE');
  });
});
