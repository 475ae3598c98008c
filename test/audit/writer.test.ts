import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { CheckpointHead } from '../../src/audit/checkpoints.js';
import { newestEntries } from '../../src/audit/reader.js';
import { verifyChain } from '../../src/audit/verify.js';
import { createAuditWriter } from '../../src/audit/writer.js';
import { tempDir } from '../helpers/tmp.js';
import { newSigner, sampleInput } from './log-fixture.js';

const WRITER = fileURLToPath(new URL('./fixtures/audit-writer.mjs', import.meta.url));

/** Runs `count` writer processes at once, `entries` each; resolves to their exit codes. */
function runWriters(
  dir: string,
  count: number,
  entries: number,
  env: Record<string, string> = {},
): Promise<(number | null)[]> {
  const runs = Array.from(
    { length: count },
    (_, w) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [WRITER, dir, String(w), String(entries)], {
          stdio: 'inherit',
          env: { ...process.env, ...env },
        });
        child.on('close', resolve);
      }),
  );
  return Promise.all(runs);
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
    expect(await runWriters(dir, 4, 5000)).toEqual([0, 0, 0, 0]);
    const report = await verifyChain(dir);
    expect(report).toMatchObject({ ok: true, entries: 20_000 });
    const perWriter = new Map<string, number>();
    for (const entry of await newestEntries(dir, 100_000)) {
      perWriter.set(entry.command!, (perWriter.get(entry.command!) ?? 0) + 1);
    }
    expect([...perWriter.values()]).toEqual([5000, 5000, 5000, 5000]);
  });

  it('4 signing writer processes: one linear checkpoint chain, and the head follows it', async () => {
    const dir = await tempDir();
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const headFile = join(dir, 'head.json');
    const env = {
      AUDIT_SIGNING_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      AUDIT_HEAD_FILE: headFile,
    };
    expect(await runWriters(dir, 4, 2000, env)).toEqual([0, 0, 0, 0]);
    const recordedHead = JSON.parse(await readFile(headFile, 'utf8')) as CheckpointHead;
    const report = await verifyChain(dir, { publicKey, recordedHead });
    expect(report).toMatchObject({ ok: true, entries: 8000, unchecked: [] });
    expect(report.checkpoints.total).toBeGreaterThan(4);
    expect(report.checkpoints.matched).toBe(report.checkpoints.total);
    expect(recordedHead.n).toBe(report.checkpoints.total);
  });

  it('syncs the entries to disk before a checkpoint names them, whatever the fsync policy', async () => {
    const dir = await tempDir();
    const checkpointsOnFile = () => {
      const path = join(dir, 'checkpoints.jsonl');
      return existsSync(path) ? readFileSync(path, 'utf8').split('\n').length - 1 : 0;
    };
    const synced: number[] = [];
    const signer = newSigner();
    const writer = createAuditWriter({
      dir,
      fsync: 'never',
      signer: async () => signer,
      checkpointIntervalMs: 0,
      fdatasync: () => synced.push(checkpointsOnFile()),
    });
    for (let i = 0; i < 3; i++) await writer.append(sampleInput(i));
    await writer.close();
    const total = checkpointsOnFile();
    expect(total).toBe(3);
    // Checkpoint k was appended after a sync that ran while k - 1 were on file.
    for (let k = 1; k <= total; k++) expect(synced).toContain(k - 1);
  });
});
