import { request } from 'node:http';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { type AgentSecrets, AgentSecretsCallError } from '../../src/index.js';
import { runCli } from './cli.js';

/**
 * The faces an agent sees a response through, for the hostile-upstream suite: the proxy's raw
 * HTTP response, the SDK, the MCP `call` tool and `agentsecrets call` (text and json). Each
 * turns one request, named by key only, into what the agent could read.
 */

/** What an agent asks for, by key name only. */
export interface Ask {
  /** `{face}` is replaced by the face's name (a slot of its own). */
  path: string;
  method?: string;
  body?: string;
  bearer?: string;
  basic?: string;
  header?: Record<string, string>;
  query?: Record<string, string>;
  bodyField?: Record<string, string>;
  /** Ordinary headers (not secrets). */
  pass?: Record<string, string>;
}

/** What one face showed the agent. */
export interface Seen {
  status: number;
  code: string | null;
  body: Buffer;
  /** Whether the face says something was replaced (null: it cannot say). */
  marked: boolean | null;
  /** Everything the agent could read: headers, body, messages. */
  all: Buffer;
}

/** What the faces talk to; read when a face runs (the suite starts them in beforeAll). */
export interface FaceContext {
  hostileUrl: string;
  proxyPort: number;
  proxyToken: string;
  sdk: AgentSecrets;
  mcp: Client;
  home: string;
  env: Record<string, string>;
}

/** The faces, over a context that is read on each call. */
export function createFaces(c: () => FaceContext) {
  const url = (ask: Ask, face: string): string =>
    `${c().hostileUrl}${ask.path.replace('{face}', face)}`;

  function viaProxy(ask: Ask, face = 'proxy'): Promise<Seen> {
    const headers: Record<string, string> = {
      'X-AS-Session-Token': c().proxyToken,
      'X-AS-Target-URL': url(ask, face),
      ...(ask.pass ?? {}),
    };
    if (ask.body !== undefined) headers['Content-Type'] = 'application/json';
    if (ask.bearer !== undefined) headers['X-AS-Inject-Bearer'] = ask.bearer;
    if (ask.basic !== undefined) headers['X-AS-Inject-Basic'] = ask.basic;
    for (const [prefix, map] of [
      ['X-AS-Inject-Header-', ask.header],
      ['X-AS-Inject-Query-', ask.query],
      ['X-AS-Inject-Body-', ask.bodyField],
    ] as const) {
      for (const [name, key] of Object.entries(map ?? {})) headers[`${prefix}${name}`] = key;
    }
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: c().proxyPort,
          path: '/proxy',
          method: ask.method ?? 'GET',
          headers,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          const finish = () => {
            const body = Buffer.concat(chunks);
            const code = res.headers['x-as-error'];
            resolve({
              status: res.statusCode!,
              code: typeof code === 'string' ? code : null,
              body,
              marked: res.headers['x-as-redacted'] === 'true',
              all: Buffer.concat([rawHeaderBytes(res.rawHeaders), body]),
            });
          };
          res.on('end', finish);
          // A body cut off mid-way is what the agent got: judge that.
          res.on('error', finish);
          res.on('aborted', finish);
        },
      );
      req.on('error', reject);
      req.end(ask.body);
    });
  }

  async function viaSdk(ask: Ask): Promise<Seen> {
    try {
      const response = await c().sdk.call({
        url: url(ask, 'sdk'),
        method: ask.method,
        ...(ask.body === undefined
          ? {}
          : { body: ask.body, headers: { ...ask.pass, 'Content-Type': 'application/json' } }),
        ...(ask.body === undefined && ask.pass !== undefined ? { headers: ask.pass } : {}),
        ...(ask.bearer === undefined ? {} : { bearer: ask.bearer }),
        ...(ask.basic === undefined ? {} : { basic: ask.basic }),
        ...(ask.header === undefined ? {} : { header: ask.header }),
        ...(ask.query === undefined ? {} : { query: ask.query }),
        ...(ask.bodyField === undefined ? {} : { bodyField: ask.bodyField }),
      });
      return {
        status: response.status,
        code: null,
        body: response.body,
        marked: response.redacted,
        all: Buffer.concat([Buffer.from(JSON.stringify(response.headers)), response.body]),
      };
    } catch (err) {
      if (!(err instanceof AgentSecretsCallError)) throw err;
      const text = JSON.stringify({ ...err, message: err.message });
      return {
        status: err.status,
        code: err.code,
        body: Buffer.alloc(0),
        marked: false,
        all: Buffer.from(text),
      };
    }
  }

  async function viaMcp(ask: Ask): Promise<Seen> {
    const result = (await c().mcp.callTool({
      name: 'call',
      arguments: {
        url: url(ask, 'mcp'),
        ...(ask.method === undefined ? {} : { method: ask.method }),
        ...(ask.body === undefined ? {} : { body: ask.body }),
        ...(ask.pass === undefined ? {} : { headers: ask.pass }),
        ...(ask.bearer === undefined ? {} : { bearer: ask.bearer }),
        ...(ask.basic === undefined ? {} : { basic: ask.basic }),
        ...(ask.header === undefined ? {} : { header: ask.header }),
        ...(ask.query === undefined ? {} : { query: ask.query }),
        ...(ask.bodyField === undefined ? {} : { body_field: ask.bodyField }),
      },
    })) as {
      isError?: boolean;
      content: { type: string; text?: string }[];
      structuredContent?: {
        status: number;
        body: string;
        body_encoding: string;
        redacted: boolean;
      };
    };
    const all = Buffer.from(JSON.stringify(result));
    if (result.isError === true) {
      const text = result.content.map((c) => c.text ?? '').join('\n');
      const code = /\b([a-z]+(?:_[a-z]+)+)\b/.exec(text)?.[1] ?? null;
      return { status: 0, code, body: Buffer.alloc(0), marked: false, all };
    }
    const s = result.structuredContent!;
    const body = Buffer.from(s.body, s.body_encoding === 'base64' ? 'base64' : 'utf8');
    return { status: s.status, code: null, body, marked: s.redacted, all };
  }

  async function viaCli(ask: Ask, output: 'text' | 'json'): Promise<Seen> {
    const face = `cli-${output}`;
    const args = ['call', '--url', url(ask, face), '--output', output];
    if (ask.method !== undefined) args.push('--method', ask.method);
    if (ask.body !== undefined) args.push('--body', ask.body);
    if (ask.bearer !== undefined) args.push('--bearer', ask.bearer);
    if (ask.basic !== undefined) args.push('--basic', ask.basic);
    for (const [n, k] of Object.entries(ask.header ?? {})) args.push('--header', `${n}=${k}`);
    for (const [n, k] of Object.entries(ask.query ?? {})) args.push('--query', `${n}=${k}`);
    for (const [n, k] of Object.entries(ask.bodyField ?? {}))
      args.push('--body-field', `${n}=${k}`);
    for (const [n, v] of Object.entries(ask.pass ?? {})) args.push('--pass-header', `${n}: ${v}`);
    const result = await runCli(args, { home: c().home, env: c().env });
    const all = Buffer.from(result.stdout + result.stderr);
    if (output === 'json') {
      const envelope = JSON.parse(result.stdout) as {
        status: number;
        body: string;
        body_encoding?: string;
        redacted: boolean;
        error: string | null;
      };
      const body = Buffer.from(
        envelope.body,
        envelope.body_encoding === 'base64' ? 'base64' : 'utf8',
      );
      return {
        status: envelope.status,
        code: envelope.error,
        body,
        marked: envelope.redacted,
        all,
      };
    }
    const status = Number(/^HTTP (\d+)/.exec(result.stdout)?.[1] ?? 0);
    const code = /\[([a-z_]+)\]\s*$/.exec(result.stderr)?.[1] ?? null;
    const body = Buffer.from(result.stdout.replace(/^HTTP \d+\n\n/, '').replace(/\n$/, ''));
    // Text output shows no headers: a scrub there leaves no mark to see.
    return { status, code, body, marked: null, all };
  }

  return { url, viaProxy, viaSdk, viaMcp, viaCli };
}

/** Response headers as the bytes they came in. */
export function rawHeaderBytes(raw: string[]): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}
