import { closeSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { withFileLockSync } from '../store/lock.js';
import { type AuditSigner, appendCheckpointSync, signCheckpoint } from './checkpoints.js';
import { storedHash } from './format.js';
import { listSegments, parseEntry } from './reader.js';
import { forEachLine } from './scan.js';
import { entryIdOf } from './writer.js';

/** What a prune removed (or would remove). */
export interface PruneResult {
  removed: string[];
  entriesRemoved: number;
  keptFrom: string | null;
}

/** Which whole segments are older than `before` (never the newest one). */
export async function planPrune(dir: string, before: string): Promise<PruneResult> {
  const segments = await listSegments(dir);
  // Segment i can go when its last entry is older than `before` (the newest never goes).
  const removable: string[] = [];
  let entriesRemoved = 0;
  for (let i = 0; i + 1 < segments.length; i++) {
    let count = 0;
    let last: string | undefined;
    await forEachLine(segments[i]!.path, (line) => {
      count++;
      last = line;
    });
    const timestamp = last === undefined ? undefined : parseEntry(last)?.timestamp;
    if (timestamp === undefined || timestamp >= before) break;
    removable.push(segments[i]!.name);
    entriesRemoved += count;
  }
  return { removed: removable, entriesRemoved, keptFrom: segments[removable.length]?.name ?? null };
}

/**
 * Removes whole segments whose every entry is older than `before`, and records a signed prune
 * checkpoint: the first remaining segment and the hash its first entry links to, so that what
 * remains still verifies. Runs under the audit lock.
 */
export async function pruneBefore(
  dir: string,
  before: string,
  signer: AuditSigner,
): Promise<PruneResult> {
  const plan = await planPrune(dir, before);
  const { removed: removable, keptFrom } = plan;
  if (removable.length === 0 || keptFrom === null) return plan;
  await withFileLockSync(join(dir, '.lock'), () => {
    // Still the same layout under the lock (only the newest segment grows meanwhile).
    const names = new Set(readdirSync(dir));
    if (!removable.every((name) => names.has(name)))
      throw new Error('the audit log changed during the prune; run it again');
    const firstLineText = readFirstLineSync(join(dir, keptFrom));
    const entry = parseEntry(firstLineText);
    if (entry === undefined || storedHash(firstLineText) === undefined)
      throw new Error(`${keptFrom} does not start with a valid entry`);
    appendCheckpointSync(
      dir,
      signCheckpoint(signer, {
        seq: Date.now(),
        at: new Date().toISOString(),
        kind: 'prune',
        segment: keptFrom,
        entry_id: entryIdOf(firstLineText) ?? entry.id,
        head: entry.prev_hash,
        removed: removable,
      }),
    );
    for (const name of removable) rmSync(join(dir, name), { force: true });
  });
  return plan;
}

function readFirstLineSync(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const read = readSync(fd, buf, 0, buf.length, 0);
    const text = buf.toString('utf8', 0, read);
    const nl = text.indexOf('\n');
    return nl === -1 ? text : text.slice(0, nl);
  } finally {
    closeSync(fd);
  }
}
