import { describe, expect, it } from 'vitest';
import { AgentSecretsError } from '../../src/core/errors.js';
import type { Injection } from '../../src/proxy/inject.js';
import {
  MEMO_CONNECTION_CHARS,
  namesInConnection,
  parseProxyHeaders,
  stripHopByHop,
} from '../../src/proxy/protocol.js';
import { canary } from '../helpers/canary.js';

const TARGET = ['X-AS-Target-URL', 'https://maps.example.com/api/geocode?address=x'];
const BEARER = ['X-AS-Inject-Bearer', 'STRIPE_KEY'];

/** Runs `fn`, expects an AgentSecretsError, and returns it. */
function catchError(fn: () => unknown): AgentSecretsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AgentSecretsError);
    return err as AgentSecretsError;
  }
  throw new Error('expected an error, none was thrown');
}

describe('parseProxyHeaders: injections', () => {
  it.each<{ raw: string[]; injection: Injection }>([
    {
      raw: ['X-AS-Inject-Bearer', 'STRIPE_KEY'],
      injection: { style: 'bearer', key: 'STRIPE_KEY' },
    },
    {
      raw: ['x-as-inject-bearer', 'STRIPE_KEY'],
      injection: { style: 'bearer', key: 'STRIPE_KEY' },
    },
    { raw: ['X-AS-INJECT-BASIC', 'TWILIO'], injection: { style: 'basic', key: 'TWILIO' } },
    {
      raw: ['x-as-inject-query-apiKey', 'MAPS_KEY'],
      injection: { style: 'query', target: 'apiKey', key: 'MAPS_KEY' },
    },
    {
      raw: ['X-AS-Inject-Query-key', 'MAPS_KEY'],
      injection: { style: 'query', target: 'key', key: 'MAPS_KEY' },
    },
    {
      raw: ['X-AS-Inject-Body-client_secret', 'OAUTH'],
      injection: { style: 'body', target: 'client_secret', key: 'OAUTH' },
    },
    {
      raw: ['X-AS-Inject-Body-a.b-c.d', 'K'],
      injection: { style: 'body', target: 'a.b-c.d', key: 'K' },
    },
    {
      raw: ['X-AS-Inject-Body-auth-token', 'K'],
      injection: { style: 'body', target: 'auth-token', key: 'K' },
    },
    {
      raw: ['x-as-INJECT-header-X-Api-Key', 'K'],
      injection: { style: 'header', target: 'X-Api-Key', key: 'K' },
    },
    {
      raw: ['X-As-Inject-Header-x-api-KEY', 'K'],
      injection: { style: 'header', target: 'x-api-KEY', key: 'K' },
    },
    {
      raw: ['X-AS-Inject-Form-client_Secret', 'K'],
      injection: { style: 'form', target: 'client_Secret', key: 'K' },
    },
    {
      raw: ['X-AS-INJECT-FORM-Client_Secret', '  K_2  '],
      injection: { style: 'form', target: 'Client_Secret', key: 'K_2' },
    },
  ])('$raw.0: $raw.1', ({ raw, injection }) => {
    const parsed = parseProxyHeaders([...TARGET, ...raw]);
    expect(parsed.injections).toEqual([injection]);
    expect(parsed.forward).toEqual([]);
  });

  it('collects several injections in header order', () => {
    const parsed = parseProxyHeaders([
      'X-AS-Inject-Bearer',
      'TOKEN',
      ...TARGET,
      'X-AS-Inject-Query-apiKey',
      'MAPS_KEY',
      'Accept',
      'application/json',
      'X-AS-Inject-Header-X-Api-KEY',
      'HEADER_KEY',
      'X-AS-Inject-Body-meta.client_secret',
      'BODY_KEY',
    ]);
    expect(parsed.injections).toEqual([
      { style: 'bearer', key: 'TOKEN' },
      { style: 'query', target: 'apiKey', key: 'MAPS_KEY' },
      { style: 'header', target: 'X-Api-KEY', key: 'HEADER_KEY' },
      { style: 'body', target: 'meta.client_secret', key: 'BODY_KEY' },
    ]);
    expect(parsed.forward).toEqual([['Accept', 'application/json']]);
  });

  it('reads the single-valued headers (names case-insensitive, values trimmed)', () => {
    const parsed = parseProxyHeaders([
      'x-as-target-url',
      '  https://api.example.com/v1?x=1  ',
      'X-AS-METHOD',
      'PATCH',
      'X-AS-Agent-ID',
      'billing-bot',
      'X-AS-Agent-Token',
      'agt_abc',
      'X-AS-Session-Token',
      'sess_xyz',
      'X-AS-Project',
      'payments',
      'X-AS-Environment',
      'staging',
      ...BEARER,
    ]);
    expect(parsed).toEqual({
      targetUrl: 'https://api.example.com/v1?x=1',
      method: 'PATCH',
      injections: [{ style: 'bearer', key: 'STRIPE_KEY' }],
      agentId: 'billing-bot',
      agentToken: 'agt_abc',
      sessionToken: 'sess_xyz',
      project: 'payments',
      environment: 'staging',
      forward: [],
    });
  });

  it('leaves optional fields undefined when absent', () => {
    const parsed = parseProxyHeaders([...TARGET, ...BEARER]);
    expect(parsed.targetUrl).toBe(TARGET[1]);
    expect(parsed.method).toBeUndefined();
    expect(parsed.agentId).toBeUndefined();
    expect(parsed.agentToken).toBeUndefined();
    expect(parsed.sessionToken).toBeUndefined();
  });
});

describe('parseProxyHeaders: forwarded headers', () => {
  it('forwards every other header in order with its original case, without Host', () => {
    const parsed = parseProxyHeaders([
      'Host',
      '127.0.0.1:8765',
      'Content-Type',
      'application/json',
      ...TARGET,
      'X-Custom-THING',
      'a',
      'accept',
      '*/*',
      'HOST',
      'evil.example',
      ...BEARER,
      'X-Custom-THING',
      'b',
      'User-Agent',
      'agent/1.0',
    ]);
    expect(parsed.forward).toEqual([
      ['Content-Type', 'application/json'],
      ['X-Custom-THING', 'a'],
      ['accept', '*/*'],
      ['X-Custom-THING', 'b'],
      ['User-Agent', 'agent/1.0'],
    ]);
  });

  it('strips hop-by-hop headers and whatever Connection names', () => {
    const parsed = parseProxyHeaders([
      ...TARGET,
      ...BEARER,
      'Connection',
      'close, X-Foo',
      'X-Foo',
      'dropped',
      'x-foo',
      'dropped too',
      'Keep-Alive',
      'timeout=5',
      'Transfer-Encoding',
      'chunked',
      'TE',
      'trailers',
      'Trailer',
      'Expires',
      'Upgrade',
      'websocket',
      'Proxy-Authorization',
      'Basic Zm9vOmJhcg==',
      'Proxy-Connection',
      'keep-alive',
      'X-Kept',
      'yes',
    ]);
    expect(parsed.forward).toEqual([['X-Kept', 'yes']]);
  });

  it('never forwards an X-AS-* header', () => {
    const parsed = parseProxyHeaders([
      ...TARGET,
      ...BEARER,
      'X-AS-Agent-Token',
      'agt_secret',
      'X-AS-Session-Token',
      'sess',
      'X-Other',
      '1',
    ]);
    expect(parsed.forward).toEqual([['X-Other', '1']]);
    expect(parsed.forward.some(([n]) => n.toLowerCase().startsWith('x-as-'))).toBe(false);
  });
});

describe('parseProxyHeaders: refusals', () => {
  it.each<{ name: string; raw: string[]; message: RegExp }>([
    { name: 'no target', raw: [...BEARER], message: /X-AS-Target-URL is required/ },
    {
      name: 'an empty target',
      raw: ['X-AS-Target-URL', '   ', ...BEARER],
      message: /X-AS-Target-URL is required/,
    },
    {
      name: 'no injection',
      raw: [...TARGET, 'Accept', '*/*'],
      message: /at least one X-AS-Inject-\* header is required/,
    },
    {
      name: 'an unknown X-AS-* header',
      raw: [...TARGET, ...BEARER, 'X-AS-Inject-Cookie-session', 'K'],
      message:
        /unknown header X-AS-Inject-Cookie-session; the X-AS-\* headers are Target-URL, Method, Inject-Bearer, Inject-Basic, Inject-Header-<Name>, Inject-Query-<param>, Inject-Body-<json\.path>, Inject-Form-<field>, Agent-ID/,
    },
    {
      name: 'a misspelt X-AS-* header',
      raw: [...TARGET, ...BEARER, 'X-AS-Target-Url-2', 'x'],
      message: /unknown header X-AS-Target-Url-2/,
    },
    {
      name: 'a bare X-AS-Inject-Bearer- prefix',
      raw: [...TARGET, 'X-AS-Inject-Bearer-X', 'K'],
      message: /unknown header/,
    },
    {
      name: 'a duplicate target',
      raw: [...TARGET, ...BEARER, 'x-as-target-url', 'https://other.example.com/'],
      message: /x-as-target-url was given more than once/,
    },
    {
      name: 'a duplicate method',
      raw: [...TARGET, ...BEARER, 'X-AS-Method', 'GET', 'X-AS-Method', 'POST'],
      message: /more than once/,
    },
    {
      name: 'a duplicate agent token',
      raw: [...TARGET, ...BEARER, 'X-AS-Agent-Token', 'a', 'X-AS-AGENT-TOKEN', 'b'],
      message: /more than once/,
    },
    ...['X-AS-Inject-Header-', 'X-AS-Inject-Query-', 'X-AS-Inject-Body-', 'X-AS-Inject-Form-'].map(
      (header) => ({
        name: `${header} with no name`,
        raw: [...TARGET, header, 'K'],
        message: /needs a name/,
      }),
    ),
  ])('$name', ({ raw, message }) => {
    const err = catchError(() => parseProxyHeaders(raw));
    expect(err.code).toBe('bad_request');
    expect(err.message).toMatch(message);
  });

  it.each([
    { header: 'X-AS-Inject-Bearer', value: 'sk-live-SECRET' },
    { header: 'X-AS-Inject-Basic', value: 'user:SECRET' },
    { header: 'X-AS-Inject-Query-apiKey', value: 'SECRET value' },
    { header: 'X-AS-Inject-Header-X-Api-Key', value: '9SECRET' },
    { header: 'X-AS-Inject-Body-a', value: 'SECRET.key' },
    { header: 'X-AS-Inject-Form-f', value: '' },
    { header: 'X-AS-Inject-Bearer', value: '   ' },
    { header: 'X-AS-Inject-Bearer', value: `A${'B'.repeat(300)}` },
  ])('$header: $value is not a key name, and the value is not echoed', ({ header, value }) => {
    const secret = canary('PASTED');
    const raw = value.replace('SECRET', secret);
    const err = catchError(() => parseProxyHeaders([...TARGET, header, raw]));
    expect(err.code).toBe('bad_request');
    expect(err.message).toContain(header);
    expect(err.message).toMatch(/must name a secret/);
    expect(err.message).not.toContain(secret);
    if (raw.trim() !== '') expect(err.message).not.toContain(raw.trim());
  });
});

describe('stripHopByHop', () => {
  it.each<{ name: string; headers: [string, string][]; expected: [string, string][] }>([
    {
      name: 'keeps end-to-end headers in order',
      headers: [
        ['Content-Type', 'a'],
        ['Authorization', 'b'],
        ['X-Y', 'c'],
      ],
      expected: [
        ['Content-Type', 'a'],
        ['Authorization', 'b'],
        ['X-Y', 'c'],
      ],
    },
    ...[
      'Connection',
      'Keep-Alive',
      'Transfer-Encoding',
      'TE',
      'Trailer',
      'Upgrade',
      'Proxy-Authorization',
      'Proxy-Authenticate',
      'Proxy-Connection',
      'connection',
      'KEEP-ALIVE',
      'transfer-encoding',
    ].map((name) => ({
      name: `removes ${name}`,
      headers: [
        [name, 'x'],
        ['X-Kept', '1'],
      ] as [string, string][],
      expected: [['X-Kept', '1']] as [string, string][],
    })),
    {
      name: 'removes headers named by Connection, case-insensitively, with spaces',
      headers: [
        ['Connection', 'close, X-Foo ,x-bar'],
        ['x-foo', '1'],
        ['X-BAR', '2'],
        ['X-Baz', '3'],
      ],
      expected: [['X-Baz', '3']],
    },
    {
      name: 'honours every Connection header, even one after the headers it names',
      headers: [
        ['X-A', '1'],
        ['X-B', '2'],
        ['Connection', 'X-A'],
        ['connection', 'x-b'],
        ['X-C', '3'],
      ],
      expected: [['X-C', '3']],
    },
    { name: 'an empty list', headers: [], expected: [] },
  ])('$name', ({ headers, expected }) => {
    const before = JSON.stringify(headers);
    expect(stripHopByHop(headers)).toEqual(expected);
    expect(JSON.stringify(headers)).toBe(before);
  });
});

describe('namesInConnection: the memo of parsed Connection values', () => {
  it('remembers short values only: a huge value from an agent is parsed, used, and let go', () => {
    // The detector works: a short value's parse is remembered (the same set, twice). This is
    // what every value got before the size bound, a multi-megabyte one included.
    const short = 'keep-alive, X-Hop';
    expect(namesInConnection(short)).toBe(namesInConnection(short));
    // The attack: an agent passes a large, unique Connection value per call (the MCP tool and
    // the key holder take headers as given), which a memo would keep alive, 64 at a time.
    const huge = `X-Hop, ${'x'.repeat(2 * 1024 * 1024)}`;
    expect(huge.length).toBeGreaterThan(MEMO_CONNECTION_CHARS);
    const first = namesInConnection(huge);
    expect(first.has('x-hop')).toBe(true);
    expect(namesInConnection(huge)).not.toBe(first);
    // Stripping is unchanged for either.
    expect(
      stripHopByHop([
        ['Connection', huge],
        ['X-Hop', '1'],
        ['X-Kept', '2'],
      ]),
    ).toEqual([['X-Kept', '2']]);
  });
});
