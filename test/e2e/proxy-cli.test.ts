import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../../src/audit/verify.js';
import { newestEntries } from '../../src/audit/reader.js';
import { canary, findLeaks, scanTree } from '../helpers/canary.js';
import { baseEnv, CLI, type CliResult, runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import {
  echo,
  makeCertificates,
  startUpstream,
  type TestCertificates,
  type Upstream,
} from '../helpers/upstream.js';

const PASSPHRASE = 'proxy-e2e-passphrase';
const SECRET = canary('PROXYE2E');
const PAIR = `user_${canary('BU').slice(0, 12)}:${canary('BP')}`;

interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function httpCall(
  port: number,
  headers: Record<string, string>,
  options: { method?: string; body?: string | Buffer; path?: string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: options.path ?? '/proxy',
        method: options.method ?? 'GET',
        headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('the proxy and `call`, spawned, against real HTTP and HTTPS upstreams', () => {
  let home: string;
  let certs: TestCertificates;
  let https: Upstream;
  let plain: Upstream;
  let slow: Upstream;
  let proxy: ChildProcess;
  let port: number;
  let token: string;
  const outputs: string[] = [];
  let env: Record<string, string | undefined>;

  const cli = async (
    args: string[],
    extra: Record<string, string | undefined> = {},
    input?: string,
  ): Promise<CliResult> => {
    const result = await runCli(args, { home, env: { ...env, ...extra }, input });
    outputs.push(result.stdout, result.stderr);
    return result;
  };
  const proxied = async (
    headers: Record<string, string>,
    options: Parameters<typeof httpCall>[2] = {},
  ) => {
    const result = await httpCall(port, { 'X-AS-Session-Token': token, ...headers }, options);
    outputs.push(result.body, JSON.stringify(result.headers));
    return result;
  };

  beforeAll(async () => {
    certs = makeCertificates();
    https = await startUpstream(echo, { key: certs.key, cert: certs.cert });
    plain = await startUpstream((req, res, body) => {
      if (req.url === '/big') {
        res.writeHead(200, { 'content-length': String(3 * 1024 * 1024) });
        return void res.end(Buffer.alloc(3 * 1024 * 1024, 120));
      }
      if (req.url === '/reset') return void req.socket.destroy();
      echo(req, res, body);
    });
    slow = await startUpstream(() => {
      // Never answers.
    });
    home = join(await tempDir(), 'state');
    env = {
      AGENTSECRETS_PASSPHRASE: PASSPHRASE,
      AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
      AGENTSECRETS_CA_FILE: certs.caFile,
      AGENTSECRETS_MAX_REQUEST_BYTES: '65536',
      AGENTSECRETS_MAX_RESPONSE_BYTES: String(1024 * 1024),
      AGENTSECRETS_HEADERS_TIMEOUT_MS: '800',
      AGENTSECRETS_TOTAL_TIMEOUT_MS: '3000',
    };
    expect((await cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'])).code).toBe(0);
    expect((await cli(['secrets', 'set', 'API_KEY'], {}, SECRET)).code).toBe(0);
    expect((await cli(['secrets', 'set', 'PAIR'], {}, PAIR)).code).toBe(0);
    const add = await runCliInPty(
      [
        'workspace',
        'allowlist',
        'add',
        `127.0.0.1:${https.port}`,
        `127.0.0.1:${plain.port}`,
        `127.0.0.1:${slow.port}`,
        '--yes',
      ],
      { home, env },
    );
    expect(add.code, add.stdout).toBe(0);

    proxy = spawn(process.execPath, [CLI, 'proxy', 'start', '--port', '0'], {
      env: baseEnv(home, env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let proxyErr = '';
    proxy.stderr!.on('data', (c: Buffer) => (proxyErr += c.toString()));
    for (let i = 0; i < 200; i++) {
      const state = await readFile(join(home, 'proxy.json'), 'utf8').catch(() => undefined);
      if (state !== undefined) {
        const parsed = JSON.parse(state) as { port: number; session_token: string };
        port = parsed.port;
        token = parsed.session_token;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(port, proxyErr).toBeGreaterThan(0);
  });

  afterAll(async () => {
    if (proxy !== undefined && proxy.exitCode === null && proxy.signalCode === null) {
      proxy.kill('SIGTERM');
      await new Promise((r) => proxy.once('exit', r));
    }
    await Promise.all([https.close(), plain.close(), slow.close()]);
    certs?.cleanup();
  });

  // Each injection style, over HTTPS with the test CA trusted through AGENTSECRETS_CA_FILE.
  const styles: {
    name: string;
    flags: string[];
    headers: Record<string, string>;
    method?: string;
    body?: string;
    check: (seen: { headers: Record<string, unknown>; url: string; body: string }) => void;
  }[] = [
    {
      name: 'bearer',
      flags: ['--bearer', 'API_KEY'],
      headers: { 'X-AS-Inject-Bearer': 'API_KEY' },
      check: (s) => expect(s.headers.authorization).toBe(`Bearer ${SECRET}`),
    },
    {
      name: 'basic',
      flags: ['--basic', 'PAIR'],
      headers: { 'X-AS-Inject-Basic': 'PAIR' },
      check: (s) =>
        expect(s.headers.authorization).toBe(`Basic ${Buffer.from(PAIR).toString('base64')}`),
    },
    {
      name: 'header',
      flags: ['--header', 'X-Api-Key=API_KEY'],
      headers: { 'X-AS-Inject-Header-X-Api-Key': 'API_KEY' },
      check: (s) => expect(s.headers['x-api-key']).toBe(SECRET),
    },
    {
      name: 'query (name keeps its case)',
      flags: ['--query', 'apiKey=API_KEY'],
      headers: { 'X-AS-Inject-Query-apiKey': 'API_KEY' },
      check: (s) => expect(new URL(s.url, 'https://x').searchParams.get('apiKey')).toBe(SECRET),
    },
    {
      name: 'JSON body field (nested path created)',
      flags: ['--body-field', 'auth.client_Secret=API_KEY'],
      headers: {
        'X-AS-Inject-Body-auth.client_Secret': 'API_KEY',
        'Content-Type': 'application/json',
      },
      method: 'POST',
      body: '{"keep":1}',
      check: (s) =>
        expect(JSON.parse(s.body)).toEqual({ keep: 1, auth: { client_Secret: SECRET } }),
    },
    {
      name: 'form field',
      flags: ['--form-field', 'client_secret=API_KEY'],
      headers: {
        'X-AS-Inject-Form-client_secret': 'API_KEY',
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      method: 'POST',
      body: 'grant_type=client_credentials',
      check: (s) => expect(new URLSearchParams(s.body).get('client_secret')).toBe(SECRET),
    },
  ];

  it.each(styles)('call over HTTPS injects $name', async (style) => {
    const before = https.seen.length;
    const args = [
      'call',
      '--url',
      `${https.url}/style?x=1`,
      '--method',
      style.method ?? 'GET',
      ...style.flags,
      '--output',
      'json',
    ];
    if (style.body !== undefined) args.push('--body', style.body);
    const result = await cli(args);
    expect(result.code, result.stderr).toBe(0);
    const seen = https.seen[before]!;
    style.check(seen);
    const envelope = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(Object.keys(envelope).sort()).toEqual([
      'body',
      'duration_ms',
      'error',
      'headers',
      'redacted',
      'status',
    ]);
    expect(envelope).toMatchObject({ status: 200, redacted: true, error: null });
    expect(findLeaks(result.stdout, SECRET)).toEqual([]);
  });

  it.each(styles)('the proxy over HTTPS injects $name', async (style) => {
    const before = https.seen.length;
    const result = await proxied(
      {
        'X-AS-Target-URL': `${https.url}/style?x=1`,
        ...(style.method ? { 'X-AS-Method': style.method } : {}),
        ...style.headers,
      },
      { method: style.method ?? 'GET', ...(style.body === undefined ? {} : { body: style.body }) },
    );
    expect(result.status, result.body).toBe(200);
    style.check(https.seen[before]!);
    expect(result.headers['x-as-redacted']).toBe('true');
    expect(findLeaks(result.body, SECRET)).toEqual([]);
  });

  it('several injections in one request', async () => {
    const before = https.seen.length;
    const result = await proxied({
      'X-AS-Target-URL': `${https.url}/multi`,
      'X-AS-Inject-Bearer': 'API_KEY',
      'X-AS-Inject-Header-X-Client': 'PAIR',
      'X-AS-Inject-Query-key': 'API_KEY',
    });
    expect(result.status).toBe(200);
    const seen = https.seen[before]!;
    expect(seen.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(seen.headers['x-client']).toBe(PAIR);
    expect(seen.url).toBe(`/multi?key=${encodeURIComponent(SECRET)}`);
  });

  it('text output of call is "HTTP <code>", a blank line, then the body', async () => {
    const result = await cli(['call', '--url', `${plain.url}/text`, '--bearer', 'API_KEY']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^HTTP 200\n\n\{/);
  });

  it('a block prints the envelope with the proxy error as body, exit 1, code on stderr', async () => {
    const result = await cli([
      'call',
      '--url',
      'https://not-allowed.example.com/x',
      '--bearer',
      'API_KEY',
      '--output',
      'json',
    ]);
    expect(result.code).toBe(1);
    const envelope = JSON.parse(result.stdout) as { status: number; body: string; error: string };
    expect(envelope.status).toBe(403);
    expect(envelope.error).toBe('domain_not_in_allowlist');
    expect(JSON.parse(envelope.body)).toMatchObject({
      error: 'domain_not_in_allowlist',
      domain: 'not-allowed.example.com',
    });
    expect(result.stderr).toContain('domain_not_in_allowlist');
  });

  it('an upstream 4xx exits 1 with the real status', async () => {
    const notFound = await startUpstream((_req, res) => {
      res.writeHead(404);
      res.end('nope');
    });
    try {
      const add = await runCliInPty(
        ['workspace', 'allowlist', 'add', `127.0.0.1:${notFound.port}`, '--yes'],
        { home, env },
      );
      expect(add.code).toBe(0);
      const result = await cli(['call', '--url', `${notFound.url}/x`, '--bearer', 'API_KEY']);
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/^HTTP 404/);
    } finally {
      await notFound.close();
    }
  });

  it('call and env use the running key holder: no passphrase needed while the proxy runs', async () => {
    const result = await cli(['call', '--url', `${plain.url}/holder`, '--bearer', 'API_KEY'], {
      AGENTSECRETS_PASSPHRASE: undefined,
    });
    expect(result.code, result.stderr).toBe(0);
    const child = await cli(
      [
        'env',
        '--only',
        'API_KEY',
        '--',
        process.execPath,
        '-e',
        'process.stdout.write(String(process.env.API_KEY.length))',
      ],
      { AGENTSECRETS_PASSPHRASE: undefined },
    );
    expect(child.stdout).toBe(String(SECRET.length));
  });

  // DNS rebinding and CSRF: a browser page gets nothing it can use.
  it.each([
    ['a foreign Host', { Host: 'evil.example:8765' }, 'GET'],
    ['a rebinding Host that resolves to 127.0.0.1', { Host: 'rebind.attacker.test' }, 'GET'],
    ['an Origin header', { Origin: 'https://evil.example' }, 'GET'],
    ['a null Origin', { Origin: 'null' }, 'GET'],
    [
      'a CORS preflight',
      { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
      'OPTIONS',
    ],
  ] as const)('refuses %s', async (_name, extra, method) => {
    const before = plain.seen.length;
    const result = await proxied(
      { 'X-AS-Target-URL': `${plain.url}/csrf`, 'X-AS-Inject-Bearer': 'API_KEY', ...extra },
      { method },
    );
    expect(result.status).toBe(401);
    expect(Object.keys(result.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    expect(plain.seen.length).toBe(before);
  });

  it('requires the session token', async () => {
    const result = await httpCall(port, {
      'X-AS-Target-URL': `${plain.url}/x`,
      'X-AS-Inject-Bearer': 'API_KEY',
    });
    expect(result.status).toBe(401);
    expect(JSON.parse(result.body)).toMatchObject({ error: 'invalid_session' });
    const wrong = await httpCall(port, {
      'X-AS-Session-Token': 'x'.repeat(64),
      'X-AS-Target-URL': `${plain.url}/x`,
      'X-AS-Inject-Bearer': 'API_KEY',
    });
    expect(wrong.status).toBe(401);
  });

  it('/health needs no token and tells nothing about the project', async () => {
    const result = await httpCall(port, {}, { path: '/health' });
    expect(result.status).toBe(200);
    expect(Object.keys(JSON.parse(result.body) as object).sort()).toEqual(['status', 'version']);
  });

  // Bad input gets the documented error code, and the proxy keeps serving.
  const bad: {
    name: string;
    headers: Record<string, string>;
    method?: string;
    body?: string | Buffer;
    status: number;
    code: string;
  }[] = [
    {
      name: 'a missing target URL',
      headers: { 'X-AS-Inject-Bearer': 'API_KEY' },
      status: 400,
      code: 'bad_request',
    },
    {
      name: 'an invalid target URL',
      headers: { 'X-AS-Target-URL': 'not a url', 'X-AS-Inject-Bearer': 'API_KEY' },
      status: 400,
      code: 'bad_request',
    },
    {
      name: 'an unknown injection header',
      headers: { 'X-AS-Target-URL': 'https://x.test/', 'X-AS-Inject-Cookie-session': 'API_KEY' },
      status: 400,
      code: 'bad_request',
    },
    {
      name: 'no injection at all',
      headers: { 'X-AS-Target-URL': 'PLAIN/x' },
      status: 400,
      code: 'bad_request',
    },
    {
      name: 'a malformed JSON body for body injection',
      headers: {
        'X-AS-Target-URL': 'PLAIN/x',
        'X-AS-Inject-Body-token': 'API_KEY',
        'Content-Type': 'application/json',
      },
      method: 'POST',
      body: '{"broken": ',
      status: 400,
      code: 'bad_request',
    },
    {
      name: 'an oversized request body',
      headers: { 'X-AS-Target-URL': 'PLAIN/x', 'X-AS-Inject-Bearer': 'API_KEY' },
      method: 'POST',
      body: Buffer.alloc(200_000, 97),
      status: 413,
      code: 'request_too_large',
    },
    {
      name: 'an oversized response',
      headers: { 'X-AS-Target-URL': 'PLAIN/big', 'X-AS-Inject-Bearer': 'API_KEY' },
      status: 502,
      code: 'response_too_large',
    },
    {
      name: 'an upstream that resets the connection',
      headers: { 'X-AS-Target-URL': 'PLAIN/reset', 'X-AS-Inject-Bearer': 'API_KEY' },
      status: 502,
      code: 'upstream_error',
    },
    {
      name: 'an upstream that hangs',
      headers: { 'X-AS-Target-URL': 'SLOW/hang', 'X-AS-Inject-Bearer': 'API_KEY' },
      status: 504,
      code: 'upstream_timeout',
    },
    {
      name: 'an unknown secret',
      headers: { 'X-AS-Target-URL': 'PLAIN/x', 'X-AS-Inject-Bearer': 'NOPE' },
      status: 404,
      code: 'secret_not_found',
    },
  ];

  it.each(bad)('$name → $status $code, and the proxy keeps serving', async (row) => {
    const headers = Object.fromEntries(
      Object.entries(row.headers).map(([k, v]) => [
        k,
        v.replace('PLAIN', plain.url).replace('SLOW', slow.url),
      ]),
    );
    const result = await proxied(headers, {
      method: row.method ?? 'GET',
      ...(row.body === undefined ? {} : { body: row.body }),
    });
    expect(result.status, result.body).toBe(row.status);
    expect(JSON.parse(result.body)).toMatchObject({ error: row.code });
    const after = await proxied({
      'X-AS-Target-URL': `${plain.url}/still-up`,
      'X-AS-Inject-Bearer': 'API_KEY',
    });
    expect(after.status).toBe(200);
  });

  it('the allowlist is human-gated: without a terminal it refuses and changes nothing', async () => {
    const result = await cli(['workspace', 'allowlist', 'add', 'evil.example.com', '--yes']);
    expect(result.code).toBe(3);
    const list = await cli(['workspace', 'allowlist', 'list', '--json']);
    expect((JSON.parse(list.stdout) as { pattern: string }[]).map((e) => e.pattern)).not.toContain(
      'evil.example.com',
    );
    const log = await cli(['workspace', 'allowlist', 'log', '--json']);
    const changes = JSON.parse(log.stdout) as {
      action: string;
      pattern: string;
      by: string;
      at: string;
    }[];
    expect(changes[0]).toMatchObject({ action: 'add', pattern: `127.0.0.1:${https.port}` });
    expect(changes[0]!.by).toMatch(/^local:/);
  });

  it('binding is human-gated too', async () => {
    const result = await cli(['secrets', 'bind', 'API_KEY', 'api.stripe.com', '--yes']);
    expect(result.code).toBe(3);
  });

  it('audit: every call, block and env run has an entry; the chain is intact; no value anywhere', async () => {
    proxy.kill('SIGTERM');
    await new Promise((r) => proxy.once('exit', r));
    const auditDir = join(home, 'audit');
    const entries = await newestEntries(auditDir, 10_000);
    expect(entries.some((e) => e.source === 'proxy' && e.status === 'OK')).toBe(true);
    expect(
      entries.some(
        (e) =>
          e.source === 'cli' && e.status === 'BLOCKED' && e.reason === 'domain_not_in_allowlist',
      ),
    ).toBe(true);
    expect(entries.some((e) => e.source === 'env' && e.method === 'ENV')).toBe(true);
    expect(entries.some((e) => e.reason === 'upstream_timeout')).toBe(true);
    expect(entries.every((e) => e.private_override === '127.0.0.1/32')).toBe(true);
    expect((await verifyChain(auditDir)).ok).toBe(true);
    for (const value of [SECRET, PAIR, PASSPHRASE, token]) {
      expect(findLeaks(outputs.join('\n'), value)).toEqual([]);
      expect(await scanTree(home, value, { except: (p) => p.endsWith('proxy.json') })).toEqual([]);
    }
  });
});
