import { appendFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { AuditInput } from '../../src/audit/format.js';
import { newestEntries } from '../../src/audit/reader.js';
import { verifyChain } from '../../src/audit/verify.js';
import { createAuditWriter } from '../../src/audit/writer.js';
import { tempDir } from '../helpers/tmp.js';

const WRITER = fileURLToPath(new URL('./fixtures/audit-writer.mjs', import.meta.url));

/** A plausible entry; `n` makes it unique. */
export function sampleInput(n: number, overrides: Partial<AuditInput> = {}): AuditInput {
  return {
    workspace: 'local',
    project: 'default',
    environment: 'development',
    agent_id: n % 2 === 0 ? 'billing-bot' : null,
    identity_level: n % 2 === 0 ? 'declared' : 'anonymous',
    token_id: null,
    source: 'proxy',
    method: 'GET',
    target_url: `https://api.example.com/v1/items/${n}`,
    domain: 'api.example.com',
    secret_keys: ['API_KEY'],
    auth_styles: ['bearer'],
    status: 'OK',
    status_code: 200,
    reason: null,
    redacted: false,
    duration_ms: 12.5,
    ...overrides,
  };
}

describe('audit writer', () => {
  it('chains entries, assigns ids and keeps the field order', async () => {
    const dir = await tempDir();
    const writer = createAuditWriter({ dir });
    const entries = await Promise.all(
      Array.from({ length: 50 }, (_, i) => writer.append(sampleInput(i))),
    );
    await writer.close();
    expect(new Set(entries.map((e) => e.id)).size).toBe(50);
    const report = await verifyChain(dir);
    expect(report).toMatchObject({ ok: true, entries: 50, segments: 1, firstBreak: null });
    const [segment] = await readdir(dir).then((n) => n.filter((x) => x.endsWith('.jsonl')));
    const first = (await readFile(join(dir, segment!), 'utf8')).split('\n')[0]!;
    expect(Object.keys(JSON.parse(first) as object)).toEqual([
      'id',
      'timestamp',
      'workspace',
      'project',
      'environment',
      'agent_id',
      'identity_level',
      'token_id',
      'source',
      'method',
      'target_url',
      'domain',
      'secret_keys',
      'auth_styles',
      'status',
      'status_code',
      'reason',
      'redacted',
      'duration_ms',
      'private_override',
      'command',
      'policy',
      'prev_hash',
      'hash',
    ]);
    const newest = await newestEntries(dir, 3);
    expect(newest.map((e) => e.id)).toEqual(
      entries
        .slice(-3)
        .reverse()
        .map((e) => e.id),
    );
  });

  it('rotates by size and by day, and the chain continues across segments', async () => {
    const dir = await tempDir();
    let now = new Date('2026-11-20T10:00:00Z');
    const writer = createAuditWriter({ dir, now: () => now, maxSegmentBytes: 4096 });
    for (let i = 0; i < 40; i++) await writer.append(sampleInput(i));
    now = new Date('2026-11-21T00:00:01Z');
    await writer.append(sampleInput(99));
    await writer.close();
    const names = (await readdir(dir)).filter((n) => n.endsWith('.jsonl')).sort();
    expect(names.length).toBeGreaterThan(3);
    expect(names.at(-1)).toMatch(/-20261121\.jsonl$/);
    expect(await verifyChain(dir)).toMatchObject({ ok: true, entries: 41 });
  });

  it('cuts off a partial last line left by a power loss and carries on', async () => {
    const dir = await tempDir();
    const writer = createAuditWriter({ dir });
    await writer.append(sampleInput(1));
    await writer.close();
    const [segment] = (await readdir(dir)).filter((n) => n.endsWith('.jsonl'));
    await appendFile(join(dir, segment!), '{"id":"evt_partial","timest');
    const again = createAuditWriter({ dir });
    await again.append(sampleInput(2));
    await again.close();
    expect(await verifyChain(dir)).toMatchObject({ ok: true, entries: 2 });
  });

  it('4 writer processes x 5,000 entries: 20,000 entries, chain intact', async () => {
    const dir = await tempDir();
    const runs = Array.from(
      { length: 4 },
      (_, w) =>
        new Promise<number | null>((resolve) => {
          const child = spawn(process.execPath, [WRITER, dir, String(w), '5000'], {
            stdio: 'inherit',
          });
          child.on('close', resolve);
        }),
    );
    expect(await Promise.all(runs)).toEqual([0, 0, 0, 0]);
    const report = await verifyChain(dir);
    expect(report).toMatchObject({ ok: true, entries: 20_000 });
    const perWriter = new Map<string, number>();
    for (const entry of await newestEntries(dir, 100_000)) {
      perWriter.set(entry.command!, (perWriter.get(entry.command!) ?? 0) + 1);
    }
    expect([...perWriter.values()]).toEqual([5000, 5000, 5000, 5000]);
  });
});
