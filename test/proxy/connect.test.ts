import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newestEntries } from '../../src/audit/reader.js';
import {
  createLocalCredentialService,
  type LocalCredentialService,
} from '../../src/proxy/credential-service.js';
import type { RunTicket } from '../../src/run/host.js';
import { type Interceptor, startInterceptor } from '../../src/run/serve.js';
import type { UnlockedVault } from '../../src/vault/vault.js';
import { canary, findLeaks, scanTree } from '../helpers/canary.js';
import { makeWorkspace, tableResolver, type Workspace } from '../helpers/proxy-fixture.js';
import {
  makeCertificates,
  startUpstream,
  type TestCertificates,
  type Upstream,
} from '../helpers/upstream.js';

const HOST = 'api.intercept.test';
const OTHER = 'other.intercept.test';
const TUNNEL_ONLY = 'tunnel.intercept.test';
const KEY_VALUE = `${canary('CONNECT')}/p+q=r`;
const BODY_VALUE = canary('BODYKEY');

/** The redaction suite's echo modes (a subset): each must come back scrubbed through run. */
const ECHO: Record<string, (v: string) => string> = {
  raw: (v) => `{"received":"${v}"}`,
  url: (v) => `{"next":"https://x.test/?token=${encodeURIComponent(v)}"}`,
  json: (v) => JSON.stringify({ token: v }),
  base64: (v) => Buffer.from(v).toString('base64'),
  hex: (v) => Buffer.from(v).toString('hex'),
};

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Reads one HTTP/1.1 response (Content-Length or chunked) from a socket. */
function readResponse(socket: Socket | TLSSocket): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const [statusLine, ...lines] = buffer.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const rest = buffer.subarray(end + 4);
      let body: Buffer | undefined;
      if (headers['content-length'] !== undefined) {
        const length = Number(headers['content-length']);
        if (rest.length < length) return;
        body = rest.subarray(0, length);
      } else if (headers['transfer-encoding'] === 'chunked') {
        const text = rest.toString('latin1');
        if (!text.includes('\r\n0\r\n\r\n') && !text.startsWith('0\r\n\r\n')) return;
        const parts: Buffer[] = [];
        let at = 0;
        for (;;) {
          const lineEnd = rest.indexOf('\r\n', at);
          const size = parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
          if (size === 0) break;
          parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
          at = lineEnd + 2 + size + 2;
        }
        body = Buffer.concat(parts);
      } else if (headers.connection === 'close') {
        return;
      } else {
        body = rest;
      }
      socket.off('data', onData);
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: body.toString('utf8') });
    };
    socket.on('data', onData);
    socket.once('end', () => {
      const text = buffer.toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      if (end === -1) return reject(new Error(`connection closed: ${text}`));
      const status = Number(text.split(' ')[1]);
      resolve({ status, headers: {}, body: text.slice(end + 4) });
    });
    socket.once('error', reject);
  });
}

describe('the intercepting proxy (CONNECT, TLS termination, substitution through the engine)', () => {
  let ws: Workspace;
  let certs: TestCertificates;
  let upstream: Upstream;
  let credentials: LocalCredentialService;
  let unlocked: UnlockedVault;
  let interceptor: Interceptor;
  let ticket: RunTicket;
  let token: string;
  const outputs: string[] = [];

  beforeAll(async () => {
    certs = makeCertificates([HOST, OTHER, TUNNEL_ONLY]);
    upstream = await startUpstream(
      (req, res, body) => {
        const url = new URL(req.url ?? '/', 'https://x');
        const mode = url.searchParams.get('echo');
        const value = (req.headers.authorization ?? '').replace(/^Bearer /, '');
        const text =
          mode !== null ? ECHO[mode]!(value) : JSON.stringify({ body, headers: req.headers });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(text);
      },
      { key: certs.key, cert: certs.cert },
    );
    ws = await makeWorkspace({
      secrets: { API_KEY: KEY_VALUE, BODY_KEY: BODY_VALUE, OTHER_KEY: canary('OTHER') },
      allowlist: [`${HOST}:${upstream.port}`, `${OTHER}:${upstream.port}`],
      bindings: {
        BODY_KEY: { domains: [`${HOST}:${upstream.port}`], styles: ['header', 'body', 'query'] },
        OTHER_KEY: { domains: [`${OTHER}:${upstream.port}`], styles: [] },
      },
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32', AGENTSECRETS_CA_FILE: certs.caFile },
    });
    const resolver = tableResolver({
      [HOST]: ['127.0.0.1'],
      [OTHER]: ['127.0.0.1'],
      [TUNNEL_ONLY]: ['127.0.0.1'],
      'private.intercept.test': ['10.1.2.3'],
      'public.intercept.test': ['8.8.8.8'],
    });
    unlocked = await ws.services.vault.unlock();
    credentials = await createLocalCredentialService({
      config: ws.services.config,
      workspaces: ws.services.workspaces,
      vault: ws.services.vault,
      unlock: async () => unlocked,
      resolver,
    });
    interceptor = await startInterceptor({
      config: ws.services.config,
      credentials,
      vault: ws.services.vault,
      unlocked,
      port: 0,
      host: '127.0.0.1',
    });
    ticket = await interceptor.runs.start({
      target: ws.target,
      keys: undefined,
      command: 'test',
      identity: { source: 'run', agentId: 'tester' },
    });
    token = new URL(ticket.proxy_url).password;
  });

  afterAll(async () => {
    await interceptor?.close();
    await credentials?.close();
    unlocked?.close();
    await upstream?.close();
    certs?.cleanup();
  });

  const ph = (key: string) => ticket.placeholders[key]!;

  /** Sends CONNECT and returns the socket and the proxy's answer. */
  async function connect(authority: string, auth: string | null = token) {
    const socket = netConnect(interceptor.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth === null ? '' : `Proxy-Authorization: Basic ${Buffer.from(`run:${auth}`).toString('base64')}\r\n`}\r\n`,
    );
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      const onData = (c: Buffer) => {
        text += c.toString('latin1');
        if (text.startsWith('HTTP/1.1 200') ? text.includes('\r\n\r\n') : false) {
          socket.off('data', onData);
          resolve(text);
        }
      };
      socket.on('data', onData);
      socket.once('end', () => resolve(text));
    });
    outputs.push(answer);
    return { socket, answer, status: Number(answer.split(' ')[1]) };
  }

  /** A TLS session inside a CONNECT tunnel, trusting only the local CA. */
  async function tunnel(host = HOST, alpn = ['http/1.1']) {
    const { socket, status, answer } = await connect(`${host}:${upstream.port}`);
    expect(status, answer).toBe(200);
    const tls = tlsConnect({
      socket,
      servername: host,
      ca: interceptor.ca.certPem,
      ALPNProtocols: alpn,
    });
    await new Promise<void>((resolve, reject) => {
      tls.once('secureConnect', resolve);
      tls.once('error', reject);
    });
    return tls;
  }

  async function send(tls: TLSSocket, request: string | Buffer): Promise<RawResponse> {
    const answer = readResponse(tls);
    tls.write(request);
    const response = await answer;
    outputs.push(response.body, JSON.stringify(response.headers));
    return response;
  }

  it('without the run token, CONNECT is refused with 407', async () => {
    const { status, answer } = await connect(`${HOST}:${upstream.port}`, null);
    expect(status).toBe(407);
    expect(answer).toContain('agentsecrets run');
    expect((await connect(`${HOST}:${upstream.port}`, 'f'.repeat(48))).status).toBe(407);
  });

  it('a run whose `run` process is gone ends: its token stops working', async () => {
    const child = spawnSync(process.execPath, ['-e', '0']);
    const ended = await interceptor.runs.start({
      target: ws.target,
      keys: ['API_KEY'],
      command: 'gone',
      identity: { source: 'run' },
      pid: child.pid!,
    });
    const gone = new URL(ended.proxy_url).password;
    expect((await connect(`${HOST}:${upstream.port}`, gone)).status).toBe(407);
    const live = await interceptor.runs.start({
      target: ws.target,
      keys: ['API_KEY'],
      command: 'live',
      identity: { source: 'run' },
      pid: process.pid,
    });
    const answer = await connect(`${HOST}:${upstream.port}`, new URL(live.proxy_url).password);
    expect(answer.status).toBe(200);
    answer.socket.destroy();
    expect(interceptor.runs.end(live.run_id)).toBe(true);
  });

  it('CONNECT outside the allowlist: 403 naming `allowlist add`, and audited', async () => {
    const { status, answer } = await connect('evil.example.com:443');
    expect(status).toBe(403);
    expect(answer).toContain('domain_not_in_allowlist');
    expect(answer).toContain('agentsecrets workspace allowlist add evil.example.com');
    const entries = await newestEntries(ws.services.config.paths.auditDir, 20);
    expect(entries.some((e) => e.method === 'CONNECT' && e.domain === 'evil.example.com')).toBe(
      true,
    );
  });

  it('CONNECT to an allowlisted name that resolves to a private address: 403 ssrf', async () => {
    await ws.services.workspaces.updateWorkspace(ws.target.workspaceId, (w) => {
      w.allowlist.push({ pattern: 'private.intercept.test:443', added_by: 't', added_at: 'now' });
    });
    const { status, answer } = await connect('private.intercept.test:443');
    expect(status).toBe(403);
    expect(answer).toContain('ssrf_protection_blocked');
  });

  it('the leaf: for the CONNECT host, signed by the local CA, at most 24 h, ALPN http/1.1 only', async () => {
    const tls = await tunnel(HOST, ['h2', 'http/1.1']);
    expect(tls.alpnProtocol).toBe('http/1.1');
    const leaf = new X509Certificate(tls.getPeerCertificate(true).raw);
    expect(leaf.subjectAltName).toBe(`DNS:${HOST}`);
    expect(leaf.verify(new X509Certificate(interceptor.ca.certPem).publicKey)).toBe(true);
    const lifetime = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
    expect(lifetime).toBeLessThanOrEqual(24 * 60 * 60 * 1000);
    tls.destroy();
  });

  it('keep-alive: two requests on one connection; a chunked body is re-framed with Content-Length', async () => {
    const tls = await tunnel();
    const first = await send(
      tls,
      `GET /one HTTP/1.1\r\nHost: ${HOST}:${upstream.port}\r\nAuthorization: Bearer ${ph('API_KEY')}\r\n\r\n`,
    );
    expect(first.status).toBe(200);
    const seenFirst = upstream.seen.at(-1)!;
    expect(seenFirst.headers.authorization).toBe(`Bearer ${KEY_VALUE}`);
    const json = `{"key":"${ph('BODY_KEY')}"}`;
    const chunked = `${json.length.toString(16)}\r\n${json}\r\n0\r\n\r\n`;
    const second = await send(
      tls,
      `POST /two HTTP/1.1\r\nHost: ${HOST}:${upstream.port}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`,
    );
    expect(second.status).toBe(200);
    const seen = upstream.seen.at(-1)!;
    expect(JSON.parse(seen.body)).toEqual({ key: BODY_VALUE });
    expect(Number(seen.headers['content-length'])).toBe(Buffer.byteLength(seen.body));
    expect(seen.headers['transfer-encoding']).toBeUndefined();
    tls.destroy();
  });

  // Each refusal: the request that is refused, and the same request with the defence off
  // (the secret allowed there), which must reach the upstream with the value.
  const refusals: {
    name: string;
    refused: () => string | Buffer;
    allowed?: () => string | Buffer;
    status: number;
    code: string;
  }[] = [
    {
      name: 'placeholder of an unbound secret in the query string',
      refused: () => `GET /q?key=${ph('API_KEY')} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
      allowed: () => `GET /q?key=${ph('BODY_KEY')} HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
      status: 403,
      code: 'secret_binding_mismatch',
    },
    {
      name: 'placeholder of an unbound secret in a JSON body',
      refused: () => post('application/json', `{"k":"${ph('API_KEY')}"}`),
      allowed: () => post('application/json', `{"k":"${ph('BODY_KEY')}"}`),
      status: 403,
      code: 'secret_binding_mismatch',
    },
    {
      name: 'placeholder of a secret bound to another host',
      refused: () => `GET / HTTP/1.1\r\nHost: ${HOST}\r\nX-Key: ${ph('OTHER_KEY')}\r\n\r\n`,
      allowed: () => `GET / HTTP/1.1\r\nHost: ${HOST}\r\nX-Key: ${ph('API_KEY')}\r\n\r\n`,
      status: 403,
      code: 'secret_binding_mismatch',
    },
    {
      name: 'placeholder inside a gzip-compressed body',
      refused: () => {
        const gz = gzipSync(`{"k":"${ph('BODY_KEY')}"}`);
        return Buffer.concat([
          Buffer.from(
            `POST / HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${gz.length}\r\n\r\n`,
          ),
          gz,
        ]);
      },
      allowed: () => post('application/json', `{"k":"${ph('BODY_KEY')}"}`),
      status: 400,
      code: 'bad_request',
    },
    {
      name: 'placeholder in the URL path',
      refused: () => `GET /bot${ph('API_KEY')}/send HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`,
      status: 400,
      code: 'bad_request',
    },
    {
      name: 'a Host header naming another host than the tunnel',
      refused: () => `GET / HTTP/1.1\r\nHost: ${OTHER}\r\nX-Key: ${ph('OTHER_KEY')}\r\n\r\n`,
      status: 400,
      code: 'bad_request',
    },
  ];
  function post(type: string, body: string): string {
    return `POST / HTTP/1.1\r\nHost: ${HOST}\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  }

  for (const row of refusals) {
    it(`refused: ${row.name}`, async () => {
      if (row.allowed !== undefined) {
        const tls = await tunnel();
        const before = upstream.seen.length;
        const ok = await send(tls, row.allowed());
        expect(ok.status).toBe(200);
        expect(upstream.seen.length).toBe(before + 1);
        const seen = JSON.stringify(upstream.seen.at(-1));
        expect(
          seen.includes(BODY_VALUE) ||
            seen.includes(encodeURIComponent(BODY_VALUE)) ||
            seen.includes(KEY_VALUE),
        ).toBe(true);
        tls.destroy();
      }
      const tls = await tunnel();
      const before = upstream.seen.length;
      const refused = await send(tls, row.refused());
      expect(refused.status).toBe(row.status);
      expect(JSON.parse(refused.body).error).toBe(row.code);
      expect(upstream.seen.length).toBe(before);
      tls.destroy();
    });
  }

  for (const mode of Object.keys(ECHO)) {
    it(`an upstream echoing the value (${mode}) comes back scrubbed`, async () => {
      const tls = await tunnel();
      const response = await send(
        tls,
        `GET /?echo=${mode} HTTP/1.1\r\nHost: ${HOST}\r\nAuthorization: Bearer ${ph('API_KEY')}\r\n\r\n`,
      );
      expect(response.status).toBe(200);
      expect(upstream.seen.at(-1)!.headers.authorization).toBe(`Bearer ${KEY_VALUE}`);
      expect(findLeaks(response.body, KEY_VALUE)).toEqual([]);
      expect(response.body).toContain('[REDACTED_BY_AGENTSECRETS]');
      tls.destroy();
    });
  }

  it('absolute-form http:// reaches only what AGENTSECRETS_ALLOW_PRIVATE opens', async () => {
    const plain = await startUpstream();
    try {
      await ws.services.workspaces.updateWorkspace(ws.target.workspaceId, (w) => {
        w.allowlist.push(
          { pattern: `127.0.0.1:${plain.port}`, added_by: 't', added_at: 'now' },
          { pattern: 'public.intercept.test:80', added_by: 't', added_at: 'now' },
        );
      });
      const absolute = async (url: string) => {
        const socket = netConnect(interceptor.port, '127.0.0.1');
        await new Promise((r) => socket.once('connect', r));
        const answer = readResponse(socket);
        socket.write(
          `GET ${url} HTTP/1.1\r\nHost: ${new URL(url).host}\r\nX-Key: ${ph('API_KEY')}\r\nProxy-Authorization: Basic ${Buffer.from(`run:${token}`).toString('base64')}\r\nConnection: close\r\n\r\n`,
        );
        const response = await answer;
        socket.destroy();
        outputs.push(response.body);
        return response;
      };
      // Opened by the override (127.0.0.1/32): forwarded, with the placeholder substituted.
      const opened = await absolute(`http://127.0.0.1:${plain.port}/plain`);
      expect(opened.status).toBe(200);
      expect(plain.seen.at(-1)!.headers['x-key']).toBe(KEY_VALUE);
      // A public address is never reached over plain HTTP.
      const before = plain.seen.length;
      const refused = await absolute('http://public.intercept.test/plain');
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body).error).toBe('non_https_blocked');
      expect(plain.seen.length).toBe(before);
    } finally {
      await plain.close();
    }
  });

  it('WebSocket upgrades are refused clearly', async () => {
    const tls = await tunnel();
    const response = await send(
      tls,
      `GET /ws HTTP/1.1\r\nHost: ${HOST}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    expect(response.status).toBe(501);
    expect(response.body).toContain('WebSocket');
  });

  it('HTTP/2 prior knowledge is refused clearly, inside the tunnel and on the proxy port', async () => {
    const preface = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
    const tls = await tunnel();
    const inside = await send(tls, preface);
    expect(inside.status).toBe(505);
    expect(inside.body).toContain('HTTP/2');
    const socket = netConnect(interceptor.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    const outside = await send(socket as unknown as TLSSocket, preface);
    expect(outside.status).toBe(505);
  });

  it('passthrough hosts are tunnelled untouched (no substitution) and audited', async () => {
    const refused = await connect(`${TUNNEL_ONLY}:${upstream.port}`);
    expect(refused.status).toBe(403);
    await ws.services.workspaces.updateWorkspace(ws.target.workspaceId, (w) => {
      w.passthrough = [
        { pattern: `${TUNNEL_ONLY}:${upstream.port}`, added_by: 't', added_at: 'now' },
      ];
    });
    const { socket, status } = await connect(`${TUNNEL_ONLY}:${upstream.port}`);
    expect(status).toBe(200);
    // The upstream's own certificate (test CA), not ours: the tunnel is not intercepted.
    const tls = tlsConnect({
      socket,
      servername: TUNNEL_ONLY,
      ca: readFileSync(certs.caFile, 'utf8'),
    });
    await new Promise((r) => tls.once('secureConnect', r));
    const response = await send(
      tls,
      `GET / HTTP/1.1\r\nHost: ${TUNNEL_ONLY}\r\nX-Key: ${ph('API_KEY')}\r\n\r\n`,
    );
    expect(response.status).toBe(200);
    expect(upstream.seen.at(-1)!.headers['x-key']).toBe(ph('API_KEY'));
    tls.destroy();
    const entries = await newestEntries(ws.services.config.paths.auditDir, 50);
    expect(
      entries.some(
        (e) =>
          e.domain === TUNNEL_ONLY && e.status === 'OK' && e.auth_styles.includes('passthrough'),
      ),
    ).toBe(true);
  });

  it('canaries: no value in anything the child saw, the audit log or the state folder', async () => {
    const all = outputs.join('\n');
    expect(findLeaks(all, KEY_VALUE)).toEqual([]);
    expect(findLeaks(all, BODY_VALUE)).toEqual([]);
    expect(await scanTree(ws.home, KEY_VALUE)).toEqual([]);
    expect(await scanTree(ws.home, BODY_VALUE)).toEqual([]);
  });
});
