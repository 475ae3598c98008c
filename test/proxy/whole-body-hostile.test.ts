/**
 * The small-body path (declared Content-Length up to 64 KiB, no coding: read whole, scrubbed in
 * one push) against a reflecting upstream that writes its own wire bytes. Every row runs twice:
 * framed with a Content-Length (the whole-body path) and chunked (the streaming path, the
 * reference). Each row first shows that the upstream's own answer holds the value; the agent's
 * copy then holds none of its encodings, and the audit says redacted when something was.
 */
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentSecretsError } from '../../src/core/errors.js';
import { newestEntries } from '../../src/audit/reader.js';
import {
  createLocalCredentialService,
  type LocalCredentialService,
  type ServiceCallInput,
} from '../../src/proxy/credential-service.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { makeWorkspace, type Workspace } from '../helpers/proxy-fixture.js';

const VALUE = canary('WHOLE');

type Framing = 'length' | 'chunked';
interface Answer {
  head?: string[];
  status?: string;
  parts: Buffer[];
  /** Reset the connection after the parts (a read error mid-body). */
  reset?: boolean;
  /** Declared length differs: the parts are sent after a head declaring this. */
  declare?: number;
}

const utf16 = (s: string, order: 'le' | 'be'): Buffer => {
  const le = Buffer.from(s, 'utf16le');
  return order === 'le' ? le : Buffer.from(le).swap16();
};

const ROWS: Record<string, (v: string) => Answer> = {
  raw: (v) => ({ parts: [Buffer.from(`{"echo":"${v}"}`)] }),
  'split at the value': (v) => ({
    parts: [Buffer.from(`a ${v.slice(0, 9)}`), Buffer.from(`${v.slice(9)} b`)],
  }),
  base64: (v) => ({ parts: [Buffer.from(Buffer.from(v).toString('base64'))] }),
  hex: (v) => ({ parts: [Buffer.from(Buffer.from(v).toString('hex'))] }),
  url: (v) => ({ parts: [Buffer.from(`next=${encodeURIComponent(v)}`)] }),
  'json-escaped': (v) => ({ parts: [Buffer.from(JSON.stringify(`/${v}/`).replace(/\//g, '\\/'))] }),
  'utf-16le charset': (v) => ({
    head: ['Content-Type: text/plain; charset=utf-16le'],
    parts: [utf16(`x ${v} y`, 'le')],
  }),
  'utf-16be charset': (v) => ({
    head: ['Content-Type: text/plain; charset=utf-16be'],
    parts: [utf16(`x ${v} y`, 'be')],
  }),
  'utf-16 BOM, no charset': (v) => ({
    parts: [Buffer.concat([Buffer.from([0xff, 0xfe]), utf16(`x ${v} y`, 'le')])],
  }),
  'value in a header and the body': (v) => ({
    head: [`X-Echo: ${v}`],
    parts: [Buffer.from('{"ok":true}')],
  }),
  'value in a header only': (v) => ({ head: [`X-Echo: ${v}`], parts: [Buffer.from('ok')] }),
  sse: (v) => ({
    head: ['Content-Type: text/event-stream'],
    parts: [Buffer.from(`data: ${v.slice(0, 5)}`), Buffer.from(`${v.slice(5)}\n\n`)],
  }),
  'embedded gzip magic': (v) => ({
    parts: [Buffer.concat([Buffer.from(`${v} `), Buffer.from([0x1f, 0x8b, 0x08, 0, 0])])],
  }),
  'reset mid-body': (v) => ({ parts: [Buffer.from(`${v} and then`)], reset: true, declare: 4000 }),
};

describe('the whole-body path against a reflecting upstream', () => {
  let ws: Workspace;
  let service: LocalCredentialService;
  let port = 0;
  const sockets = new Set<Socket>();
  /** The same answer unframed: its head lines and its body as one piece. */
  let lastPlain = Buffer.alloc(0);

  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let seen = '';
    socket.on('data', (d) => {
      seen += d.toString('latin1');
      const end = seen.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = seen.slice(0, end);
      seen = '';
      const [method, target] = head.split(' ');
      const value = /authorization: Bearer (\S+)/i.exec(head)?.[1] ?? '';
      const url = new URL(target ?? '/', 'http://x');
      const row = ROWS[url.searchParams.get('row') ?? 'raw']!(value);
      const framing = url.searchParams.get('framing') as Framing;
      const status = url.searchParams.get('status') ?? '200 OK';
      const body = Buffer.concat(row.parts);
      const lines = [`HTTP/1.1 ${status}`, ...(row.head ?? [])];
      const noContent = status.startsWith('204') || status.startsWith('304');
      const bodyless = method === 'HEAD' || noContent;
      // (undici refuses a 204 or 304 that declares a length other than 0, before and after.)
      if (framing === 'length')
        lines.push(`Content-Length: ${noContent ? 0 : (row.declare ?? body.length)}`);
      else lines.push('Transfer-Encoding: chunked');
      const wire: Buffer[] = [Buffer.from(`${lines.join('\r\n')}\r\n\r\n`)];
      if (!bodyless) {
        for (const part of row.parts) {
          wire.push(
            framing === 'length'
              ? part
              : Buffer.concat([
                  Buffer.from(`${part.length.toString(16)}\r\n`),
                  part,
                  Buffer.from('\r\n'),
                ]),
          );
        }
        if (framing === 'chunked' && row.reset !== true) wire.push(Buffer.from('0\r\n\r\n'));
      }
      lastPlain = Buffer.concat([Buffer.from(lines.join('\r\n')), body]);
      void (async () => {
        for (const [i, piece] of wire.entries()) {
          if (i > 1) await new Promise((r) => setTimeout(r, 10));
          socket.write(piece);
        }
        if (row.reset === true) setTimeout(() => socket.destroy(), 10);
      })();
    });
  });

  beforeAll(async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
    ws = await makeWorkspace({
      secrets: { API_KEY: VALUE },
      allowlist: [`127.0.0.1:${port}`],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    service = await createLocalCredentialService({
      config: ws.services.config,
      workspaces: ws.services.workspaces,
      vault: ws.services.vault,
      unlock: () => ws.services.vault.unlock(),
    });
  });

  afterAll(async () => {
    await service.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const call = (query: string, method = 'GET'): ServiceCallInput => ({
    url: `http://127.0.0.1:${port}/?${query}`,
    method,
    headers: [],
    body: undefined,
    injections: [{ style: 'bearer', key: 'API_KEY' }],
    target: ws.target,
    identity: { source: 'cli' },
  });

  async function run(query: string, method = 'GET') {
    const result = await service.call(call(query, method)).then(
      (r) => ({ ok: true as const, r }),
      (err: unknown) => ({ ok: false as const, code: (err as AgentSecretsError).code }),
    );
    const sent = lastPlain;
    const [entry] = await newestEntries(ws.services.config.paths.auditDir, 1);
    return { result, sent, entry: entry! };
  }

  const seen = (r: { ok: true; r: { headers: [string, string][]; body: Buffer } }) =>
    Buffer.concat([Buffer.from(JSON.stringify(r.r.headers)), r.r.body]);

  it.each(Object.keys(ROWS))('%s: no form of the value reaches the agent', async (row) => {
    const outcomes: Record<string, unknown> = {};
    for (const framing of ['length', 'chunked'] as const) {
      const { result, sent, entry } = await run(
        `row=${encodeURIComponent(row)}&framing=${framing}`,
      );
      // The attack: the upstream's own answer carries the value (in some form).
      const raw = sent.toString('latin1');
      expect(
        findLeaks(sent, VALUE).length > 0 ||
          raw.includes(VALUE.slice(0, 9)) ||
          sent.includes(Buffer.from(VALUE, 'utf16le')) ||
          sent.includes(Buffer.from(Buffer.from(VALUE, 'utf16le')).swap16()),
      ).toBe(true);
      if (result.ok) {
        const agent = seen(result);
        expect(findLeaks(agent, VALUE)).toEqual([]);
        expect(agent.includes(Buffer.from(VALUE, 'utf16le'))).toBe(false);
        expect(agent.includes(Buffer.from(Buffer.from(VALUE, 'utf16le')).swap16())).toBe(false);
        expect(result.r.redacted).toBe(true);
        expect(entry.redacted).toBe(true);
        outcomes[framing] = { status: result.r.status, body: result.r.body.toString('latin1') };
      } else {
        expect(entry.status).toBe('ERROR');
        outcomes[framing] = result.code;
      }
      expect(JSON.stringify(entry)).not.toContain(VALUE);
    }
    // The whole-body path answers as the streaming path does.
    expect(outcomes.length).toEqual(outcomes.chunked);
  });

  it.each([
    ['HEAD', '200 OK'],
    ['GET', '204 No Content'],
    ['GET', '304 Not Modified'],
  ])('%s with %s and a value in a header: scrubbed, redacted', async (method, status) => {
    const { result, sent, entry } = await run(
      `row=${encodeURIComponent('value in a header only')}&framing=length&status=${encodeURIComponent(status)}`,
      method,
    );
    expect(sent.toString('latin1')).toContain(VALUE);
    expect(result).toMatchObject({ ok: true });
    if (!result.ok) return;
    expect(findLeaks(seen(result), VALUE)).toEqual([]);
    expect(result.r.body.length).toBe(0);
    expect(entry.redacted).toBe(true);
  });
});
