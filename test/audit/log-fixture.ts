import { generateKeyPairSync, sign } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AuditSigner,
  type CheckpointHead,
  type CheckpointHeadStore,
  keyIdOf,
} from '../../src/audit/checkpoints.js';
import { type AuditInput, encodeEntry } from '../../src/audit/format.js';
import type { VerifyOptions } from '../../src/audit/verify.js';
import { createAuditWriter } from '../../src/audit/writer.js';
import { tempDir } from '../helpers/tmp.js';

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

/** The vault's record of the checkpoint head, in memory. */
export function memoryHeads(): CheckpointHeadStore {
  let head: CheckpointHead | undefined;
  return {
    read: async () => head,
    write: async (next) => {
      head = next;
    },
  };
}

/** A signer with its own key and head record, as a writer holding the vault has. */
export function newSigner(): AuditSigner {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    keyId: keyIdOf(publicKey),
    publicKey,
    sign: (data) => sign(null, data, privateKey),
    heads: memoryHeads(),
  };
}

/** What `log verify` gets from an open vault: the public key and the recorded head. */
export async function trustOf(signer: AuditSigner): Promise<VerifyOptions> {
  return { publicKey: signer.publicKey, recordedHead: (await signer.heads!.read()) ?? null };
}

/**
 * A log of 3 segments (rotation by day) with signed checkpoints at each rotation and at
 * close: 30 entries per day.
 */
export async function buildLog(signer: AuditSigner = newSigner()) {
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

export async function lines(dir: string, segment: string): Promise<string[]> {
  return (await readFile(join(dir, segment), 'utf8')).split('\n').filter((l) => l !== '');
}

export async function writeLines(dir: string, segment: string, content: string[]): Promise<void> {
  await writeFile(join(dir, segment), content.length === 0 ? '' : `${content.join('\n')}\n`);
}

/**
 * What an attacker without the vault can do: every entry of `segments` edited (blamed on
 * someone else) and the chain recomputed from `prev`, so every hash and link holds.
 */
export async function rewriteEntries(
  dir: string,
  segments: readonly string[],
  prev: string,
): Promise<void> {
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
}
