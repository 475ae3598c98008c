import { generateKeyPairSync, sign } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type AuditSigner, keyIdOf } from '../../src/audit/checkpoints.js';
import { type AuditInput, encodeEntry, GENESIS_HASH } from '../../src/audit/format.js';
import { pruneBefore } from '../../src/audit/prune.js';
import { verifyChain } from '../../src/audit/verify.js';
import { createAuditWriter } from '../../src/audit/writer.js';
import { tempDir } from '../helpers/tmp.js';
import { sampleInput } from './writer.test.js';

function newSigner(): AuditSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { keyId: keyIdOf(publicKey), publicKey, sign: (data) => sign(null, data, privateKey) };
}

/**
 * A log of 3 segments (rotation by day) with signed checkpoints at each rotation and at
 * close: 30 entries per day.
 */
async function buildLog(signer: AuditSigner = newSigner()) {
  const dir = await tempDir();
  let day = 20;
  let minute = 0;
  const now = () => new Date(`2026-11-${day}T10:${String(minute % 60).padStart(2, '0')}:00Z`);
  const writer = createAuditWriter({
    dir,
    now,
    signer: async () => signer,
    checkpointIntervalMs: 3_600_000,
  });
  for (; day <= 22; day++) {
    for (let i = 0; i < 30; i++) {
      minute++;
      await writer.append(sampleInput(day * 100 + i));
    }
  }
  day = 22;
  await writer.close();
  const segments = (await readdir(dir))
    .filter((n) => n.endsWith('.jsonl') && n.startsWith('seg-'))
    .sort();
  return { dir, signer, segments };
}

async function lines(dir: string, segment: string): Promise<string[]> {
  return (await readFile(join(dir, segment), 'utf8')).split('\n').filter((l) => l !== '');
}

async function writeLines(dir: string, segment: string, content: string[]): Promise<void> {
  await writeFile(join(dir, segment), content.length === 0 ? '' : `${content.join('\n')}\n`);
}

describe('log verify: a clean log', () => {
  it('is intact, with every checkpoint matched and signed, and no unsigned tail', async () => {
    const { dir, signer, segments } = await buildLog();
    expect(segments).toHaveLength(3);
    const report = await verifyChain(dir, { publicKey: signer.publicKey });
    expect(report).toMatchObject({
      ok: true,
      entries: 90,
      segments: 3,
      firstBreak: null,
      unsignedTail: 0,
    });
    // One at the first batch, one at each of the two rotations, one at close.
    expect(report.checkpoints.matched).toBe(report.checkpoints.total);
    expect(report.checkpoints.total).toBeGreaterThanOrEqual(3);
    expect(report.checkpoints.signaturesChecked).toBe(true);
  });

  it('reports entries after the last checkpoint as an unsigned tail, not as damage', async () => {
    const { dir, signer } = await buildLog();
    const writer = createAuditWriter({ dir, now: () => new Date('2026-11-22T12:00:00Z') });
    for (let i = 0; i < 4; i++) await writer.append(sampleInput(900 + i));
    await writer.close();
    const report = await verifyChain(dir, { publicKey: signer.publicKey });
    expect(report).toMatchObject({ ok: true, entries: 94, unsignedTail: 4 });
  });
});

type Tamper = (dir: string, segments: string[]) => Promise<void>;

// One row per kind of tampering: what is done, and where the report must point.
const attacks: { name: string; tamper: Tamper; problem: string; segment: number; line: number }[] =
  [
    {
      name: 'an edited entry (a field changed, hash left as it was)',
      tamper: async (dir, segs) => {
        const l = await lines(dir, segs[1]!);
        l[4] = l[4]!.replace('"status":"OK"', '"status":"BLOCKED"');
        await writeLines(dir, segs[1]!, l);
      },
      problem: 'hash_mismatch',
      segment: 1,
      line: 5,
    },
    {
      name: 'an edited entry with its own hash recomputed',
      tamper: async (dir, segs) => {
        const l = await lines(dir, segs[1]!);
        const entry = JSON.parse(l[4]!) as Record<string, unknown>;
        const { hash: _h, prev_hash, id, timestamp, ...rest } = entry;
        const fields = {
          ...(rest as unknown as AuditInput),
          agent_id: 'someone-else',
          id: id as string,
          timestamp: timestamp as string,
        };
        l[4] = encodeEntry(fields, prev_hash as string).line;
        await writeLines(dir, segs[1]!, l);
      },
      problem: 'broken_link',
      segment: 1,
      line: 6,
    },
    {
      name: 'a deleted entry',
      tamper: async (dir, segs) => {
        const l = await lines(dir, segs[0]!);
        l.splice(10, 1);
        await writeLines(dir, segs[0]!, l);
      },
      problem: 'broken_link',
      segment: 0,
      line: 11,
    },
    {
      name: 'an inserted entry (a copy of another)',
      tamper: async (dir, segs) => {
        const l = await lines(dir, segs[2]!);
        l.splice(7, 0, l[3]!);
        await writeLines(dir, segs[2]!, l);
      },
      problem: 'broken_link',
      segment: 2,
      line: 8,
    },
    {
      name: 'an inserted forged entry linked to its predecessor',
      tamper: async (dir, segs) => {
        const l = await lines(dir, segs[2]!);
        const before = JSON.parse(l[6]!) as { hash: string };
        l.splice(
          7,
          0,
          encodeEntry(
            { ...sampleInput(4242), id: 'evt_forged', timestamp: '2026-11-22T10:07:30.000Z' },
            before.hash,
          ).line,
        );
        await writeLines(dir, segs[2]!, l);
      },
      problem: 'broken_link',
      segment: 2,
      line: 9,
    },
    {
      name: 'two entries swapped (reordered)',
      tamper: async (dir, segs) => {
        const l = await lines(dir, segs[0]!);
        [l[2], l[3]] = [l[3]!, l[2]!];
        await writeLines(dir, segs[0]!, l);
      },
      problem: 'broken_link',
      segment: 0,
      line: 3,
    },
    {
      name: 'a segment truncated in the middle of a line',
      tamper: async (dir, segs) => {
        const text = await readFile(join(dir, segs[1]!), 'utf8');
        await writeFile(join(dir, segs[1]!), text.slice(0, text.length - 40));
      },
      problem: 'truncated',
      segment: 1,
      line: 30,
    },
    {
      name: 'a segment cut at a line boundary (its last entries gone)',
      tamper: async (dir, segs) => {
        const l = await lines(dir, segs[0]!);
        await writeLines(dir, segs[0]!, l.slice(0, 25));
      },
      problem: 'broken_link',
      segment: 1,
      line: 1,
    },
    {
      name: 'a whole middle segment deleted',
      tamper: async (dir, segs) => {
        await rm(join(dir, segs[1]!));
      },
      problem: 'broken_link',
      segment: 2,
      line: 1,
    },
    {
      name: 'the first segment deleted without a prune',
      tamper: async (dir, segs) => {
        await rm(join(dir, segs[0]!));
      },
      problem: 'broken_link',
      segment: 1,
      line: 1,
    },
    {
      name: 'the newest segment cut cleanly (the signed last entry gone)',
      tamper: async (dir, segs) => {
        const l = await lines(dir, segs[2]!);
        await writeLines(dir, segs[2]!, l.slice(0, 20));
      },
      problem: 'checkpointed_entry_missing',
      segment: 2,
      line: 0,
    },
    {
      name: 'a garbage line',
      tamper: async (dir, segs) => {
        const l = await lines(dir, segs[2]!);
        l[0] = '{"id":"evt_x","oops":true}';
        await writeLines(dir, segs[2]!, l);
      },
      problem: 'malformed',
      segment: 2,
      line: 1,
    },
  ];

describe('log verify: every kind of tampering is found, and where (table)', () => {
  it.each(attacks)('$name', async ({ tamper, problem, segment, line }) => {
    const { dir, signer, segments } = await buildLog();
    await tamper(dir, segments);
    const report = await verifyChain(dir, { publicKey: signer.publicKey });
    expect(report.ok).toBe(false);
    expect(report.firstBreak).toMatchObject({ problem, segment: segments[segment], line });
  });

  it('a wholesale rewrite (every hash recomputed) is caught by the signed checkpoints', async () => {
    const { dir, signer, segments } = await buildLog();
    let prev = GENESIS_HASH;
    for (const segment of segments) {
      const rewritten = (await lines(dir, segment)).map((line) => {
        const { hash: _h, prev_hash: _p, ...fields } = JSON.parse(line) as Record<string, unknown>;
        const input = fields as unknown as AuditInput & { id: string; timestamp: string };
        const encoded = encodeEntry({ ...input, agent_id: 'blamed-agent' }, prev);
        prev = encoded.hash;
        return encoded.line;
      });
      await writeLines(dir, segment, rewritten);
    }
    const report = await verifyChain(dir, { publicKey: signer.publicKey });
    expect(report.ok).toBe(false);
    expect(report.firstBreak).toMatchObject({
      problem: 'checkpoint_mismatch',
      segment: segments[0],
    });
  });

  it.each([
    [
      'a checkpoint edited to vouch for another hash',
      (cp: Record<string, unknown>) => ({ ...cp, head: 'f'.repeat(64) }),
      'bad_checkpoint_signature',
    ],
    ['a checkpoint signed by another key', null, 'bad_checkpoint_signature'],
  ] as const)('%s', async (_name, edit, problem) => {
    const { dir, signer } = await buildLog();
    const file = join(dir, 'checkpoints.jsonl');
    const cps = (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
    const first = JSON.parse(cps[0]!) as Record<string, unknown>;
    if (edit !== null) cps[0] = JSON.stringify(edit(first));
    else {
      const other = newSigner();
      cps[0] = JSON.stringify({ ...first, sig: other.sign(Buffer.from('x')).toString('base64') });
    }
    await writeFile(file, `${cps.join('\n')}\n`);
    const report = await verifyChain(dir, { publicKey: signer.publicKey });
    expect(report.ok).toBe(false);
    expect(report.firstBreak).toMatchObject({ problem, segment: 'checkpoints.jsonl', line: 1 });
  });
});

describe('log prune', () => {
  it('removes whole old segments and what remains still verifies', async () => {
    const { dir, signer, segments } = await buildLog();
    const result = await pruneBefore(dir, '2026-11-22T00:00:00.000Z', signer);
    expect(result.removed).toEqual(segments.slice(0, 2));
    expect(result.entriesRemoved).toBe(60);
    expect(result.keptFrom).toBe(segments[2]);
    const report = await verifyChain(dir, { publicKey: signer.publicKey });
    expect(report).toMatchObject({ ok: true, entries: 30, unsignedTail: 0 });
    expect(report.base).toMatchObject({ segment: segments[2], pruned: segments.slice(0, 2) });
    // New entries keep chaining onto what remains.
    const writer = createAuditWriter({
      dir,
      now: () => new Date('2026-11-22T11:00:00Z'),
      signer: async () => signer,
    });
    await writer.append(sampleInput(1));
    await writer.close();
    expect((await verifyChain(dir, { publicKey: signer.publicKey })).ok).toBe(true);
  });

  it('never removes the newest segment, nor one that still holds newer entries', async () => {
    const { dir, signer } = await buildLog();
    expect((await pruneBefore(dir, '2026-11-20T10:30:00.000Z', signer)).removed).toEqual([]);
    const everything = await pruneBefore(dir, '2030-01-01T00:00:00.000Z', signer);
    expect(everything.removed).toHaveLength(2);
    expect((await verifyChain(dir, { publicKey: signer.publicKey })).ok).toBe(true);
  });

  it('a forged prune record (to hide a deletion) fails its signature', async () => {
    const { dir, signer, segments } = await buildLog();
    await rm(join(dir, segments[0]!));
    const firstOfNext = JSON.parse((await lines(dir, segments[1]!))[0]!) as {
      id: string;
      prev_hash: string;
    };
    const forger = newSigner();
    const forged = {
      seq: 1,
      at: new Date().toISOString(),
      kind: 'prune',
      segment: segments[1],
      entry_id: firstOfNext.id,
      head: firstOfNext.prev_hash,
      removed: [segments[0]],
      key_id: forger.keyId,
    };
    const { checkpointPayload } = await import('../../src/audit/checkpoints.js');
    const sig = forger.sign(checkpointPayload(forged as never)).toString('base64');
    await writeFile(
      join(dir, 'checkpoints.jsonl'),
      `${await readFile(join(dir, 'checkpoints.jsonl'), 'utf8')}${JSON.stringify({ ...forged, sig })}\n`,
    );
    const report = await verifyChain(dir, { publicKey: signer.publicKey });
    expect(report.ok).toBe(false);
    expect(report.firstBreak?.problem).toBe('bad_checkpoint_signature');
  });
});
