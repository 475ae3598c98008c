import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { AuditInput } from '../../src/audit/format.js';
import type { Paths } from '../../src/core/config.js';
import { createApprovalGate, type ApprovalContext } from '../../src/policy/approvals-gate.js';
import { createApprovalQueue } from '../../src/policy/approvals-queue.js';
import {
  approvalsPath,
  type ApprovalsStore,
  createApprovalsStore,
  newRule,
} from '../../src/policy/approvals.js';
import { createRightsGuard } from '../../src/strict/guard.js';
import { approvalsRights, seal } from '../../src/strict/rights.js';
import type { Workspace } from '../../src/workspace/model.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Review finding 4 of issue 16: approvals.json is a rights document in strict mode. An agent
 * that deletes the `approve` rule holding its call must not get the call out unasked.
 */

const key = new Uint8Array(randomBytes(32));
const workspace = { id: 'ws_1', name: 'local', projects: [] } as unknown as Workspace;
const call: ApprovalContext = {
  caller: { level: 'declared', agentId: 'billing', tokenId: null, source: 'proxy' },
  workspace,
  target: { workspaceId: 'ws_1', projectId: 'p', environment: 'development' },
  url: new URL('https://api.example.com/v1/charges'),
  method: 'POST',
  keys: ['API_KEY'],
  listed: true,
  requestId: 'evt_1',
};

/** A state folder whose approvals.json holds calls to api.example.com, sealed with `key`. */
async function sealedState(): Promise<Paths> {
  const paths = { home: await tempDir() } as Paths;
  await createApprovalsStore(paths).update((file) => {
    file.rules.push(newRule({ domain: 'api.example.com' }, 'human'));
    file.rights_seal = seal(key, 'approvals.json', approvalsRights(file));
  });
  return paths;
}

/** The agent's edit: no passphrase, no command, just the file. */
async function deleteRules(paths: Paths): Promise<void> {
  const raw = JSON.parse(await readFile(approvalsPath(paths), 'utf8')) as { rules: unknown[] };
  raw.rules = [];
  await writeFile(approvalsPath(paths), JSON.stringify(raw, null, 2));
}

/** Runs the gate once: 'held' when the call waits for a human, 'out' when it goes straight on. */
async function attempt(store: ApprovalsStore): Promise<'held' | 'out'> {
  const queue = createApprovalQueue({
    audit: { append: async (_: AuditInput) => undefined },
  });
  const gate = createApprovalGate({
    store,
    queue,
    dashboardUrl: () => null,
    allow: async () => undefined,
    bind: async () => undefined,
  });
  let settled = false;
  const outcome = gate(call).finally(() => {
    settled = true;
  });
  // The gate reads the file first: wait until it either holds the call or has let it go.
  while (!settled && queue.pending().length === 0) await new Promise((r) => setTimeout(r, 5));
  if (queue.pending().length === 0) {
    expect(await outcome).toBe(false);
    return 'out';
  }
  await queue.decide(queue.pending()[0]!.id, 'deny', 'test');
  await expect(outcome).rejects.toThrow(/denied/);
  return 'held';
}

/** The strict key holder's guard; approvals() reads only the state folder and the key. */
function guardOf(paths: Paths, tampered: string[]) {
  return createRightsGuard({
    paths,
    key,
    // Not read by approvals(): the three other documents have their own tests.
    workspaces: {} as never,
    agents: {} as never,
    vault: {} as never,
    onTamper: (doc) => tampered.push(doc),
  });
}

describe('approvals.json sealed in strict mode', () => {
  it('without strict mode, deleting the rule lets the held call out (the attack works)', async () => {
    const paths = await sealedState();
    const store = createApprovalsStore(paths);
    expect(await attempt(store)).toBe('held');
    await deleteRules(paths);
    expect(await attempt(store)).toBe('out');
  });

  it('with strict mode, the edit is reported and the last verified rule keeps holding', async () => {
    const paths = await sealedState();
    const tampered: string[] = [];
    const guard = guardOf(paths, tampered);
    const file = createApprovalsStore(paths);
    const store = { ...file, read: () => guard.approvals() };
    expect(await attempt(store)).toBe('held');
    await deleteRules(paths);
    expect(await attempt(store)).toBe('held');
    expect(tampered).toEqual(['approvals.json']);
    expect((await guard.approvals()).rules).toHaveLength(1);
  });

  it('a key holder that starts on a tampered or deleted file refuses with state_tampered', async () => {
    const paths = await sealedState();
    await deleteRules(paths);
    await expect(guardOf(paths, []).approvals()).rejects.toMatchObject({
      code: 'state_tampered',
    });
    await rm(approvalsPath(paths));
    await expect(guardOf(paths, []).approvals()).rejects.toMatchObject({
      code: 'state_tampered',
    });
  });
});
