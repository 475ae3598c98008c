import { appendFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type AuditSigner, chainCheckpoint, readCheckpoints } from '../../src/audit/checkpoints.js';
import { exportEntries } from '../../src/audit/export.js';
import { type AuditInput, encodeEntry, GENESIS_HASH } from '../../src/audit/format.js';
import { locateEntry } from '../../src/audit/locate.js';
import { pruneBefore } from '../../src/audit/prune.js';
import { queryNewest } from '../../src/audit/query.js';
import { newestEntries } from '../../src/audit/reader.js';
import { summarize } from '../../src/audit/summary.js';
import { verifyChain } from '../../src/audit/verify.js';
import { createAuditWriter } from '../../src/audit/writer.js';
import { tempDir } from '../helpers/tmp.js';
import {
  buildLog,
  lines,
  newSigner,
  rewriteEntries,
  sampleInput,
  trustOf,
  writeLines,
} from './log-fixture.js';

describe('log verify: a clean log', () => {
  it('is intact, with every checkpoint matched and signed, and no unsigned tail', async () => {
    const { dir, signer, segments } = await buildLog();
    expect(segments).toHaveLength(3);
    const report = await verifyChain(dir, await trustOf(signer));
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
    const report = await verifyChain(dir, await trustOf(signer));
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
    const report = await verifyChain(dir, await trustOf(signer));
    expect(report.ok).toBe(false);
    expect(report.firstBreak).toMatchObject({ problem, segment: segments[segment], line });
  });

  it('a wholesale rewrite (every hash recomputed) is caught by the signed checkpoints', async () => {
    const { dir, signer, segments } = await buildLog();
    await rewriteEntries(dir, segments, GENESIS_HASH);
    const report = await verifyChain(dir, await trustOf(signer));
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
    const report = await verifyChain(dir, await trustOf(signer));
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
    const report = await verifyChain(dir, await trustOf(signer));
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
    expect((await verifyChain(dir, await trustOf(signer))).ok).toBe(true);
  });

  it('never removes the newest segment, nor one that still holds newer entries', async () => {
    const { dir, signer } = await buildLog();
    expect((await pruneBefore(dir, '2026-11-20T10:30:00.000Z', signer)).removed).toEqual([]);
    const everything = await pruneBefore(dir, '2030-01-01T00:00:00.000Z', signer);
    expect(everything.removed).toHaveLength(2);
    expect((await verifyChain(dir, await trustOf(signer))).ok).toBe(true);
  });

  it('a forged prune record (to hide a deletion) fails its signature', async () => {
    const { dir, signer, segments } = await buildLog();
    await rm(join(dir, segments[0]!));
    const firstOfNext = JSON.parse((await lines(dir, segments[1]!))[0]!) as {
      id: string;
      prev_hash: string;
    };
    const file = join(dir, 'checkpoints.jsonl');
    const forged = chainCheckpoint(
      newSigner(),
      (await readCheckpoints(dir)).at(-1)!,
      {
        kind: 'prune',
        segment: segments[1]!,
        entry_id: firstOfNext.id,
        head: firstOfNext.prev_hash,
        offset: 0,
        entries: 30,
        removed: [segments[0]!],
      },
      new Date(),
    );
    await writeFile(file, `${await readFile(file, 'utf8')}${JSON.stringify(forged)}\n`);
    const report = await verifyChain(dir, await trustOf(signer));
    expect(report.ok).toBe(false);
    expect(report.firstBreak?.problem).toBe('bad_checkpoint_signature');
  });
});

const CHECKPOINTS = 'checkpoints.jsonl';

const checkpointFile = (dir: string) => lines(dir, CHECKPOINTS);
const writeCheckpointFile = (dir: string, content: string[]) =>
  writeLines(dir, CHECKPOINTS, content);

async function lastEntryHash(dir: string, segment: string): Promise<string> {
  return (JSON.parse((await lines(dir, segment)).at(-1)!) as { hash: string }).hash;
}

type CheckpointTamper = (dir: string, segments: string[], signer: AuditSigner) => Promise<void>;

// buildLog signs 4 checkpoints: the first entry, the end of each of the first two segments
// (rotations) and the last entry (close). The vault records the 4th as the head.
const checkpointAttacks: {
  name: string;
  tamper: CheckpointTamper;
  problem: string;
  line: number;
}[] = [
  {
    name: 'the newest checkpoint deleted, and the entries it vouched for rewritten',
    tamper: async (dir, segs) => {
      await writeCheckpointFile(dir, (await checkpointFile(dir)).slice(0, -1));
      await rewriteEntries(dir, segs.slice(2), await lastEntryHash(dir, segs[1]!));
    },
    problem: 'checkpoints_missing',
    line: 4,
  },
  {
    name: 'checkpoints.jsonl deleted, and the whole log rewritten',
    tamper: async (dir, segs) => {
      await rm(join(dir, CHECKPOINTS));
      await rewriteEntries(dir, segs, GENESIS_HASH);
    },
    problem: 'checkpoints_missing',
    line: 1,
  },
  {
    name: 'checkpoints.jsonl emptied',
    tamper: async (dir) => writeCheckpointFile(dir, []),
    problem: 'checkpoints_missing',
    line: 1,
  },
  {
    name: 'a checkpoint deleted from the middle',
    tamper: async (dir) => {
      const cps = await checkpointFile(dir);
      cps.splice(1, 1);
      await writeCheckpointFile(dir, cps);
    },
    problem: 'broken_checkpoint_chain',
    line: 2,
  },
  {
    name: 'the first checkpoint deleted',
    tamper: async (dir) => writeCheckpointFile(dir, (await checkpointFile(dir)).slice(1)),
    problem: 'broken_checkpoint_chain',
    line: 1,
  },
  {
    name: 'two checkpoints swapped',
    tamper: async (dir) => {
      const cps = await checkpointFile(dir);
      [cps[1], cps[2]] = [cps[2]!, cps[1]!];
      await writeCheckpointFile(dir, cps);
    },
    problem: 'broken_checkpoint_chain',
    line: 2,
  },
  {
    name: 'the last two checkpoints deleted, the log rewritten, then a signing writer carries on',
    tamper: async (dir, segs, signer) => {
      await writeCheckpointFile(dir, (await checkpointFile(dir)).slice(0, -2));
      await rewriteEntries(dir, segs.slice(1), await lastEntryHash(dir, segs[0]!));
      // Its checkpoints chain onto the shortened file and get numbers 3, 4, 5: the vault's
      // head must not follow them, or the deletion would be covered up.
      const writer = createAuditWriter({
        dir,
        now: () => new Date('2026-11-22T12:00:00Z'),
        signer: async () => signer,
        checkpointIntervalMs: 0,
      });
      for (let i = 0; i < 3; i++) await writer.append(sampleInput(700 + i));
      await writer.close();
    },
    problem: 'checkpoint_head_mismatch',
    line: 4,
  },
];

describe('log verify: removed, reordered or replaced checkpoints are found (table)', () => {
  it.each(checkpointAttacks)('$name', async ({ tamper, problem, line }) => {
    const { dir, signer, segments } = await buildLog();
    expect((await signer.heads!.read())?.n).toBe(4);
    await tamper(dir, segments, signer);
    const report = await verifyChain(dir, await trustOf(signer));
    expect(report.ok).toBe(false);
    expect(report.firstBreak).toMatchObject({ problem, segment: CHECKPOINTS, line });
  });

  it('with the public key alone (from a key holder), entries without any checkpoint fail', async () => {
    const { dir, signer, segments } = await buildLog();
    await rm(join(dir, CHECKPOINTS));
    await rewriteEntries(dir, segments, GENESIS_HASH);
    const report = await verifyChain(dir, { publicKey: signer.publicKey });
    expect(report.firstBreak).toMatchObject({ problem: 'checkpoints_missing', line: 1 });
    expect(report.unchecked).toEqual(['checkpoint_head']);
  });

  it('several signing writers keep one linear checkpoint chain, and the vault follows its head', async () => {
    const dir = await tempDir();
    const signer = newSigner();
    const writers = [0, 1, 2].map(() =>
      createAuditWriter({ dir, signer: async () => signer, checkpointIntervalMs: 0 }),
    );
    for (let i = 0; i < 40; i++)
      await Promise.all(writers.map((w, k) => w.append(sampleInput(k * 1000 + i))));
    await Promise.all(writers.map((w) => w.close()));
    const report = await verifyChain(dir, await trustOf(signer));
    expect(report).toMatchObject({ ok: true, entries: 120, unchecked: [] });
    expect(report.checkpoints.total).toBeGreaterThan(3);
    expect(report.checkpoints.matched).toBe(report.checkpoints.total);
    expect(report.checkpoints.recordedHead).toBe(report.checkpoints.total);
  });
});

describe('log verify: what cannot be checked without the vault is never reported intact', () => {
  it('without the vault, signatures and the checkpoint head are unchecked', async () => {
    const { dir } = await buildLog();
    const report = await verifyChain(dir);
    expect(report).toMatchObject({ ok: true, unchecked: ['signatures', 'checkpoint_head'] });
    expect(report.checkpoints).toMatchObject({ signaturesChecked: false, headChecked: false });
  });

  it("a stranger's checkpoints: unchecked without the vault, bad with it", async () => {
    const { dir } = await buildLog(newSigner());
    expect((await verifyChain(dir)).unchecked).toContain('signatures');
    const mine = await verifyChain(dir, await trustOf(newSigner()));
    expect(mine.firstBreak).toMatchObject({ problem: 'bad_checkpoint_signature', line: 1 });
    // A vault that holds no signing key vouches for no checkpoint at all.
    const keyless = await verifyChain(dir, { recordedHead: null });
    expect(keyless.firstBreak).toMatchObject({ problem: 'bad_checkpoint_signature', line: 1 });
  });

  it('a log nobody signed checks completely against a vault with no signing key', async () => {
    const dir = await tempDir();
    const writer = createAuditWriter({ dir });
    for (let i = 0; i < 5; i++) await writer.append(sampleInput(i));
    await writer.close();
    expect(await verifyChain(dir, { recordedHead: null })).toMatchObject({
      ok: true,
      entries: 5,
      unchecked: [],
    });
  });

  it('a line still being written at the end of the newest segment is not damage', async () => {
    const { dir, signer, segments } = await buildLog();
    await appendFile(join(dir, segments[2]!), '{"id":"evt_in_progress","timest');
    const report = await verifyChain(dir, await trustOf(signer));
    expect(report).toMatchObject({ ok: true, entries: 90, inProgress: true, firstBreak: null });
  });
});

describe('log prune: the signed base', () => {
  it('records the prune in the chain and moves the vault head to it', async () => {
    const { dir, signer } = await buildLog();
    await pruneBefore(dir, '2026-11-22T00:00:00.000Z', signer);
    const cps = await readCheckpoints(dir);
    expect(cps.at(-1)!.cp).toMatchObject({ n: 5, kind: 'prune', entries: 60 });
    expect((await signer.heads!.read())?.n).toBe(5);
    expect((await verifyChain(dir, await trustOf(signer))).ok).toBe(true);
  });

  it('a segment below the prune base is damage to verify, and invisible to readers', async () => {
    const { dir, signer, segments } = await buildLog();
    await pruneBefore(dir, '2026-11-22T00:00:00.000Z', signer);
    // A forged "old" segment, chained from genesis so that it holds together on its own.
    const forged = encodeEntry(
      {
        ...sampleInput(1, { agent_id: 'framed-agent' }),
        id: 'evt_forged',
        timestamp: '2026-11-20T09:00:00.000Z',
      },
      GENESIS_HASH,
    ).line;
    await writeLines(dir, segments[0]!, [forged]);
    const report = await verifyChain(dir, await trustOf(signer));
    expect(report.firstBreak).toMatchObject({
      problem: 'segment_below_prune_base',
      segment: segments[0],
    });
    expect(await newestEntries(dir, 1000)).toHaveLength(30);
    expect(await queryNewest(dir, { agent: 'framed-agent' }, 10)).toEqual([]);
    expect((await summarize(dir)).entries).toBe(30);
    expect(await locateEntry(dir, 'evt_forged')).toBeUndefined();
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
    expect(await exportEntries(dir, sink, { format: 'jsonl' })).toBe(30);
  });
});

// Damage that a prune must not sign over: the prune record would make it verify.
const pruneAttacks: { name: string; tamper: Tamper }[] = [
  {
    name: 'a kept entry edited',
    tamper: async (dir, segs) => {
      const l = await lines(dir, segs[2]!);
      l[4] = l[4]!.replace('"status":"OK"', '"status":"BLOCKED"');
      await writeLines(dir, segs[2]!, l);
    },
  },
  {
    name: 'the last entry before the kept ones deleted',
    tamper: async (dir, segs) =>
      writeLines(dir, segs[1]!, (await lines(dir, segs[1]!)).slice(0, -1)),
  },
  {
    name: 'a kept entry deleted',
    tamper: async (dir, segs) => {
      const l = await lines(dir, segs[2]!);
      l.splice(3, 1);
      await writeLines(dir, segs[2]!, l);
    },
  },
];

describe('log prune refuses to sign over damage (table)', () => {
  it.each(pruneAttacks)('$name', async ({ tamper }) => {
    const { dir, signer, segments } = await buildLog();
    await tamper(dir, segments);
    const checkpointsBefore = await checkpointFile(dir);
    await expect(pruneBefore(dir, '2026-11-22T00:00:00.000Z', signer)).rejects.toMatchObject({
      code: 'corrupt_state',
    });
    expect(await readdir(dir)).toEqual(expect.arrayContaining(segments));
    expect(await checkpointFile(dir)).toEqual(checkpointsBefore);
  });
});
