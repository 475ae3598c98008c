import { request, type ServerResponse } from 'node:http';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createLocalCredentialService,
  type LocalCredentialService,
} from '../../src/proxy/credential-service.js';
import { startProxy, type RunningProxy } from '../../src/app/proxy-runtime.js';
import { compileScrubber } from '../../src/core/scrub/scrubber.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { makeWorkspace, serviceFor, type Workspace } from '../helpers/proxy-fixture.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const VALUE = `${canary('ECHO')}/p+q=r`;
const BASIC_USER = `svc_user_${canary('U').slice(2, 12)}`;
const BASIC_PASS = canary('PASSWORD');

/** How the upstream echoes the credential it received. One row per encoding. */
const MODES: Record<string, (v: string) => string> = {
  raw: (v) => `{"received":"${v}"}`,
  url: (v) => `{"next":"https://x.test/?token=${encodeURIComponent(v)}"}`,
  'url-lower': (v) => encodeURIComponent(v).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
  form: (v) => new URLSearchParams({ token: v }).toString(),
  json: (v) => JSON.stringify({ token: v }),
  'json-slash': (v) => JSON.stringify({ token: v }).replace(/\//g, '\\/'),
  'json-unicode': (v) =>
    `"${[...v].map((c) => (/[A-Za-z0-9]/.test(c) ? c : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)).join('')}"`,
  base64: (v) => Buffer.from(v).toString('base64'),
  'base64-nopad': (v) => Buffer.from(v).toString('base64').replace(/=+$/, ''),
  base64url: (v) => Buffer.from(v).toString('base64url'),
  'base64-of-bearer-header': (v) => Buffer.from(`Authorization: Bearer ${v}`).toString('base64'),
  'base64-of-json': (v) => Buffer.from(JSON.stringify({ auth: { token: v } })).toString('base64'),
  hex: (v) => Buffer.from(v).toString('hex'),
  'hex-upper': (v) => Buffer.from(v).toString('hex').toUpperCase(),
};

/** Resolved by the SSE test once the first event reached the client. */
const sseSeen = (() => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
})();

function bearerOf(header: string | undefined): string {
  return (header ?? '').replace(/^Bearer /, '');
}

/**
 * `&length=1`: the answer goes out with a Content-Length instead of chunked, its parts still
 * written apart (20 ms between them). A small body with a length takes the engine's whole-body
 * path; a chunked one the streaming path.
 */
function withLength(res: ServerResponse): void {
  const head: { status: number; headers: Record<string, string> } = { status: 200, headers: {} };
  const parts: Buffer[] = [];
  const writeHead = res.writeHead.bind(res);
  const write = res.write.bind(res);
  const end = res.end.bind(res);
  const chunk = (c: unknown) => (typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  Object.assign(res, {
    writeHead(status: number, headers: Record<string, string> = {}) {
      head.status = status;
      head.headers = headers;
      return res;
    },
    write(c: unknown) {
      parts.push(chunk(c));
      return true;
    },
    end(c?: unknown) {
      if (c !== undefined) parts.push(chunk(c));
      const length = parts.reduce((n, p) => n + p.length, 0);
      writeHead(head.status, { ...head.headers, 'content-length': String(length) });
      void (async () => {
        for (const [i, part] of parts.entries()) {
          if (i > 0) await new Promise((r) => setTimeout(r, 20));
          write(part);
        }
        end();
      })();
      return res;
    },
  });
}

async function startEchoUpstream(): Promise<Upstream> {
  return startUpstream(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const mode = url.searchParams.get('mode') ?? 'raw';
    if (url.searchParams.get('length') === '1') withLength(res);
    const value = bearerOf(req.headers.authorization);
    switch (mode) {
      case 'header':
        res.writeHead(200, {
          'x-echo': `token=${value}`,
          'set-cookie': `session=${encodeURIComponent(value)}; HttpOnly`,
        });
        return void res.end('{"ok":true}');
      case 'basic':
        res.writeHead(200, { 'content-type': 'text/plain' });
        return void res.end(
          `you sent ${req.headers.authorization}; decoded ${Buffer.from((req.headers.authorization ?? '').slice(6), 'base64').toString()}; password alone: ${
            Buffer.from((req.headers.authorization ?? '').slice(6), 'base64')
              .toString()
              .split(':')[1]
          }`,
        );
      case 'split': {
        // The value straddles two TCP writes with a pause between them.
        res.writeHead(200, { 'content-type': 'text/plain' });
        const text = `prefix ${value} suffix`;
        const cut = 7 + Math.floor(value.length / 2);
        res.write(text.slice(0, cut));
        await new Promise((r) => setTimeout(r, 50));
        return void res.end(text.slice(cut));
      }
      case 'gzip':
      case 'deflate':
      case 'br': {
        // Compressed although the proxy asked for identity: it must be decoded, then scanned.
        const body = Buffer.from(`{"leak":"${value}"}`);
        const encoded =
          mode === 'gzip'
            ? gzipSync(body)
            : mode === 'deflate'
              ? deflateSync(body)
              : brotliCompressSync(body);
        res.writeHead(200, { 'content-encoding': mode, 'content-type': 'application/json' });
        return void res.end(encoded);
      }
      case 'big': {
        // Larger than the proxy's 1 MiB buffer: the streaming path, value at the very end.
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('x'.repeat(2 * 1024 * 1024 - 3));
        return void res.end(value);
      }
      case 'sse-live': {
        // One event, then nothing until the test says it has seen that event arrive.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"token":"first"}\n\n');
        await sseSeen.promise;
        return void res.end(`data: {"echo":"${value}"}\n\n`);
      }
      case 'sse': {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`data: part one ${value.slice(0, 10)}`);
        await new Promise((r) => setTimeout(r, 30));
        return void res.end(`${value.slice(10)} end\n\n`);
      }
      default: {
        const encode = MODES[mode];
        res.writeHead(200, { 'content-type': 'text/plain' });
        return void res.end(encode === undefined ? 'unknown mode' : encode(value));
      }
    }
  });
}

const ALL_MODES = [...Object.keys(MODES), 'header', 'split', 'gzip', 'deflate', 'br', 'big', 'sse'];

describe('response redaction, end to end against a real upstream', () => {
  let upstream: Upstream;
  let ws: Workspace;
  let service: LocalCredentialService;
  let proxy: RunningProxy;

  beforeAll(async () => {
    upstream = await startEchoUpstream();
    ws = await makeWorkspace({
      secrets: { API_KEY: VALUE, PAIR: `${BASIC_USER}:${BASIC_PASS}` },
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

  function viaProxy(path: string, inject: Record<string, string>) {
    return new Promise<{
      status: number;
      headers: Record<string, string | string[] | undefined>;
      body: Buffer;
    }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: proxy.state.port,
          path: '/proxy',
          method: 'GET',
          headers: {
            'X-AS-Session-Token': proxy.state.session_token!,
            'X-AS-Target-URL': `${upstream.url}${path}`,
            ...inject,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it.each(ALL_MODES)('call: %s echo is scrubbed', async (mode) => {
    const result = await service.call({
      url: `${upstream.url}/echo?mode=${mode}`,
      method: 'GET',
      headers: [],
      body: undefined,
      injections: [{ style: 'bearer', key: 'API_KEY' }],
      target: ws.target,
      identity: { source: 'cli' },
    });
    const everything = Buffer.concat([result.body, Buffer.from(JSON.stringify(result.headers))]);
    expect(findLeaks(everything, VALUE)).toEqual([]);
    expect(everything.includes('[REDACTED_BY_AGENTSECRETS]')).toBe(true);
    expect(result.redacted).toBe(true);
  });

  // The same echoes with a Content-Length: the whole-body path (bodies up to 64 KiB). Each row
  // first shows the value comes back from the upstream itself (the undefended path).
  const LENGTH_MODES = ALL_MODES.filter((m) => m !== 'big' && m !== 'sse');
  it.each(LENGTH_MODES)(
    'with a Content-Length: %s echo is scrubbed (proxy and call)',
    async (mode) => {
      const direct = await fetch(`${upstream.url}/echo?mode=${mode}&length=1`, {
        headers: { authorization: `Bearer ${VALUE}`, 'accept-encoding': 'identity' },
      });
      expect(direct.headers.get('content-length')).not.toBeNull();
      const raw = Buffer.from(await direct.arrayBuffer());
      // The value is in the upstream's own answer, in this row's encoding.
      const detector = compileScrubber([VALUE]);
      expect(
        detector.contains(Buffer.concat([raw, Buffer.from(JSON.stringify([...direct.headers]))])),
      ).toBe(true);

      const proxied = await viaProxy(`/echo?mode=${mode}&length=1`, {
        'X-AS-Inject-Bearer': 'API_KEY',
      });
      expect(proxied.status).toBe(200);
      const seen = Buffer.concat([proxied.body, Buffer.from(JSON.stringify(proxied.headers))]);
      expect(findLeaks(seen, VALUE)).toEqual([]);
      expect(seen.includes('[REDACTED_BY_AGENTSECRETS]')).toBe(true);
      expect(proxied.headers['x-as-redacted']).toBe('true');
      expect(proxied.headers['content-length']).toBe(String(proxied.body.length));

      const called = await service.call({
        url: `${upstream.url}/echo?mode=${mode}&length=1`,
        method: 'GET',
        headers: [],
        body: undefined,
        injections: [{ style: 'bearer', key: 'API_KEY' }],
        target: ws.target,
        identity: { source: 'cli' },
      });
      const got = Buffer.concat([called.body, Buffer.from(JSON.stringify(called.headers))]);
      expect(findLeaks(got, VALUE)).toEqual([]);
      expect(called.redacted).toBe(true);
    },
  );

  it('a small body with a Content-Length is read whole; a chunked one streams', async () => {
    const call = (length: boolean) =>
      service.engine.execute({
        url: `${upstream.url}/echo?mode=raw${length ? '&length=1' : ''}`,
        method: 'GET',
        headers: [],
        body: undefined,
        injections: [{ style: 'bearer', key: 'API_KEY' }],
        target: ws.target,
        caller: { level: 'anonymous', agentId: null, tokenId: null, source: 'cli' },
      });
    const whole = await call(true);
    expect(whole.whole).toBeInstanceOf(Buffer);
    const streamed = await call(false);
    expect(streamed.whole).toBeUndefined();
    const text = async (r: typeof whole) => {
      const chunks: Buffer[] = [];
      for await (const c of r.body) chunks.push(c as Buffer);
      await r.done;
      return Buffer.concat(chunks).toString();
    };
    // Both paths give the same bytes, through `body` as a stream too.
    expect(await text(whole)).toBe(await text(streamed));
    expect(whole.whole!.toString()).toBe(`{"received":"[REDACTED_BY_AGENTSECRETS]"}`);
  });

  it.each(ALL_MODES)('proxy: %s echo is scrubbed', async (mode) => {
    const result = await viaProxy(`/echo?mode=${mode}`, { 'X-AS-Inject-Bearer': 'API_KEY' });
    expect(result.status).toBe(200);
    const everything = Buffer.concat([result.body, Buffer.from(JSON.stringify(result.headers))]);
    expect(findLeaks(everything, VALUE)).toEqual([]);
    expect(everything.includes('[REDACTED_BY_AGENTSECRETS]')).toBe(true);
    expect(result.headers['x-as-request-id']).toMatch(/^evt_/);
    if (mode !== 'big' && mode !== 'sse') expect(result.headers['x-as-redacted']).toBe('true');
    expect(result.headers['content-encoding']).toBeUndefined();
  });

  it('an event stream is released an event at a time, and still scrubbed', async () => {
    // The upstream sends its second event only after the client has the first: a proxy that
    // held the stream back (a kilobyte at a time) would never let this finish.
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: proxy.state.port,
          path: '/proxy',
          method: 'GET',
          headers: {
            'X-AS-Session-Token': proxy.state.session_token!,
            'X-AS-Target-URL': `${upstream.url}/echo?mode=sse-live`,
            'X-AS-Inject-Bearer': 'API_KEY',
          },
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => {
            text += chunk.toString();
            if (text.includes('"first"')) sseSeen.resolve();
          });
          res.on('end', () => resolve(text));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(body).toContain('data: {"token":"first"}');
    expect(findLeaks(body, VALUE)).toEqual([]);
    expect(body).toContain('[REDACTED_BY_AGENTSECRETS]');
  });

  it('Basic: the pair, its base64 and the password alone are scrubbed', async () => {
    const result = await viaProxy('/echo?mode=basic', { 'X-AS-Inject-Basic': 'PAIR' });
    const text = result.body.toString();
    for (const leak of [
      BASIC_PASS,
      `${BASIC_USER}:${BASIC_PASS}`,
      Buffer.from(`${BASIC_USER}:${BASIC_PASS}`).toString('base64'),
    ]) {
      expect(text).not.toContain(leak);
    }
    expect(text).toContain('[REDACTED_BY_AGENTSECRETS]');
  });

  it('an unscannable encoding is withheld, not passed through', async () => {
    const zstd = await startUpstream((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'zstd' });
      res.end(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
    });
    const ws2 = await makeWorkspace({
      secrets: { API_KEY: VALUE },
      allowlist: [`127.0.0.1:${zstd.port}`],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    const svc = await createLocalCredentialService({
      config: ws2.services.config,
      workspaces: ws2.services.workspaces,
      vault: ws2.services.vault,
      unlock: () => ws2.services.vault.unlock(),
    });
    try {
      const err = await svc
        .call({
          url: `${zstd.url}/`,
          method: 'GET',
          headers: [],
          body: undefined,
          injections: [{ style: 'bearer', key: 'API_KEY' }],
          target: ws2.target,
          identity: { source: 'cli' },
        })
        .catch((e: unknown) => e as { code: string });
      expect((err as { code: string }).code).toBe('undecodable_response');
    } finally {
      await svc.close();
      await zstd.close();
    }
  });
});
