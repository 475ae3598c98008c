import { closeSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { AgentSecretsError } from '../core/errors.js';
import { withFileLockSync } from '../store/lock.js';
import { advanceRecordedHead } from './checkpoint-chain.js';
import {
  type AuditSigner,
  appendCheckpointSync,
  chainCheckpoint,
  lastCheckpointSync,
} from './checkpoints.js';
import { entryIdOf, storedHash } from './format.js';
import { linesBackward, listSegments, parseEntry } from './reader.js';
import { forEachLine } from './scan.js';
import { walkChain } from './verify.js';

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
 * checkpoint: the first remaining segment, the hash its first entry links to and the number
 * of entries before it, so that what remains still verifies. Refuses when what remains is not
 * an intact chain continuing the last removed entry: signing its start would launder the
 * damage. Runs under the audit lock.
 */
export async function pruneBefore(
  dir: string,
  before: string,
  signer: AuditSigner,
): Promise<PruneResult> {
  const plan = await planPrune(dir, before);
  const { removed: removable, keptFrom } = plan;
  if (removable.length === 0 || keptFrom === null) return plan;
  await assertKeptChainIntact(dir, removable.at(-1)!, keptFrom);
  await withFileLockSync(join(dir, '.lock'), () => {
    // Still the same layout under the lock (only the newest segment grows meanwhile).
    const names = new Set(readdirSync(dir));
    if (!removable.every((name) => names.has(name)))
      throw new AgentSecretsError(
        'conflict',
        'the audit log changed during the prune (another prune or a writer moved its files); nothing was removed: run `agentsecrets log prune` again',
      );
    const firstLineText = readFirstLineSync(join(dir, keptFrom));
    const entry = parseEntry(firstLineText);
    if (entry === undefined || storedHash(firstLineText) === undefined)
      throw brokenLog(`${keptFrom} does not start with a valid entry`);
    const last = lastCheckpointSync(dir);
    if (last !== null && last.cp === null)
      throw brokenLog('the newest line of checkpoints.jsonl is damaged');
    const statement = {
      kind: 'prune' as const,
      segment: keptFrom,
      entry_id: entryIdOf(firstLineText) ?? entry.id,
      head: entry.prev_hash,
      offset: 0,
      entries: (last?.cp?.base?.entries ?? 0) + plan.entriesRemoved,
      removed: removable,
    };
    appendCheckpointSync(dir, chainCheckpoint(signer, last, statement, new Date()));
    for (const name of removable) rmSync(join(dir, name), { force: true });
  });
  await advanceRecordedHead(dir, signer);
  return plan;
}

/** What is kept links to the last removed entry and is an intact chain from there on. */
async function assertKeptChainIntact(
  dir: string,
  lastRemoved: string,
  keptFrom: string,
): Promise<void> {
  const segments = await listSegments(dir);
  const kept = segments.slice(segments.findIndex((s) => s.name === keptFrom));
  let linkTo: string | undefined;
  for await (const line of linesBackward(join(dir, lastRemoved))) {
    linkTo = storedHash(line);
    break;
  }
  if (linkTo === undefined) throw brokenLog(`${lastRemoved} does not end with an entry`);
  const walk = await walkChain(kept, linkTo);
  if (walk.break !== null) {
    const b = walk.break;
    throw brokenLog(`${b.problem.replace(/_/g, ' ')} at ${b.segment}, line ${b.line}`);
  }
}

function brokenLog(where: string): AgentSecretsError {
  return new AgentSecretsError(
    'corrupt_state',
    `the audit log is damaged (${where}); a prune would sign over the damage, so nothing was removed. Run \`agentsecrets log verify\` and keep the log as it is for investigation`,
  );
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
