import { describe, expect, it } from 'vitest';
import { AgentSecretsError, isAgentSecretsError } from '../../src/core/errors.js';
import {
  applyInjections,
  type Injection,
  type OutboundRequest,
  setHeader,
  setJsonPath,
  setQueryParam,
} from '../../src/proxy/inject.js';
import { canary } from '../helpers/canary.js';

function request(overrides: Partial<OutboundRequest> = {}): OutboundRequest {
  return {
    method: 'POST',
    url: new URL('https://api.example.com/v1/things'),
    headers: [],
    body: undefined,
    ...overrides,
  };
}

const values = (entries: Record<string, string>): Map<string, string> =>
  new Map(Object.entries(entries));

/** The value of every header with this name (case-insensitive), in order. */
const headerValues = (headers: [string, string][], name: string): string[] =>
  headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);

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

const jsonOf = (req: OutboundRequest): unknown => JSON.parse(req.body!.toString('utf8'));

describe('applyInjections: the six styles', () => {
  it('bearer sets Authorization: Bearer <value>', () => {
    const out = applyInjections(
      request(),
      [{ style: 'bearer', key: 'STRIPE_KEY' }],
      values({ STRIPE_KEY: 'sk_test_abc' }),
    );
    expect(out.headers).toEqual([['Authorization', 'Bearer sk_test_abc']]);
  });

  it.each([
    { value: 'user:pass', encoded: Buffer.from('user:pass').toString('base64') },
    { value: 'sk_test_123:', encoded: 'c2tfdGVzdF8xMjM6' },
    { value: 'ü:p:ss', encoded: Buffer.from('ü:p:ss', 'utf8').toString('base64') },
  ])('basic encodes $value as base64 of the whole pair', ({ value, encoded }) => {
    const out = applyInjections(
      request(),
      [{ style: 'basic', key: 'PAIR' }],
      values({ PAIR: value }),
    );
    expect(out.headers).toEqual([['Authorization', `Basic ${encoded}`]]);
    expect(Buffer.from(encoded, 'base64').toString('utf8')).toBe(value);
  });

  it.each(['X-Api-KEY', 'x-api-key', 'Api-Key', 'X_Custom.Token'])(
    'header sets %s with its exact case',
    (name) => {
      const out = applyInjections(
        request(),
        [{ style: 'header', target: name, key: 'K' }],
        values({ K: 'v-123' }),
      );
      expect(out.headers).toEqual([[name, 'v-123']]);
    },
  );

  it.each([
    { target: 'apiKey', search: '?apiKey=AIza-1' },
    { target: 'key', search: '?key=AIza-1' },
    { target: 'Key', search: '?Key=AIza-1' },
    { target: 'access_token', search: '?access_token=AIza-1' },
  ])('query sets parameter $target with its exact case', ({ target, search }) => {
    const out = applyInjections(
      request({ url: new URL('https://maps.example.com/geo') }),
      [{ style: 'query', target, key: 'MAPS_KEY' }],
      values({ MAPS_KEY: 'AIza-1' }),
    );
    expect(out.url.search).toBe(search);
    expect(out.url.searchParams.get(target)).toBe('AIza-1');
  });

  it.each([
    { target: 'client_Secret', expected: { client_Secret: 'v' } },
    { target: 'apiKey', expected: { apiKey: 'v' } },
    { target: 'auth.token', expected: { auth: { token: 'v' } } },
    { target: 'a.b-c.d', expected: { a: { 'b-c': { d: 'v' } } } },
    { target: 'deep.er.than.that', expected: { deep: { er: { than: { that: 'v' } } } } },
  ])('body sets JSON path $target', ({ target, expected }) => {
    const out = applyInjections(
      request({ body: Buffer.from('{}') }),
      [{ style: 'body', target, key: 'K' }],
      values({ K: 'v' }),
    );
    expect(jsonOf(out)).toEqual(expected);
    expect(headerValues(out.headers, 'content-type')).toEqual(['application/json']);
  });

  it.each(['client_Secret', 'apiKey', 'Client_secret'])('form sets field %s exactly', (field) => {
    const out = applyInjections(
      request(),
      [{ style: 'form', target: field, key: 'K' }],
      values({ K: 'a b&c=d' }),
    );
    const form = new URLSearchParams(out.body!.toString('utf8'));
    expect([...form.keys()]).toEqual([field]);
    expect(form.get(field)).toBe('a b&c=d');
    expect(headerValues(out.headers, 'content-type')).toEqual([
      'application/x-www-form-urlencoded',
    ]);
  });
});

describe('applyInjections: combinations and existing content', () => {
  it('applies several injections of different styles to one request', () => {
    const out = applyInjections(
      request({
        url: new URL('https://api.example.com/v1/x?page=2'),
        headers: [['Accept', 'application/json']],
        body: Buffer.from('{"amount":100,"meta":{"note":"hi"}}'),
      }),
      [
        { style: 'bearer', key: 'TOKEN' },
        { style: 'header', target: 'X-Api-KEY', key: 'HEADER_KEY' },
        { style: 'query', target: 'apiKey', key: 'QUERY_KEY' },
        { style: 'body', target: 'meta.client_secret', key: 'BODY_KEY' },
        { style: 'body', target: 'other', key: 'TOKEN' },
      ],
      values({ TOKEN: 't0k', HEADER_KEY: 'h3ad', QUERY_KEY: 'q/ry', BODY_KEY: 'b0dy' }),
    );
    expect(out.headers).toEqual([
      ['Accept', 'application/json'],
      ['Authorization', 'Bearer t0k'],
      ['X-Api-KEY', 'h3ad'],
      ['Content-Type', 'application/json'],
    ]);
    expect(out.url.search).toBe('?page=2&apiKey=q%2Fry');
    expect(jsonOf(out)).toEqual({
      amount: 100,
      meta: { note: 'hi', client_secret: 'b0dy' },
      other: 't0k',
    });
  });

  it.each(['Authorization', 'authorization', 'AUTHORIZATION'])(
    'bearer replaces an existing %s header',
    (existing) => {
      const out = applyInjections(
        request({
          headers: [
            [existing, 'Basic old'],
            ['X-Other', '1'],
            [existing, 'second'],
          ],
        }),
        [{ style: 'bearer', key: 'K' }],
        values({ K: 'new' }),
      );
      expect(headerValues(out.headers, 'authorization')).toEqual(['Bearer new']);
      expect(out.headers).toEqual([
        ['X-Other', '1'],
        ['Authorization', 'Bearer new'],
      ]);
    },
  );

  it('a header injection replaces an existing header of another case, keeping the injected case', () => {
    const out = applyInjections(
      request({ headers: [['x-api-key', 'agent-supplied']] }),
      [{ style: 'header', target: 'X-Api-KEY', key: 'K' }],
      values({ K: 'real' }),
    );
    expect(out.headers).toEqual([['X-Api-KEY', 'real']]);
  });

  it.each([
    { url: '?a=1&b=%2Fx&c', expected: '?a=1&b=%2Fx&c&apiKey=V' },
    { url: '?a=%7E&b=x+y&c=%20', expected: '?a=%7E&b=x+y&c=%20&apiKey=V' },
    { url: '?apiKey=old&a=1', expected: '?a=1&apiKey=V' },
    { url: '?apiKey=old&a=1&apiKey=older', expected: '?a=1&apiKey=V' },
    { url: '?api%4Bey=old&a=1', expected: '?a=1&apiKey=V' },
    { url: '?APIKEY=keep&apikey=keep', expected: '?APIKEY=keep&apikey=keep&apiKey=V' },
    { url: '', expected: '?apiKey=V' },
    { url: '?', expected: '?apiKey=V' },
  ])('query injection into $url keeps the other parameters as they were', ({ url, expected }) => {
    const out = applyInjections(
      request({ url: new URL(`https://api.example.com/p${url}`) }),
      [{ style: 'query', target: 'apiKey', key: 'K' }],
      values({ K: 'V' }),
    );
    expect(out.url.search).toBe(expected);
    expect(out.url.pathname).toBe('/p');
  });

  it('form injection into an existing urlencoded body keeps the other fields and replaces the same field', () => {
    const out = applyInjections(
      request({
        headers: [['content-type', 'application/x-www-form-urlencoded; charset=utf-8']],
        body: Buffer.from(
          'grant_type=client_credentials&client_Secret=old&scope=a+b&Client_secret=x',
        ),
      }),
      [{ style: 'form', target: 'client_Secret', key: 'K' }],
      values({ K: 's3cr&t' }),
    );
    const form = new URLSearchParams(out.body!.toString('utf8'));
    expect([...form.entries()]).toEqual([
      ['grant_type', 'client_credentials'],
      ['client_Secret', 's3cr&t'],
      ['scope', 'a b'],
      ['Client_secret', 'x'],
    ]);
    expect(headerValues(out.headers, 'content-type')).toEqual([
      'application/x-www-form-urlencoded',
    ]);
  });

  it.each([
    { name: 'no body', body: undefined },
    { name: 'an empty body', body: Buffer.alloc(0) },
  ])('body injection into $name starts from {} and sets Content-Type', ({ body }) => {
    const out = applyInjections(
      request({ body, headers: [['content-type', 'text/plain']] }),
      [{ style: 'body', target: 'token', key: 'K' }],
      values({ K: 'v' }),
    );
    expect(out.body!.toString('utf8')).toBe('{"token":"v"}');
    expect(headerValues(out.headers, 'content-type')).toEqual(['application/json']);
  });

  it('body injection indexes into existing arrays', () => {
    const out = applyInjections(
      request({ body: Buffer.from('{"items":[{"id":1},{"id":2,"auth":{}}],"n":[0,1]}') }),
      [
        { style: 'body', target: 'items.1.auth.key', key: 'K' },
        { style: 'body', target: 'n.0', key: 'K' },
      ],
      values({ K: 'v' }),
    );
    expect(jsonOf(out)).toEqual({
      items: [{ id: 1 }, { id: 2, auth: { key: 'v' } }],
      n: ['v', 1],
    });
  });

  it('leaves the input request untouched', () => {
    const input = request({
      url: new URL('https://api.example.com/p?a=1'),
      headers: [['Authorization', 'old']],
      body: Buffer.from('{"a":1}'),
    });
    const out = applyInjections(
      input,
      [
        { style: 'bearer', key: 'K' },
        { style: 'query', target: 'q', key: 'K' },
        { style: 'body', target: 'b', key: 'K' },
      ],
      values({ K: 'v' }),
    );
    expect(input.url.href).toBe('https://api.example.com/p?a=1');
    expect(input.headers).toEqual([['Authorization', 'old']]);
    expect(input.body!.toString()).toBe('{"a":1}');
    expect(out.url).not.toBe(input.url);
    expect(out.method).toBe('POST');
  });

  it('a key with no resolved value is an internal error that names only the key', () => {
    expect(() =>
      applyInjections(request(), [{ style: 'bearer', key: 'MISSING_KEY' }], values({})),
    ).toThrow(/MISSING_KEY/);
  });
});

interface ErrorRow {
  name: string;
  request?: Partial<OutboundRequest>;
  injections: Injection[];
  /** The value given to key K; SECRET is replaced by the test's canary. */
  value?: string;
  message: RegExp;
  code?: string;
}

const ERROR_ROWS: ErrorRow[] = [
  {
    name: 'malformed JSON body',
    request: { body: Buffer.from('{"token": SECRET}') },
    injections: [{ style: 'body', target: 'a', key: 'K' }],
    message: /not valid JSON/,
  },
  {
    name: 'truncated JSON body quoting the canary',
    request: { body: Buffer.from('{"SECRET') },
    injections: [{ style: 'body', target: 'a', key: 'K' }],
    message: /not valid JSON/,
  },
  {
    name: 'JSON array body',
    request: { body: Buffer.from('["SECRET"]') },
    injections: [{ style: 'body', target: 'a', key: 'K' }],
    message: /JSON object/,
  },
  {
    name: 'JSON string body',
    request: { body: Buffer.from('"SECRET"') },
    injections: [{ style: 'body', target: 'a', key: 'K' }],
    message: /JSON object/,
  },
  {
    name: 'JSON null body',
    request: { body: Buffer.from('null') },
    injections: [{ style: 'body', target: 'a', key: 'K' }],
    message: /JSON object/,
  },
  {
    name: 'body and form in one request',
    injections: [
      { style: 'body', target: 'a', key: 'K' },
      { style: 'form', target: 'b', key: 'K' },
    ],
    message: /not both/,
  },
  {
    name: 'basic value without a colon',
    injections: [{ style: 'basic', key: 'K' }],
    message: /cannot be injected/,
    code: 'invalid_secret_value',
  },
  ...['Host', 'host', 'Content-Length', 'Transfer-Encoding', 'Connection', 'CONNECTION'].map(
    (target): ErrorRow => ({
      name: `header injection into ${target}`,
      injections: [{ style: 'header', target, key: 'K' }],
      message: /belongs to the transport/,
    }),
  ),
  ...['Keep-Alive', 'Upgrade', 'TE', 'Trailer', 'Proxy-Authorization'].map((target): ErrorRow => ({
    name: `header injection into ${target}`,
    injections: [{ style: 'header', target, key: 'K' }],
    message: /belongs to the transport/,
  })),
  // The forwarder drops these before the call leaves (test/proxy/forward.test.ts shows it):
  // refused, so no call goes out without its secret while the audit names the secret.
  ...['Accept-Encoding', 'accept-encoding', 'X-AS-Anything', 'x-as-target-url'].map(
    (target): ErrorRow => ({
      name: `header injection into ${target}`,
      injections: [{ style: 'header', target, key: 'K' }],
      message: /never reaches the upstream/,
    }),
  ),
  {
    name: 'header injection into a header the Connection header names',
    request: { headers: [['Connection', 'keep-alive, X-Api-Key']] },
    injections: [{ style: 'header', target: 'x-api-key', key: 'K' }],
    message: /Connection header names x-api-key/,
  },
  ...(['bearer', 'basic'] as const).map((style): ErrorRow => ({
    name: `${style} injection when the Connection header names Authorization`,
    request: { headers: [['connection', 'Authorization']] },
    injections: [{ style, key: 'K' }],
    value: 'user:SECRET',
    message: /Connection header names Authorization/,
  })),
  ...['X Api', 'X:Api', 'X-Api\r\nX-Evil', 'Ünïcode', 'X(Api)', 'X@Api'].map(
    (target): ErrorRow => ({
      name: `invalid header name ${JSON.stringify(target)}`,
      injections: [{ style: 'header', target, key: 'K' }],
      message: /not a valid header name/,
    }),
  ),
  ...['SECRET\r\nX-Evil: 1', 'SECRET\n', '\rSECRET', 'SEC\0RET'].map((value): ErrorRow => ({
    name: `header value ${JSON.stringify(value)}`,
    injections: [{ style: 'header', target: 'X-Api-Key', key: 'K' }],
    value,
    message: /cannot be injected/,
    code: 'invalid_secret_value',
  })),
  ...[
    { json: '{"a":"SECRET"}', path: 'a.b', kind: 'string' },
    { json: '{"a":5}', path: 'a.b', kind: 'number' },
    { json: '{"a":true}', path: 'a.b.c', kind: 'boolean' },
    { json: '{"a":[null]}', path: 'a.0.b', kind: 'null' },
    { json: '{"a":["SECRET"]}', path: 'a.0.b', kind: 'string' },
  ].map(({ json, path, kind }): ErrorRow => ({
    name: `JSON path ${path} through a ${kind}`,
    request: { body: Buffer.from(json) },
    injections: [{ style: 'body', target: path, key: 'K' }],
    message: new RegExp(`holds a ${kind}, not an object`),
  })),
  ...['a..b', '.a', 'a.', '.'].map((path): ErrorRow => ({
    name: `empty segment in ${path}`,
    injections: [{ style: 'body', target: path, key: 'K' }],
    message: /empty segment/,
  })),
  ...[
    { json: '{"a":[1,2]}', path: 'a.2' },
    { json: '{"a":[1,2]}', path: 'a.-1' },
    { json: '{"a":[1,2]}', path: 'a.x' },
    { json: '{"a":[1,2]}', path: 'a.1.5' },
    { json: '{"a":[]}', path: 'a.0.b' },
  ].map(({ json, path }): ErrorRow => ({
    name: `array index out of range: ${path} in ${json}`,
    request: { body: Buffer.from(json) },
    injections: [{ style: 'body', target: path, key: 'K' }],
    message: /(not an index of the array|holds a number)/,
  })),
  ...(['header', 'query', 'body', 'form'] as const).map((style): ErrorRow => ({
    name: `${style} injection without a target`,
    injections: [{ style, target: '', key: 'K' }],
    message: /needs a name/,
  })),
];

describe('applyInjections: refusals are bad_request and never quote a value', () => {
  it.each(ERROR_ROWS)('$name', (row) => {
    const secret = canary('INJECT');
    const swap = (text: string) => text.replaceAll('SECRET', secret);
    const body =
      row.request?.body === undefined ? undefined : Buffer.from(swap(row.request.body.toString()));
    const err = catchError(() =>
      applyInjections(
        request({ ...row.request, body }),
        row.injections,
        values({ K: swap(row.value ?? 'SECRET-no-colon') }),
      ),
    );
    expect(err.code).toBe(row.code ?? 'bad_request');
    expect(err.message).toMatch(row.message);
    expect(err.message).not.toContain(secret);
    // Node truncates what it quotes: look for a piece of the random part too.
    expect(err.message).not.toContain(secret.slice(7, 19));
    expect(JSON.stringify(err.context)).not.toContain(secret);
    expect(String(err.stack)).not.toContain(secret);
  });

  it('the JSON.parse failure it hides does quote the body (why the message is rewritten)', () => {
    const secret = canary('PARSE');
    const body = `{"token": ${secret}}`;
    expect(() => JSON.parse(body)).toThrow(secret.slice(0, 10));
    const err = catchError(() =>
      applyInjections(
        request({ body: Buffer.from(body) }),
        [{ style: 'body', target: 'a', key: 'K' }],
        values({ K: 'v' }),
      ),
    );
    expect(err.message).not.toContain(secret.slice(0, 10));
    expect(err.cause).toBeUndefined();
  });

  it('a basic refusal names the key but not the value', () => {
    const secret = canary('BASIC');
    const err = catchError(() =>
      applyInjections(request(), [{ style: 'basic', key: 'MY_PAIR' }], values({ MY_PAIR: secret })),
    );
    expect(err.message).toContain("'MY_PAIR'");
    expect(err.context.secret).toBe('MY_PAIR');
    expect(err.message).not.toContain(secret);
  });

  // Bearer puts the value into the Authorization header just as the header style does, so a
  // value with a line break (a common result of `echo value > file`) must be refused the same way.
  it.each(['SECRET\r\nX-Evil: 1', 'SECRET\n'])(
    'bearer value %j with a line break is refused like a header value',
    (raw) => {
      const secret = canary('BEARER');
      const value = raw.replace('SECRET', secret);
      const err = catchError(() =>
        applyInjections(request(), [{ style: 'bearer', key: 'K' }], values({ K: value })),
      );
      expect(err.code).toBe('invalid_secret_value');
      expect(err.message).not.toContain(secret);
    },
  );

  // One bit per error is an oracle: what is wrong with a value must not show in the message.
  it('gives one message for every reason a value cannot be injected', () => {
    const messages = [
      ['bearer', 'has\nnewline-0123456789'],
      ['bearer', 'has\u0000nul-0123456789'],
      ['bearer', 'lone \ud800 surrogate-0123456789'],
      ['basic', 'no-colon-0123456789'],
      ['query', 'lone \udc00 surrogate-0123456789'],
    ].map(
      ([style, value]) =>
        catchError(() =>
          applyInjections(
            request(),
            [{ style: style as 'bearer', key: 'K', ...(style === 'query' ? { target: 'q' } : {}) }],
            values({ K: value! }),
          ),
        ).message,
    );
    expect(new Set(messages).size).toBe(1);
  });
});

describe('applyInjections: prototype pollution through a JSON path', () => {
  const PATHS = [
    '__proto__.polluted',
    'constructor.prototype.polluted',
    'a.__proto__.polluted',
    'a.constructor.prototype.polluted',
    'prototype.polluted',
    '__proto__',
    'a.0.__proto__.polluted',
  ];

  it.each(PATHS)('%s is refused and Object.prototype stays clean', (path) => {
    const err = catchError(() =>
      applyInjections(
        request({ body: Buffer.from('{"a":[{}]}') }),
        [{ style: 'body', target: path, key: 'K' }],
        values({ K: 'yes' }),
      ),
    );
    expect(err.code).toBe('bad_request');
    expect(err.message).toMatch(/not an allowed JSON path/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it.each(PATHS)('setJsonPath refuses %s directly', (path) => {
    const root: Record<string, unknown> = { a: [{}] };
    expect(() => setJsonPath(root, path, 'yes')).toThrow(/not an allowed JSON path/);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(root).toEqual({ a: [{}] });
  });

  it('a body that itself carries a __proto__ key cannot be used to reach the prototype', () => {
    const out = applyInjections(
      request({ body: Buffer.from('{"__proto__":{"polluted":"no"},"x":{}}') }),
      [{ style: 'body', target: 'x.toString', key: 'K' }],
      values({ K: 'v' }),
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // The body's own "__proto__" key is data: it is passed through as it was.
    expect(out.body!.toString('utf8')).toBe('{"__proto__":{"polluted":"no"},"x":{"toString":"v"}}');
  });
});

describe('setHeader', () => {
  it.each([
    {
      name: 'appends a new header',
      headers: [['Accept', '*/*']] as [string, string][],
      set: ['X-Api-KEY', 'v'] as const,
      expected: [
        ['Accept', '*/*'],
        ['X-Api-KEY', 'v'],
      ],
    },
    {
      name: 'replaces every same-named header case-insensitively, keeping the new case',
      headers: [
        ['x-api-key', '1'],
        ['Accept', '*/*'],
        ['X-API-KEY', '2'],
      ] as [string, string][],
      set: ['X-Api-Key', 'v'] as const,
      expected: [
        ['Accept', '*/*'],
        ['X-Api-Key', 'v'],
      ],
    },
    {
      name: 'works on an empty list',
      headers: [] as [string, string][],
      set: ['Authorization', 'Bearer x'] as const,
      expected: [['Authorization', 'Bearer x']],
    },
  ])('$name', ({ headers, set, expected }) => {
    const before = JSON.stringify(headers);
    expect(setHeader(headers, set[0], set[1])).toEqual(expected);
    expect(JSON.stringify(headers)).toBe(before);
  });
});

describe('setQueryParam', () => {
  it.each([
    {
      url: 'https://h/p?a=1&b=%2Fx&c',
      name: 'apiKey',
      value: 'v',
      search: '?a=1&b=%2Fx&c&apiKey=v',
    },
    { url: 'https://h/p?a=1#frag', name: 'k', value: 'v', search: '?a=1&k=v', hash: '#frag' },
    { url: 'https://h/p', name: 'a b', value: 'x&y=z', search: '?a%20b=x%26y%3Dz' },
    { url: 'https://h/p?a+b=old&c=1', name: 'a b', value: 'new', search: '?c=1&a%20b=new' },
    { url: 'https://h/p?key=1&Key=2', name: 'key', value: 'n', search: '?Key=2&key=n' },
    { url: 'https://h/p?bad=%E0%A4%A&k=1', name: 'k', value: 'n', search: '?bad=%E0%A4%A&k=n' },
    { url: 'https://h/p?k', name: 'k', value: 'é/€', search: '?k=%C3%A9%2F%E2%82%AC' },
  ])('$url + $name', ({ url, name, value, search, hash }) => {
    const target = new URL(url);
    setQueryParam(target, name, value);
    expect(target.search).toBe(search);
    expect(target.searchParams.get(name)).toBe(value);
    expect(target.hash).toBe(hash ?? '');
    expect(target.pathname).toBe('/p');
  });
});

type Json = Record<string, unknown>;

describe('setJsonPath', () => {
  it.each<{ root: Json; path: string; expected: Json }>([
    { root: {}, path: 'a', expected: { a: 'v' } },
    { root: { a: 1 }, path: 'a', expected: { a: 'v' } },
    { root: { a: { b: 1 } }, path: 'a.c', expected: { a: { b: 1, c: 'v' } } },
    { root: { a: [{ b: 1 }] }, path: 'a.0.b', expected: { a: [{ b: 'v' }] } },
    { root: { a: [[0, 1]] }, path: 'a.0.1', expected: { a: [[0, 'v']] } },
    { root: { 'b-c': {} }, path: 'b-c.d', expected: { 'b-c': { d: 'v' } } },
    { root: { a: undefined }, path: 'a.b', expected: { a: { b: 'v' } } },
    // A null field is treated like a missing one and replaced by an object.
    { root: { a: null }, path: 'a.b', expected: { a: { b: 'v' } } },
    { root: {}, path: 'hasOwnProperty.x', expected: { hasOwnProperty: { x: 'v' } } },
  ])('$path in $root', ({ root, path, expected }) => {
    const copy = structuredClone(root);
    setJsonPath(copy, path, 'v');
    expect(copy).toEqual(expected);
  });

  it.each<{ root: Json; path: string; message: RegExp }>([
    { root: { a: 'str' }, path: 'a.b', message: /holds a string/ },
    { root: { a: [1] }, path: 'a.1', message: /not an index/ },
    { root: { a: [1] }, path: 'a.0.x', message: /holds a number/ },
    { root: {}, path: 'a..b', message: /empty segment/ },
  ])('refuses $path in $root', ({ root, path, message }) => {
    const err = catchError(() => setJsonPath(root, path, 'v'));
    expect(isAgentSecretsError(err, 'bad_request')).toBe(true);
    expect(err.message).toMatch(message);
  });
});
