import { randomInt } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileScrubber, PLACEHOLDER } from '../../src/core/scrub/scrubber.js';
import { AgentSecrets } from '../../src/index.js';
import { canary, scanTree } from '../helpers/canary.js';
import { baseEnv, CLI, runCli, runCliInPty } from '../helpers/cli.js';
import {
  FORMS,
  type HostileUpstream,
  hostileCanary,
  type Served,
  startHostileUpstream,
  zipArchive,
} from '../helpers/hostile-upstream.js';
import { type Ask, createFaces, rawHeaderBytes, type Seen } from '../helpers/hostile-faces.js';
import { recover } from '../helpers/leak-decoder.js';
import { type Daemon, startDaemon } from '../helpers/process.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Issue 10: an allowlisted API that stores what it receives and serves it back in many forms.
 * One row per reflection; each row first shows the canary is recoverable from the upstream's
 * own answer (the undefended path), then that no run of it reaches the agent through any face:
 * the proxy's raw HTTP response, the SDK, the MCP `call` tool (real SDK client over stdio),
 * `agentsecrets call` (text and --output json, a representative subset: rows with `cli`) and
 * `agentsecrets env` (text-encoding rows: a child fetches and prints them into a pipe).
 */

const PASSPHRASE = 'hostile-upstream-passphrase';
/** Stored with a body field, then read back with another key or none. Every run encoded. */
const A = hostileCanary('Ha');
/** Injected while reading A back. */
const B = canary('HB');
/** Bearer-only: the upstream keeps its request log. */
const C = canary('HC');
/** Sent as a query parameter: the upstream logs its URLs. */
const D = canary('HD');
/** A Basic user:password pair: the upstream logs the header and decodes it. */
const PAIR = `svc_${canary('U').slice(2, 10)}:${canary('HP')}`;
/** A pair whose password alone is short (10 bytes): it is scrubbed on its own all the same. */
const SHORT_PASSWORD = canary('W').slice(2, 12);
const SPAIR = `svc_${canary('V').slice(2, 10)}:${SHORT_PASSWORD}`;
/** Non-ASCII, beyond Latin-1. */
const UNI = `ключ-${canary('U').slice(2, 14)}-€ü`;
/** Non-ASCII within Latin-1 (has a Latin-1 byte form). */
const LAT = `clé-${canary('L').slice(2, 14)}-ñøÿ`;
/** A public prefix shared with benign text. */
const SK = `sk_live_${canary('S').slice(2)}`;
/** A value with a line break: it cannot go in a header, and saying so would leak one bit. */
const NL = `${canary('HN')}\n${canary('HM')}`;
/** A four-digit PIN: guessable, refused at injection. */
const PIN = String(randomInt(1000, 10000));
const SECRETS: Record<string, string> = { A, B, C, D, PAIR, SPAIR, UNI, LAT, SK, NL, PIN };
const ALL = [A, B, C, D, PAIR, SPAIR, UNI, LAT, SK, NL];

type Expect =
  | { kind: 'scrubbed' }
  | { kind: 'safe' }
  | { kind: 'withheld'; codes: string[] }
  | { kind: 'refused'; codes: string[] }
  | { kind: 'identical'; body: Buffer };

interface Row {
  name: string;
  ask: Ask;
  expect: Expect;
  /** The canaries this row is about (the leak scan looks for all of ALL anyway). */
  canaries: string[];
  /** Also through the spawned `agentsecrets call` (text and json). */
  cli?: boolean;
  /** Also through `agentsecrets env` (a child fetches the path and prints it). */
  env?: boolean;
  /** How to send the same request straight to the upstream, values filled in by hand. */
  direct?: { headers: Record<string, string> };
  /** The upstream's raw body (withheld rows: not one byte of it may arrive). */
  served?: Buffer;
  /** Replaces the direct request as the proof that the attack works undefended. */
  proof?: () => Promise<void>;
  /** A leak reported to the lead and not fixed yet: the face tests are `it.fails`. */
  knownLeak?: string;
  /** Extra checks after a face ran (e.g. what the upstream received). */
  after?: (face: string) => void;
}

const scrubbed: Expect = { kind: 'scrubbed' };
/** Either scrubbed or withheld; what matters is that nothing leaks. */
const safe: Expect = { kind: 'safe' };
const withheld = (...codes: string[]): Expect => ({ kind: 'withheld', codes });
const WITHHELD = ['response_withheld', 'undecodable_response'];

const TEXT_FORMS = Object.keys(FORMS).filter(
  (f) => !/gzip|zlib|zip|zstd|latin1|mojibake|utf16.*no-bom|response-header/.test(f) && f !== 'raw',
);
/** Leaks reported to the lead, by form; their face tests are `it.fails` until fixed. */
/** Leaks found and not fixed yet (their face tests are it.fails); none now. */
const KNOWN_LEAKS: Record<string, string> = {};
const CLI_FORMS = new Set([
  'go-html-template',
  'quoted-printable',
  'base64-wrap-76',
  'json-every-char-unicode',
  'utf16le-bom',
  'gzip-undeclared',
  'application-gzip',
  'zip-deflated',
  'zstd-declared',
  'transfer-encoding-gzip',
]);

const ROWS: Row[] = [
  {
    name: 'store-then-read with another key (bearer B while reading A)',
    ask: { path: '/read/a/raw', bearer: 'B' },
    expect: scrubbed,
    canaries: [A, B],
    cli: true,
    env: true,
  },
  {
    // Through agentsecrets a call must inject something: the read without a key is refused
    // before any upstream contact (the agent could only read it by calling the API directly,
    // without any secret of ours involved).
    name: 'store-then-read with no injection is refused (nothing to inject)',
    ask: { path: '/read/a/raw' },
    expect: { kind: 'refused', codes: ['bad_request', 'usage_error'] },
    canaries: [A],
    cli: true,
    env: true,
  },
  {
    name: 'Range from the agent is refused (header_not_allowed)',
    ask: { path: '/read/a/raw', bearer: 'B', pass: { Range: 'bytes=0-23' } },
    expect: { kind: 'refused', codes: ['header_not_allowed'] },
    canaries: [A],
    cli: true,
    direct: { headers: { Range: 'bytes=0-23' } },
  },
  {
    name: 'If-Range from the agent is refused (header_not_allowed)',
    ask: { path: '/read/a/raw', bearer: 'B', pass: { 'If-Range': '"x"', Range: 'bytes=24-60' } },
    expect: { kind: 'refused', codes: ['header_not_allowed'] },
    canaries: [A],
    direct: { headers: { Range: 'bytes=24-60' } },
  },
  ...[0, 1].map((n): Row => ({
    name: `half ${n} of the stored value, no Range involved (a partial run)`,
    ask: { path: `/half/a/${n}`, bearer: 'B' },
    expect: scrubbed,
    canaries: [A],
    cli: n === 0,
    env: true,
  })),
  ...(
    [
      ['percent-mixed-case', 0],
      ['json-every-char-unicode', 1],
      ['base64-wrap-64', 0],
      ['html-hex', 1],
    ] as const
  ).map(([form, n]): Row => ({
    name: `half ${n} of the stored value as ${form} (a partial run, encoded)`,
    ask: { path: `/half/a/${n}/${form}`, bearer: 'B' },
    expect: scrubbed,
    canaries: [A],
    env: true,
  })),
  {
    name: 'request-log replay of an earlier query-string call (URL logged)',
    ask: { path: '/headers/d', bearer: 'B' },
    expect: scrubbed,
    canaries: [D],
    env: true,
  },
  {
    name: 'request-log replay of an earlier Basic call (header logged)',
    ask: { path: '/headers/p', bearer: 'B' },
    expect: scrubbed,
    canaries: [PAIR],
    env: true,
  },
  {
    name: 'the password of an earlier Basic call, decoded and served alone',
    ask: { path: '/password/p', bearer: 'B' },
    expect: scrubbed,
    canaries: [PAIR.slice(PAIR.indexOf(':') + 1)],
    cli: true,
    env: true,
  },
  {
    name: 'request-log replay of an earlier bearer-only call',
    ask: { path: '/headers/c', bearer: 'B' },
    expect: scrubbed,
    canaries: [C],
    cli: true,
    env: true,
  },
  ...Object.keys(FORMS)
    .filter((f) => !/latin1|mojibake|no-bom|response-header/.test(f))
    .map((form): Row => ({
      name: `encoding: ${form}`,
      ask: { path: `/read/a/${form}`, bearer: 'B' },
      expect: /zstd/.test(form)
        ? withheld('undecodable_response')
        : /gzip-twice|undeclared|application-gzip|^zip/.test(form)
          ? withheld(...WITHHELD)
          : /deflate-raw|second-member-declared/.test(form)
            ? safe
            : scrubbed,
      canaries: [A, B],
      served: FORMS[form]!(A).body,
      ...(KNOWN_LEAKS[form] === undefined ? {} : { knownLeak: KNOWN_LEAKS[form] }),
      cli: CLI_FORMS.has(form),
      // A reported leak is not run through env: its section could straddle two pipe reads.
      env: TEXT_FORMS.includes(form) && KNOWN_LEAKS[form] === undefined,
    })),
  // Non-ASCII values, request direction: the upstream must receive the UTF-8 bytes.
  ...(
    [
      ['header', { header: { 'X-V': 'UNI' } }],
      ['bearer', { bearer: 'UNI' }],
      ['query', { query: { v: 'UNI' } }],
      ['body field', { bodyField: { v: 'UNI' }, method: 'POST', body: '{}' }],
    ] as const
  ).map(([style, ask]): Row => ({
    name: `non-ASCII value injected as ${style}: UTF-8 bytes on the wire`,
    ask: { path: `/store/uni-${style.replace(' ', '')}-{face}`, ...ask },
    expect: { kind: 'identical', body: Buffer.from('{"stored":true}') },
    canaries: [UNI],
    cli: style === 'header',
    after: (face) =>
      expect(hostile.store.get(`uni-${style.replace(' ', '')}-${face}`)?.value).toBe(UNI),
    proof: async () => {
      // Undefended: fetch (undici) sends a header string as Latin-1 bytes, so the API sees
      // another value; beyond Latin-1 it refuses to send at all.
      const slot = `naive-${style.replace(' ', '')}`;
      await fetch(`${hostile.url}/store/${slot}`, { headers: { 'X-V': LAT } });
      expect(hostile.store.get(slot)?.value).not.toBe(LAT);
      await expect(
        fetch(`${hostile.url}/store/naive`, { headers: { 'X-V': UNI } }),
      ).rejects.toThrow();
    },
  })),
  // Non-ASCII values, response direction: byte echoes of this request and stored forms.
  ...(
    [
      ['UNI', 'raw'],
      ['UNI', 'response-header-utf8-bytes'],
      ['UNI', 'mojibake-utf8'],
      ['UNI', 'utf16le-no-bom'],
      ['UNI', 'utf16be-no-bom'],
      ['UNI', 'utf16le-bom'],
      ['LAT', 'latin1-bytes'],
      ['LAT', 'response-header-utf8-bytes'],
      ['LAT', 'utf16be-charset'],
    ] as const
  ).flatMap(([key, form]): Row[] => [
    {
      name: `non-ASCII ${key} reflected from this request: ${form}`,
      ask: { path: `/reflect/${form}`, header: { 'X-Api-Key': key } },
      expect: scrubbed,
      canaries: [SECRETS[key]!],
      cli: form === 'response-header-utf8-bytes' && key === 'UNI',
      direct: {
        headers: { 'X-Api-Key': Buffer.from(SECRETS[key]!, 'utf8').toString('latin1') },
      },
    },
    {
      name: `non-ASCII ${key} stored, read back with another key: ${form}`,
      ask: { path: `/read/${key.toLowerCase()}/${form}`, bearer: 'B' },
      expect: scrubbed,
      canaries: [SECRETS[key]!],
      env: !/header|no-bom|latin1/.test(form),
    },
  ]),
  {
    name: 'PIN oracle: a four-digit value is refused at injection',
    ask: { path: '/store/pin-{face}', bearer: 'PIN' },
    expect: { kind: 'refused', codes: ['invalid_secret_value'] },
    canaries: [],
    cli: true,
    after: (face) => expect(hostile.store.has(`pin-${face}`)).toBe(false),
    proof: async () => {
      // Undefended, a scrubber holding the short value singles the PIN out of all 10,000: its
      // line is marked, and at most 8 others are (lines whose digits, read across a line
      // break as hex, spell the PIN: "3132\n3334" decodes to "1234").
      const marked = compileScrubber([PIN]).redact(pinList()).output.toString();
      const survivors = new Set(marked.split('\n'));
      expect(survivors.has(PIN)).toBe(false);
      expect(survivors.has(PLACEHOLDER)).toBe(true);
      expect(survivors.size).toBeGreaterThanOrEqual(10000 - 8);
    },
  },
  {
    // An API that decodes Basic can serve the password alone: a short one is held to the
    // same rule as any short value.
    name: 'a Basic pair with a short password (10 bytes) is refused at injection',
    ask: { path: '/store/sp-{face}', basic: 'SPAIR' },
    expect: { kind: 'refused', codes: ['invalid_secret_value'] },
    canaries: [SHORT_PASSWORD],
    cli: true,
    after: (face) => expect(hostile.store.has(`sp-${face}`)).toBe(false),
    proof: async () => {
      const basic = `Basic ${Buffer.from(SPAIR).toString('base64')}`;
      await fetch(`${hostile.url}/store/sp-direct`, { headers: { Authorization: basic } });
      const served = await (await fetch(`${hostile.url}/password/sp-direct`)).text();
      expect(recover(served, SHORT_PASSWORD)).not.toEqual([]);
    },
  },
  ...(
    [
      ['Basic with a value that has no colon', { basic: 'B' }, () => !B.includes(':')],
      ['a header value holding a line break', { header: { 'X-V': 'NL' } }, () => NL.includes('\n')],
    ] as const
  ).map(([what, ask, property]): Row => ({
    name: `one-bit oracle: ${what} is refused with the generic message`,
    ask: { path: '/store/bit-{face}', ...ask },
    expect: { kind: 'refused', codes: ['invalid_secret_value'] },
    canaries: [],
    cli: true,
    after: (face) => expect(hostile.store.has(`bit-${face}`)).toBe(false),
    // The bit a specific message would give away is real.
    proof: () => Promise.resolve(void expect(property()).toBe(true)),
  })),
];

let hostile: HostileUpstream;

describe('a hostile upstream that stores and reflects (issue 10)', () => {
  let home: string;
  let env: Record<string, string>;
  let proxy: Daemon<{ port: number; token: string }>;
  let mcp: Client;
  let sdk: AgentSecrets;
  const benign = benignResponses();
  const outputs: Buffer[] = [];

  beforeAll(async () => {
    hostile = await startHostileUpstream(Object.fromEntries(benign.map((b) => [b.name, b.served])));
    home = join(await tempDir(), 'state');
    env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE, AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' };
    const init = await runCli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'], {
      home,
      env,
    });
    expect(init.code, init.stderr).toBe(0);
    for (const [key, value] of Object.entries(SECRETS)) {
      const set = await runCli(['secrets', 'set', key], { home, env, input: value });
      expect(set.code, set.stderr).toBe(0);
    }
    const add = await runCliInPty(
      ['workspace', 'allowlist', 'add', `127.0.0.1:${hostile.port}`, '--yes'],
      { home, env },
    );
    expect(add.code, add.stdout).toBe(0);
    proxy = await startDaemon(['proxy', 'start', '--port', '0'], { home, env }, async () => {
      const state = await readFile(join(home, 'proxy.json'), 'utf8').catch(() => undefined);
      if (state === undefined) return undefined;
      const parsed = JSON.parse(state) as { port: number; session_token: string };
      return { port: parsed.port, token: parsed.session_token };
    });
    sdk = new AgentSecrets({ home });
    mcp = new Client({ name: 'hostile-test', version: '1.0.0' });
    await mcp.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [CLI, 'mcp', 'serve'],
        env: baseEnv(home, env) as Record<string, string>,
        stderr: 'pipe',
      }),
    );
    // The attacker's setup calls: A goes in as a body field, C as a bearer (request log),
    // the non-ASCII values as body fields.
    for (const [slot, key] of [
      ['a', 'A'],
      ['uni', 'UNI'],
      ['lat', 'LAT'],
    ]) {
      const stored = await viaProxy({
        path: `/store/${slot}`,
        method: 'POST',
        body: '{}',
        bodyField: { v: key! },
      });
      expect(stored.status).toBe(200);
    }
    expect((await viaProxy({ path: '/store/c', bearer: 'C' })).status).toBe(200);
    expect((await viaProxy({ path: '/store/d', query: { v: 'D' } })).status).toBe(200);
    expect((await viaProxy({ path: '/store/p', basic: 'PAIR' })).status).toBe(200);
    expect(hostile.store.get('a')?.value).toBe(A);
    expect(hostile.store.get('uni')?.value).toBe(UNI);
    expect(hostile.store.get('lat')?.value).toBe(LAT);
    expect(hostile.store.get('c')?.value).toBe(C);
    expect(hostile.store.get('d')?.value).toBe(D);
    expect(hostile.store.get('p')?.rawHeaders).toContain(
      `Basic ${Buffer.from(PAIR).toString('base64')}`,
    );
  }, 60_000);

  afterAll(async () => {
    sdk?.close();
    await mcp?.close();
    await proxy?.stop();
    await hostile?.close();
  });

  const { url, viaProxy, viaSdk, viaMcp, viaCli } = createFaces(() => ({
    hostileUrl: hostile.url,
    proxyPort: proxy.ready.port,
    proxyToken: proxy.ready.token,
    sdk,
    mcp,
    home,
    env,
  }));

  /** The same request straight to the upstream, with the values filled in by hand. */
  function direct(row: Row): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const target = new URL(url(row.ask, 'direct'));
      const req = request(
        {
          host: '127.0.0.1',
          port: hostile.port,
          path: target.pathname,
          headers: row.direct?.headers ?? {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat([rawHeaderBytes(res.rawHeaders), ...chunks])));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  function judge(row: Row, face: string, seen: Seen): void {
    outputs.push(seen.all);
    const leaks = recover(seen.all, [...ALL, ...row.canaries]);
    expect(leaks, `${face}: ${row.name}`).toEqual([]);
    const e = row.expect;
    if (e.kind === 'scrubbed') {
      expect(seen.status, `${face}: ${seen.all.toString().slice(0, 300)}`).toBe(200);
      if (seen.marked !== null) expect(seen.marked, `${face} marks it redacted`).toBe(true);
    } else if (e.kind === 'safe') {
      if (seen.code === null) expect(seen.status, face).toBe(200);
      else expect(WITHHELD, face).toContain(seen.code);
    } else if (e.kind === 'withheld') {
      expect(e.codes, `${face}: ${seen.all.toString().slice(0, 300)}`).toContain(seen.code);
      if (row.served !== undefined) {
        expect(seen.all.includes(row.served.subarray(0, 12)), 'no byte of the body').toBe(false);
      }
    } else if (e.kind === 'refused') {
      expect(e.codes, `${face}: ${seen.all.toString().slice(0, 300)}`).toContain(seen.code);
      // The refusal names the key and never describes the value.
      const words = seen.all.toString('utf8');
      expect(words).not.toMatch(
        /\bshort|digit|\d+ (bytes|characters)|colon|non-ascii|latin|line break|newline|\b(CR|LF|NUL)\b|U\+/i,
      );
      if (e.codes.includes('invalid_secret_value')) {
        expect(words).toMatch(
          /secret '(PIN|B|NL|SPAIR)' cannot be injected this way as it is stored/,
        );
        expect(words).not.toMatch(new RegExp(`\\b${PIN}\\b`));
      }
    } else {
      expect(seen.status, face).toBe(200);
      expect(seen.body.equals(e.body), `${face}: ${seen.body.toString().slice(0, 200)}`).toBe(true);
    }
    row.after?.(face);
  }

  describe.each(ROWS)('$name', (row) => {
    it('the attack works on the undefended path', async () => {
      if (row.proof !== undefined) return row.proof();
      const raw = await direct(row);
      const canaries = row.canaries.filter((c) => c !== B);
      expect(recover(raw, canaries), raw.toString('latin1').slice(0, 300)).not.toEqual([]);
    });

    (row.knownLeak === undefined ? it : it.fails)(
      'proxy (spawned, raw HTTP response with X-AS-* headers)',
      async () => {
        judge(row, 'proxy', await viaProxy(row.ask));
      },
    );
    (row.knownLeak === undefined ? it : it.fails)('SDK', async () => {
      judge(row, 'sdk', await viaSdk(row.ask));
    });
    (row.knownLeak === undefined ? it : it.fails)(
      'MCP call tool (stdio, real SDK client)',
      async () => {
        judge(row, 'mcp', await viaMcp(row.ask));
      },
    );
    // The spawned CLI runs for a chosen subset of rows (CLI_FORMS); the other faces cover all.
    if (row.cli === true) {
      it('agentsecrets call (text and --output json)', async () => {
        // Both spawns at once: each face has its own upstream slot.
        const [text, json] = await Promise.all([viaCli(row.ask, 'text'), viaCli(row.ask, 'json')]);
        judge(row, 'cli-text', text);
        judge(row, 'cli-json', json);
      });
    }
  });

  describe('agentsecrets env: a child fetches the reflections and prints them into a pipe', () => {
    const envRows = ROWS.filter((r) => r.env === true);
    const runs = new Map<string, Map<string, Buffer>>();

    /** One `env` run: the child prints every env row's response, each under a marker line. */
    async function runEnv(extra: string[]): Promise<Map<string, Buffer>> {
      const script = join(await tempDir(), 'child.mjs');
      await writeFile(
        script,
        `for (const [name, url] of JSON.parse(process.argv[2])) {
           const body = Buffer.from(await (await fetch(url)).arrayBuffer());
           // More padding than one pipe read: no scan sees two rows' bodies together.
           process.stdout.write(' '.repeat(70000) + '\\n@@ROW ' + name + '@@\\n');
           process.stdout.write(body);
         }
         process.stdout.write(' '.repeat(70000) + '\\n@@END@@\\n');`,
      );
      const list = envRows.map((r) => [r.name, url(r.ask, 'env')]);
      const result = await runCli(
        ['env', ...extra, '--', process.execPath, script, JSON.stringify(list)],
        { home, env },
      );
      expect(result.code, result.stderr).toBe(0);
      outputs.push(Buffer.from(result.stderr));
      const text = Buffer.from(result.stdout).toString('latin1');
      expect(text).toContain('@@END@@');
      const sections = new Map<string, Buffer>();
      const parts = text.split(/\n@@ROW (.*?)@@\n/);
      for (let i = 1; i < parts.length; i += 2)
        sections.set(parts[i]!, Buffer.from(parts[i + 1]!.replace(/ +$/, ''), 'latin1'));
      expect([...sections.keys()]).toEqual(envRows.map((r) => r.name));
      return sections;
    }

    beforeAll(async () => {
      runs.set('default', await runEnv([]));
      runs.set('only-B', await runEnv(['--only', 'B']));
    }, 60_000);

    describe.each(envRows)('$name', (row) => {
      (row.knownLeak !== undefined ? it.fails : it)('all keys injected (the default)', () => {
        const seen = runs.get('default')!.get(row.name)!;
        outputs.push(seen);
        expect(recover(seen, [...ALL, ...row.canaries])).toEqual([]);
      });
    });

    // A value in scope but not released to the child (--only) can come back from an API
    // that stored it: masking covers every value in scope, not only the child's.
    it('--only B: the stored A read back by the child is masked too', () => {
      const leaking = envRows
        .filter((r) => r.knownLeak === undefined)
        .map(
          (r) =>
            [r.name, recover(runs.get('only-B')!.get(r.name)!, [...ALL, ...r.canaries])] as const,
        )
        .filter(([, hits]) => hits.length > 0);
      expect(Object.fromEntries(leaking)).toEqual({});
    });
  });
  describe('benign responses with near-misses come back byte-identical through the proxy', () => {
    it.each(benign.map((b) => [b.name, b] as const))('%s', async (_name, b) => {
      expect(b.served.body.length).toBeGreaterThan(0);
      const ask = { path: `/static/${b.name}`, bearer: 'B' };
      for (const [face, seen] of [
        ['proxy', await viaProxy(ask)],
        ['sdk', await viaSdk(ask)],
        ['mcp', await viaMcp(ask)],
      ] as const) {
        outputs.push(seen.all);
        expect(seen.status, face).toBe(200);
        expect(
          seen.body.equals(b.expected),
          `${face}: ${seen.body.toString('latin1').slice(0, 200)}`,
        ).toBe(true);
        expect(seen.marked, face).toBe(false);
      }
    });
  });

  it('the state folder and every output hold no form of any canary', async () => {
    for (const value of ALL) expect(await scanTree(home, value)).toEqual([]);
    const everything = Buffer.concat(outputs);
    expect(everything.length).toBeGreaterThan(0);
    for (const value of ALL) expect(everything.includes(Buffer.from(value))).toBe(false);
  });
});

function pinList(): Buffer {
  return Buffer.from(
    Array.from({ length: 10000 }, (_, i) => String(i).padStart(4, '0')).join('\n'),
  );
}

/** Ordinary responses holding near-misses: they must pass untouched. */
function benignResponses(): { name: string; served: Served; expected: Buffer }[] {
  const prefix = Buffer.from(A, 'utf8').subarray(0, 11).toString('utf8');
  const uniPrefix = Buffer.from(UNI, 'utf8').subarray(0, 11).toString('latin1');
  const other = `sk_live_${canary('X').slice(2)}`;
  const json = JSON.stringify({
    near: `${prefix}!`,
    key_hint: other,
    prefix: 'sk_live_',
    last4: SK.slice(-4),
    items: [1, 2, 3],
  });
  const html = `<!doctype html><p>${prefix.replace(/&/g, '&amp;').replace(/</g, '&lt;')}! and ${other} &amp; <b>sk_live_</b></p>`;
  const plain = (body: Buffer | string, type: string): Served => ({
    headers: { 'content-type': type },
    body: Buffer.isBuffer(body) ? body : Buffer.from(body),
  });
  const same = (name: string, served: Served) => ({ name, served, expected: served.body });
  const gz = gzipSync(json);
  return [
    same('json', plain(json, 'application/json')),
    same('html', plain(html, 'text/html; charset=utf-8')),
    same('near-utf8', plain(Buffer.from(`x=${uniPrefix}!`, 'latin1'), 'text/plain')),
    same('base64-json', plain(Buffer.from(json).toString('base64'), 'text/plain')),
    {
      name: 'gzip-declared',
      served: {
        headers: { 'content-encoding': 'gzip', 'content-type': 'application/json' },
        body: gz,
      },
      expected: gunzipSync(gz),
    },
    same('gzip-undeclared', plain(gz, 'application/json')),
    same('application-gzip', plain(gzipSync(html), 'application/gzip')),
    same(
      'zip',
      plain(
        zipArchive([
          ['a.json', json, true],
          ['b.html', html, false],
        ]),
        'application/zip',
      ),
    ),
    same('pin-list', plain(pinList(), 'text/plain')),
  ];
}
