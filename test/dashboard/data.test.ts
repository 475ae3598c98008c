import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeEntry, type AuditInput } from '../../src/audit/format.js';
import { createAuditWriter } from '../../src/audit/writer.js';
import { activityPage, decodeCursor, encodeCursor } from '../../src/dashboard/activity.js';
import {
  CSP,
  checkHostAndOrigin,
  createDashboardAuth,
  LOGIN_TTL_MS,
} from '../../src/dashboard/auth.js';
import { esc, html } from '../../src/dashboard/html.js';
import { createOverviewIndex, indexed, readFields } from '../../src/dashboard/index.js';
import { tempDir } from '../helpers/tmp.js';

const input = (i: number, over: Partial<AuditInput> = {}): AuditInput => ({
  timestamp: new Date(Date.UTC(2026, 10, 20, 0, 0, i)).toISOString(),
  workspace: 'local',
  project: 'default',
  environment: 'development',
  agent_id: i % 3 === 0 ? null : `agent-${i % 3}`,
  identity_level: i % 3 === 0 ? 'anonymous' : 'declared',
  token_id: null,
  source: 'proxy',
  method: 'GET',
  target_url: `https://api.example.com/x/${i}`,
  domain: 'api.example.com',
  secret_keys: ['K'],
  auth_styles: ['bearer'],
  status: i % 4 === 0 ? 'BLOCKED' : 'OK',
  status_code: 200,
  reason: null,
  redacted: i % 5 === 0,
  duration_ms: 1,
  ...over,
});

describe('the overview index reads fields from the bytes', () => {
  const lines: [string, AuditInput][] = [
    ['plain', input(1)],
    ['null agent and domain', input(3, { domain: null })],
    [
      'a target URL that spells other fields',
      input(2, { target_url: 'https://x.test/?"domain":"evil","status":"OK","redacted":true' }),
    ],
    ['an agent name with an escape', input(4, { agent_id: 'we"ird' })],
    ['a token', input(5, { token_id: 'tok_abc', identity_level: 'issued' })],
  ];
  for (const [name, entry] of lines) {
    it(name, () => {
      const { line } = encodeEntry(
        { ...entry, id: 'evt_1', timestamp: entry.timestamp! },
        '0'.repeat(64),
      );
      const fast = readFields(line);
      const full = indexed(JSON.parse(line));
      // Either the same fields, or a refusal that makes the caller parse the line in full.
      if (fast !== undefined) expect(fast).toEqual(full);
      else expect(line).toContain('\\');
    });
  }

  it('buckets calls per hour and agent, blocks, redactions, tokens', () => {
    const index = createOverviewIndex();
    for (let i = 0; i < 30; i++)
      index.add(indexed({ ...input(i), id: `e${i}`, prev_hash: '', hash: '' } as never));
    const o = index.overview();
    expect(o.entries).toBe(30);
    expect(o.hours).toHaveLength(1);
    expect(o.agents.reduce((n, a) => n + a.calls[0]!, 0)).toBe(30);
    expect(o.blocks[0]).toBe(8);
    expect(o.redactions[0]).toBe(6);
    expect(o.topDomains).toEqual([{ domain: 'api.example.com', count: 30 }]);
    expect(index.agentUsage('agent-1').calls).toBe(10);
    // What the scan worker sends back, merged into the live index, counts the same.
    const merged = createOverviewIndex();
    merged.add(indexed({ ...input(37), id: 'live', prev_hash: '', hash: '' } as never));
    merged.merge(index.snapshot());
    expect(merged.overview().entries).toBe(31);
    expect(merged.agentUsage('agent-1').calls).toBe(index.agentUsage('agent-1').calls + 1);
    expect(merged.overview().byStatus).toEqual({
      OK: (o.byStatus.OK ?? 0) + 1,
      BLOCKED: o.byStatus.BLOCKED,
    });
  });

  it('build says which entry it read last', async () => {
    const dir = join(await tempDir(), 'audit');
    const writer = createAuditWriter({ dir, fsync: 'never' });
    let last = '';
    for (let i = 0; i < 5; i++) last = (await writer.append(input(i))).id;
    await writer.close();
    const index = createOverviewIndex();
    expect(await index.build(dir)).toBe(last);
    expect(index.ready).toBe(true);
    expect(index.overview().entries).toBe(5);
  });
});

describe('Activity pages', () => {
  it('walks the whole log newest first, each entry once, with and without a filter', async () => {
    const dir = join(await tempDir(), 'audit');
    const writer = createAuditWriter({ dir, fsync: 'never', maxSegmentBytes: 4096 });
    // Several entries share a timestamp: the cursor must not skip or repeat them.
    for (let i = 0; i < 120; i++)
      await writer.append(input(Math.floor(i / 3), { target_url: `https://api.example.com/${i}` }));
    await writer.close();
    const walk = async (filter: object) => {
      const seen: string[] = [];
      let cursor;
      for (let pages = 0; pages < 100; pages++) {
        const page = await activityPage(dir, filter, 7, cursor);
        seen.push(...page.entries.map((e) => e.target_url!));
        if (page.next === null) break;
        cursor = decodeCursor(encodeCursor(page.next));
      }
      return seen;
    };
    const all = await walk({});
    expect(all).toHaveLength(120);
    expect(new Set(all).size).toBe(120);
    expect(all[0]).toBe('https://api.example.com/119');
    expect(all.at(-1)).toBe('https://api.example.com/0');
    const blocked = await walk({ status: 'BLOCKED' });
    expect(blocked.length).toBeGreaterThan(0);
    expect(blocked.length).toBeLessThan(120);
  });

  it('refuses a malformed cursor', () => {
    expect(decodeCursor('x')).toBeUndefined();
    expect(decodeCursor('2026-01-01T00:00:00.000Z~evt_1<script>')).toBeUndefined();
  });
});

describe('dashboard sessions and requests', () => {
  it('a login token works once and not after it expires', () => {
    let now = 0;
    const auth = createDashboardAuth(() => now);
    const token = auth.issueLogin();
    expect(auth.login('wrong')).toBeUndefined();
    const session = auth.login(token)!;
    expect(session).toBeDefined();
    expect(auth.login(token)).toBeUndefined();
    expect(auth.session(session.id)).toBe(session);
    // The other half of the session: its path secret, unrelated to the cookie.
    expect(auth.checkPath(session, session.path)).toBe(true);
    expect(auth.checkPath(session, session.id)).toBe(false);
    expect(auth.checkPath(session, undefined)).toBe(false);
    expect(auth.checkCsrf(session, session.csrf)).toBe(true);
    expect(auth.checkCsrf(session, undefined)).toBe(false);
    expect(auth.checkCsrf(session, session.id)).toBe(false);
    const late = auth.issueLogin();
    now += LOGIN_TTL_MS + 1;
    expect(auth.login(late)).toBeUndefined();
  });

  // One row per request shape: the Host and Origin a browser page could send.
  const rows: [string, string | undefined, string | undefined, boolean][] = [
    ['our own page', '127.0.0.1:8766', 'http://127.0.0.1:8766', true],
    ['a navigation (no Origin)', 'localhost:8766', undefined, true],
    ['IPv6 loopback', '[::1]:8766', 'http://[::1]:8766', true],
    ['DNS rebinding: a foreign Host', 'evil.example:8766', undefined, false],
    ['another port on loopback', '127.0.0.1:9999', undefined, false],
    ['a foreign Origin', '127.0.0.1:8766', 'http://evil.example', false],
    ['a sandboxed frame (Origin null)', '127.0.0.1:8766', 'null', false],
    ['another loopback origin', '127.0.0.1:8766', 'http://localhost:8766', false],
  ];
  for (const [name, host, origin, ok] of rows) {
    it(name, () => {
      expect(checkHostAndOrigin(host, origin, 8766) === undefined).toBe(ok);
    });
  }

  it('escapes every value it renders, and the CSP forbids inline script', () => {
    expect(String(html`<td>${'<img src=x onerror=alert(1)>'}</td>`)).toBe(
      '<td>&lt;img src=x onerror=alert(1)&gt;</td>',
    );
    expect(esc(`"'&`)).toBe('&quot;&#39;&amp;');
    expect(CSP).toContain("script-src 'self'");
    expect(CSP).not.toContain('unsafe');
  });
});
