// One audit writer per key holder (issue 17): the key holder's writer holds the audit lock as
// a lease for as long as it runs; writers in other processes hand their entries to it over the
// key holder's socket; a process that needs the lock itself (a prune) asks it to yield; and a
// killed key holder loses no acknowledged entry and leaves a lock others can take.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type AuditEntry, type AuditInput, encodeEntry } from '../../src/audit/format.js';
import { BatchEncoder, encodeEntryFast } from '../../src/audit/encode.js';
import { verifyChain } from '../../src/audit/verify.js';
import { type AuditWriter, createAuditWriter } from '../../src/audit/writer.js';
import type { CredentialService } from '../../src/proxy/credential-service.js';
import { serveKeyHolder } from '../../src/proxy/key-holder.js';
import { tempDir } from '../helpers/tmp.js';
import { sampleInput } from './log-fixture.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

interface LockFile {
  pid: number;
  nonce: string;
  lease?: boolean;
  socket?: string;
}
const lockOf = (dir: string) => JSON.parse(readFileSync(join(dir, '.lock'), 'utf8')) as LockFile;

function tryLockOf(dir: string): LockFile | undefined {
  try {
    return lockOf(dir);
  } catch {
    return undefined;
  }
}

function run(script: string, args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fixture(script), ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A key holder's socket serving only the audit endpoints, over a real writer. */
async function keyHolder(dir: string): Promise<{ writer: AuditWriter; socket: string }> {
  const writer = createAuditWriter({ dir });
  const socket = join(await tempDir(), 'kh.sock');
  const service = { mode: 'in-process', audit: writer } as unknown as CredentialService;
  const holder = await serveKeyHolder(socket, service);
  cleanups.push(async () => {
    await holder.close();
    await writer.close();
  });
  return { writer, socket };
}

describe('audit lease (the key holder writes for everyone)', () => {
  it('takes entries from other processes over its socket and keeps one intact chain', async () => {
    const dir = await tempDir();
    const { writer, socket } = await keyHolder(dir);
    await writer.append(sampleInput(0));
    const lease = lockOf(dir);
    expect(lease).toMatchObject({ pid: process.pid, lease: true, socket });

    // Three other processes write 100 entries each while the key holder writes 100 of its own.
    const others = Promise.all(
      [0, 1, 2].map((w) => run('audit-writer.mjs', [dir, String(w), '100'])),
    );
    const own = Promise.all(
      Array.from({ length: 100 }, (_, i) => writer.append(sampleInput(i + 1))),
    );
    const [codes] = await Promise.all([others, own]);
    expect(codes.map((c) => c.code)).toEqual([0, 0, 0]);
    await writer.flush();

    // The lease was never given up: the other writers did not take the lock, they handed over.
    expect(lockOf(dir).nonce).toBe(lease.nonce);
    const report = await verifyChain(dir);
    expect(report).toMatchObject({ ok: true, entries: 401, firstBreak: null });
    const lines = (await readFile(join(dir, (await segmentNames(dir))[0]!), 'utf8'))
      .trim()
      .split('\n');
    for (const w of [0, 1, 2]) {
      expect(lines.filter((l) => l.includes(`"command":"writer-${w}"`))).toHaveLength(100);
    }
  });

  it('lets another process take the lock when it asks (a prune), then takes the lease again', async () => {
    const dir = await tempDir();
    const { writer } = await keyHolder(dir);
    await writer.append(sampleInput(0));
    const first = lockOf(dir);
    const taken = await run('take-lock.mjs', [dir]);
    expect(taken).toEqual({ code: 0, stdout: 'locked\n' });
    // Meanwhile and afterwards the key holder keeps writing; the lease comes back.
    let again: LockFile | undefined;
    for (let i = 1; i < 400 && again === undefined; i++) {
      await writer.append(sampleInput(i));
      // During the yield the key holder locks per batch, so between batches there is no lock.
      const now = existsSync(join(dir, '.lock')) ? tryLockOf(dir) : undefined;
      if (now?.lease === true && now.pid === process.pid && now.nonce !== first.nonce) again = now;
      else await sleep(20);
    }
    expect(again).toBeDefined();
    await writer.flush();
    expect(await verifyChain(dir)).toMatchObject({ ok: true, firstBreak: null });
  });

  it('loses no acknowledged entry when the key holder is killed, and its lock can be taken', async () => {
    const dir = await tempDir();
    const socket = join(await tempDir(), 'gone.sock');
    const child = spawn(process.execPath, [fixture('lease-writer.mjs'), dir, socket], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    for (let waited = 0; out.split('\n').length < 300 && waited < 20_000; waited += 10)
      await sleep(10);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    const acknowledged = out.split('\n').filter((id) => id !== '');
    expect(acknowledged.length).toBeGreaterThanOrEqual(299);
    expect(lockOf(dir)).toMatchObject({ pid: child.pid, lease: true });

    const text = await readFile(join(dir, (await segmentNames(dir))[0]!), 'utf8');
    const stored = new Set(
      text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { id: string }).id),
    );
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);

    // A writer of another process finds the holder dead and takes over the chain.
    const next = createAuditWriter({ dir });
    await next.append(sampleInput(1));
    await next.close();
    expect(await verifyChain(dir)).toMatchObject({
      ok: true,
      entries: stored.size + 1,
      firstBreak: null,
    });
  });

  it('encodes entries from its template byte for byte as the reference encoder', () => {
    const prev = 'a'.repeat(64);
    for (const input of oddInputs()) {
      const reference = encodeEntry(input, prev);
      const fast = encodeEntryFast(input, prev);
      expect(fast.line).toBe(reference.line);
      expect(fast.hash).toBe(reference.hash);
      expect(fast.entry).toEqual(reference.entry);
      expect(fast.entry.domain!.length).toBeLessThanOrEqual(253 + '…[truncated]'.length);
    }
  });

  it('encodes a batch into its one buffer byte for byte as the reference, growing and reused', () => {
    const inputs = oddInputs();
    let prev = 'b'.repeat(64);
    const expected: string[] = [];
    const entries: AuditEntry[] = [];
    for (const input of inputs) {
      const reference = encodeEntry(input, prev);
      expected.push(`${reference.line}\n`);
      entries.push(reference.entry);
      prev = reference.hash;
    }
    // 64 bytes to start with: every entry makes it grow (one has a 3,000-character URL).
    const encoder = new BatchEncoder(64);
    for (let round = 0; round < 2; round++) {
      encoder.reset();
      let hash = 'b'.repeat(64);
      for (const [i, input] of inputs.entries()) {
        const entry = encoder.add(input, hash, input.id, input.timestamp);
        expect(entry).toEqual(entries[i]);
        hash = entry.hash;
      }
      expect(encoder.bytes().equals(Buffer.from(expected.join(''), 'utf8'))).toBe(true);
    }
    // A batch after a reset starts from the beginning: just its own line.
    encoder.reset();
    encoder.add(inputs[0]!, 'b'.repeat(64), inputs[0]!.id, inputs[0]!.timestamp);
    expect(encoder.bytes().toString('utf8')).toBe(expected[0]);
  });

  it("writes the reference encoder's bytes to the segment, chained", async () => {
    const dir = join(await tempDir(), 'audit');
    const writer = createAuditWriter({ dir });
    const inputs = oddInputs();
    // All in one batch, then one more batch: both continue the same chain.
    const written = await Promise.all(inputs.map((input) => writer.append(input)));
    written.push(await writer.append(inputs[0]!));
    await writer.close();
    let prev = '0'.repeat(64);
    let expected = '';
    for (const input of [...inputs, inputs[0]!]) {
      const reference = encodeEntry(input, prev);
      expected += `${reference.line}\n`;
      prev = reference.hash;
    }
    const [segment] = await segmentNames(dir);
    expect(await readFile(join(dir, segment!), 'utf8')).toBe(expected);
    expect(written.at(-1)!.hash).toBe(prev);
  });
});

function oddInputs(): (AuditInput & { id: string; timestamp: string })[] {
  const odd = [
    'plain',
    'quote " and backslash \\',
    'line\nbreak\ttab\u0001ctl\u007f',
    'unicode é ü 漢字 😀',
    'lone \ud800 surrogate',
    '',
  ];
  return odd.map((text, i) => ({
    ...sampleInput(i, {
      workspace: text,
      agent_id: i % 2 ? null : text,
      target_url: `https://api.example.com/${text}${'x'.repeat(i === 2 ? 3000 : 0)}`,
      // A host longer than any DNS name (an agent's text) is clipped by both encoders.
      domain: i === 1 ? `${'h'.repeat(400)}.example.com` : 'api.example.com',
      secret_keys: i === 3 ? [] : [text, 'K'],
      reason: i % 3 ? null : text,
      duration_ms: [12.3456789, 0, -0, Number.NaN, 1e21, 0.1 + 0.2][i]!,
      status_code: i === 4 ? null : 200,
      ...(i % 2 ? { detail: text } : {}),
      ...(i === 5 ? { command: text, policy: 'agent:x', private_override: '127.0.0.1/32' } : {}),
    }),
    id: `evt_${i}${text}`,
    timestamp: '2026-12-05T01:02:03.456Z',
  }));
}

async function segmentNames(dir: string): Promise<string[]> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir(dir)).filter((n) => n.endsWith('.jsonl') && n.startsWith('seg-')).sort();
}
