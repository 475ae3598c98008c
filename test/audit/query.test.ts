import { createReadStream, createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { beforeAll, describe, expect, it } from 'vitest';
import { exportEntries } from '../../src/audit/export.js';
import type { AuditEntry, AuditInput } from '../../src/audit/format.js';
import { type AuditFilter, matchesFilter, parseWhen, queryNewest } from '../../src/audit/query.js';
import { newestEntries } from '../../src/audit/reader.js';
import { summarize } from '../../src/audit/summary.js';
import { verifyChain } from '../../src/audit/verify.js';
import { createAuditWriter } from '../../src/audit/writer.js';
import { tempDir } from '../helpers/tmp.js';

/** A varied log: 600 entries over 6 hours, every field taking several values. */
function variedInput(i: number): AuditInput {
  const agents = [null, 'billing-bot', 'support-bot', 'claude-ai'];
  const levels = ['anonymous', 'issued', 'issued', 'declared'] as const;
  const statuses = ['OK', 'OK', 'OK', 'BLOCKED', 'ERROR'] as const;
  const status = statuses[i % statuses.length]!;
  const a = i % agents.length;
  return {
    timestamp: new Date(Date.UTC(2026, 10, 21, 6, 0, 0) + i * 36_000).toISOString(),
    workspace: 'local',
    project: i % 3 === 0 ? 'billing' : 'default',
    environment: i % 2 === 0 ? 'production' : 'development',
    agent_id: agents[a]!,
    identity_level: levels[a]!,
    token_id: levels[a] === 'issued' ? `tok_${a}` : null,
    source: i % 7 === 0 ? 'mcp' : 'proxy',
    method: i % 4 === 0 ? 'POST' : 'GET',
    target_url: `https://${i % 5 === 0 ? 'api.stripe.com' : 'api.github.com'}/v1/${i}`,
    domain: i % 5 === 0 ? 'api.stripe.com' : 'api.github.com',
    secret_keys: i % 6 === 0 ? ['STRIPE_KEY', 'OTHER_KEY'] : ['GITHUB_TOKEN'],
    auth_styles: ['bearer'],
    status,
    status_code:
      status === 'BLOCKED' ? 403 : status === 'ERROR' ? 502 : [200, 201, 302, 404, 500][i % 5]!,
    reason:
      status === 'BLOCKED'
        ? 'domain_not_in_allowlist'
        : status === 'ERROR'
          ? 'upstream_error'
          : null,
    redacted: i % 9 === 0,
    duration_ms: i,
  };
}

describe('audit query: every filter (table), against a reference scan', () => {
  let dir: string;
  let all: AuditEntry[];

  beforeAll(async () => {
    dir = await tempDir();
    const writer = createAuditWriter({ dir, maxSegmentBytes: 64 * 1024 });
    for (let i = 0; i < 600; i++) await writer.append(variedInput(i));
    await writer.close();
    all = await newestEntries(dir, 10_000);
    expect(all).toHaveLength(600);
  });

  const filters: [string, AuditFilter][] = [
    ['--agent', { agent: 'billing-bot' }],
    ['--identity anonymous', { identity: 'anonymous' }],
    ['--identity declared', { identity: 'declared' }],
    ['--identity issued', { identity: 'issued' }],
    ['--token', { token: 'tok_2' }],
    ['--secret', { secret: 'STRIPE_KEY' }],
    ['--domain', { domain: 'api.stripe.com' }],
    ['--method', { method: 'post' }],
    ['--status OK', { status: 'OK' }],
    ['--status BLOCKED', { status: 'BLOCKED' }],
    ['--status ERROR', { status: 'ERROR' }],
    ['--status-class 2xx', { statusClass: '2xx' }],
    ['--status-class 3xx', { statusClass: '3xx' }],
    ['--status-class 4xx', { statusClass: '4xx' }],
    ['--status-class 5xx', { statusClass: '5xx' }],
    ['--redacted', { redacted: true }],
    ['--project', { project: 'billing' }],
    ['--env', { environment: 'production' }],
    ['--since', { since: '2026-11-21T09:00:00.000Z' }],
    ['--until', { until: '2026-11-21T07:00:00.000Z' }],
    [
      'combined',
      {
        agent: 'support-bot',
        status: 'OK',
        environment: 'production',
        since: '2026-11-21T07:30:00.000Z',
      },
    ],
  ];

  it.each(filters)('%s', async (_name, filter) => {
    const expected = all.filter((e) => matchesFilter(e, filter));
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(600);
    const got = await queryNewest(dir, filter, 10_000);
    expect(got.map((e) => e.id)).toEqual(expected.map((e) => e.id));
    const limited = await queryNewest(dir, filter, 5);
    expect(limited.map((e) => e.id)).toEqual(expected.slice(0, 5).map((e) => e.id));
  });

  it('summary counts by status and identity, and ranks agents, secrets, domains and blocks', async () => {
    const s = await summarize(dir);
    expect(s.entries).toBe(600);
    expect(s.byStatus).toEqual({ OK: 360, BLOCKED: 120, ERROR: 120 });
    expect(s.byIdentity).toEqual({ anonymous: 150, issued: 300, declared: 150 });
    expect(s.topAgents[0]).toMatchObject({ count: 150 });
    expect(s.topAgents.map((a) => `${a.agent} ${a.level}`)).toContain('claude-ai declared');
    expect(s.topSecrets[0]).toEqual({ secret: 'GITHUB_TOKEN', count: 500 });
    expect(s.topDomains).toEqual([
      { domain: 'api.github.com', count: 480 },
      { domain: 'api.stripe.com', count: 120 },
    ]);
    expect(s.topBlockReasons).toEqual([{ reason: 'domain_not_in_allowlist', count: 120 }]);
    const since = await summarize(dir, { since: '2026-11-21T11:00:00.000Z' });
    expect(since.entries).toBe(all.filter((e) => e.timestamp >= '2026-11-21T11:00:00.000Z').length);
  });

  it.each([
    ['1h', '2026-11-22T09:00:00.000Z'],
    ['30m', '2026-11-22T09:30:00.000Z'],
    ['7d', '2026-11-15T10:00:00.000Z'],
    ['2026-11-20', '2026-11-20T00:00:00.000Z'],
    ['2026-11-20T08:00:00Z', '2026-11-20T08:00:00.000Z'],
  ])('parseWhen(%s)', (text, iso) => {
    expect(parseWhen(text, new Date('2026-11-22T10:00:00.000Z'))).toBe(iso);
  });

  it.each(['yesterday', '7 days', '20-11-2026', ''])('parseWhen refuses %j', (text) => {
    expect(() => parseWhen(text)).toThrow(/a time looks like/);
  });
});

describe('audit export', () => {
  it('exports 100,000 entries with no row limit: JSONL as stored, CSV with a header', async () => {
    const dir = await tempDir();
    const writer = createAuditWriter({ dir, maxSegmentBytes: 8 * 1024 * 1024 });
    const batch: Promise<unknown>[] = [];
    for (let i = 0; i < 100_000; i++) {
      batch.push(writer.append(variedInput(i % 600)));
      if (batch.length >= 5000) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    await writer.close();
    const out = await tempDir();
    const count = async (path: string) => {
      let n = 0;
      for await (const _line of createInterface({ input: createReadStream(path) })) n++;
      return n;
    };
    for (const format of ['jsonl', 'csv'] as const) {
      const path = join(out, `export.${format}`);
      const stream = createWriteStream(path);
      const written = await exportEntries(dir, stream, { format });
      await new Promise<void>((resolve) => stream.end(resolve));
      expect(written).toBe(100_000);
      expect(await count(path)).toBe(format === 'csv' ? 100_001 : 100_000);
    }
    // The JSONL export is the log itself: its chain still verifies.
    const copy = await tempDir();
    const jsonl = await readFile(join(out, 'export.jsonl'), 'utf8');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(copy, 'seg-000001-20261121.jsonl'), jsonl);
    expect(await verifyChain(copy)).toMatchObject({ ok: true, entries: 100_000 });
    // With a filter, only the matching rows.
    const filtered = createWriteStream(join(out, 'blocked.jsonl'));
    const blocked = await exportEntries(dir, filtered, {
      format: 'jsonl',
      filter: { status: 'BLOCKED' },
    });
    await new Promise<void>((resolve) => filtered.end(resolve));
    expect(blocked).toBe(20_000);
  });

  it('neutralises spreadsheet formulas in CSV cells', async () => {
    const dir = await tempDir();
    const writer = createAuditWriter({ dir });
    await writer.append({
      ...variedInput(1),
      target_url: '=HYPERLINK("https://evil.example")',
      agent_id: '@agent',
    });
    await writer.close();
    const chunks: Buffer[] = [];
    const { Writable } = await import('node:stream');
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    await exportEntries(dir, sink, { format: 'csv' });
    const row = Buffer.concat(chunks).toString().split('\n')[1]!;
    expect(row).toContain(`"'=HYPERLINK(""https://evil.example"")"`);
    expect(row).toContain(`'@agent`);
  });
});
