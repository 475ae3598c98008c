import { describe, expect, it } from 'vitest';
import type { AuditInput } from '../../src/audit/format.js';
import { isAgentSecretsError } from '../../src/core/errors.js';
import { matchAllowlist, parseAllowlistEntry } from '../../src/policy/allowlist.js';
import { createApprovalGate } from '../../src/policy/approvals-gate.js';
import {
  type ApprovalRule,
  type ApprovalsFile,
  approvalReason,
  newRule,
  parseApprovalTimeout,
  type ApprovalSubject,
} from '../../src/policy/approvals.js';
import { type ApprovalRequest, createApprovalQueue } from '../../src/policy/approvals-queue.js';
import type { Workspace } from '../../src/workspace/model.js';

const subject = (over: Partial<ApprovalSubject> = {}): ApprovalSubject => ({
  workspaceId: 'ws_1',
  workspaceName: 'local',
  agent: 'billing',
  level: 'issued',
  keys: ['STRIPE_KEY'],
  url: new URL('https://api.stripe.com/v1/charges'),
  listed: true,
  ...over,
});
const rule = (over: Partial<ApprovalRule>): ApprovalRule => ({
  id: 'apr_x',
  workspace: null,
  agent: null,
  secret: null,
  domain: null,
  added_at: '',
  added_by: '',
  ...over,
});
const file = (over: Partial<ApprovalsFile> = {}): ApprovalsFile => ({
  format: 1,
  ask_unlisted: false,
  timeout_s: 120,
  rules: [],
  ...over,
});

describe('approve rules', () => {
  const cases: [string, Partial<ApprovalRule>, Partial<ApprovalSubject>, boolean][] = [
    ['agent matches', { agent: 'billing' }, {}, true],
    ['another agent', { agent: 'support' }, {}, false],
    // An unverified caller could be the agent: held, whatever name it gives (or none).
    [
      'anonymous caller under an agent rule',
      { agent: 'billing' },
      { agent: null, level: 'anonymous' },
      true,
    ],
    ['secret matches', { secret: 'STRIPE_KEY' }, {}, true],
    ['another secret', { secret: 'GITHUB_TOKEN' }, {}, false],
    ['domain pattern', { domain: '*.stripe.com' }, {}, true],
    [
      'domain pattern is one label only',
      { domain: '*.stripe.com' },
      { url: new URL('https://a.b.stripe.com/') },
      false,
    ],
    ['workspace by name', { workspace: 'local' }, {}, true],
    ['workspace by id', { workspace: 'ws_1' }, {}, true],
    ['every field must match', { agent: 'billing', secret: 'OTHER' }, {}, false],
  ];
  for (const [name, r, s, held] of cases) {
    it(name, () => {
      expect(approvalReason(file({ rules: [rule(r)] }), subject(s)) !== undefined).toBe(held);
    });
  }

  it('asks about an unlisted domain only when ask_unlisted is on, whatever the rules', () => {
    const unlisted = subject({ listed: false });
    expect(approvalReason(file({ rules: [rule({ agent: 'billing' })] }), unlisted)).toBeUndefined();
    expect(approvalReason(file({ ask_unlisted: true }), unlisted)).toEqual({ kind: 'unlisted' });
  });

  it('refuses an empty rule and a bad timeout', () => {
    expect(() => newRule({}, 'me')).toThrow(/at least one/);
    expect(newRule({ domain: 'API.Stripe.com' }, 'me').domain).toBe('api.stripe.com');
    expect(() => parseApprovalTimeout('0')).toThrow();
    expect(() => parseApprovalTimeout('1.5')).toThrow();
    expect(parseApprovalTimeout('60')).toBe(60);
  });
});

function recorder() {
  const entries: AuditInput[] = [];
  return { entries, append: async (input: AuditInput) => void entries.push(input) };
}

const request = (): ApprovalRequest => ({
  request_id: 'evt_1',
  workspace: 'local',
  workspace_id: 'ws_1',
  project: 'default',
  environment: 'development',
  agent: 'billing',
  identity_level: 'declared',
  source: 'proxy',
  secret_keys: ['STRIPE_KEY'],
  method: 'POST',
  host: 'api.stripe.com',
  path: '/v1/charges',
  reason: 'unlisted',
});

describe('the approval queue', () => {
  it('holds a call until approved, and audits both steps', async () => {
    const audit = recorder();
    const queue = createApprovalQueue({ audit });
    const events: string[] = [];
    queue.subscribe((e) => events.push(e.type));
    const held = queue.hold(request(), 60_000);
    await new Promise((r) => setImmediate(r));
    const [pending] = queue.pending();
    expect(pending!.host).toBe('api.stripe.com');
    await queue.decide(pending!.id, 'approve_once', 'tester');
    await expect(held).resolves.toMatchObject({ decision: 'approve_once', by: 'tester' });
    await new Promise((r) => setImmediate(r));
    expect(audit.entries.map((e) => e.reason)).toEqual(['approval_pending', 'approval_granted']);
    expect(events).toEqual(['held', 'decided']);
    expect(queue.pending()).toEqual([]);
    await expect(queue.decide(pending!.id, 'deny', 'late')).rejects.toThrow(/no call/);
  });

  it('fails a denied call with approval_denied and one nobody answers with approval_timeout', async () => {
    const audit = recorder();
    const queue = createApprovalQueue({ audit });
    const denied = queue.hold(request(), 60_000);
    await new Promise((r) => setImmediate(r));
    await queue.decide(queue.pending()[0]!.id, 'deny', 'tester');
    await expect(denied).rejects.toSatisfy((e) => isAgentSecretsError(e, 'approval_denied'));
    await expect(queue.hold(request(), 5)).rejects.toSatisfy((e) =>
      isAgentSecretsError(e, 'approval_timeout'),
    );
    await new Promise((r) => setImmediate(r));
    expect(audit.entries.map((e) => [e.reason, e.status])).toEqual([
      ['approval_pending', 'OK'],
      ['approval_denied', 'BLOCKED'],
      ['approval_pending', 'OK'],
      ['approval_timeout', 'BLOCKED'],
    ]);
    // Nothing in the audit entries but names, method, host and path.
    expect(JSON.stringify(audit.entries)).not.toContain('?');
  });

  it('denies what still waits when the key holder stops', async () => {
    const queue = createApprovalQueue({ audit: recorder() });
    const held = queue.hold(request(), 60_000);
    await new Promise((r) => setImmediate(r));
    queue.close();
    await expect(held).rejects.toSatisfy((e) => isAgentSecretsError(e, 'approval_denied'));
  });
});

describe('the gate the engine calls', () => {
  const workspace = {
    id: 'ws_1',
    name: 'local',
    projects: [{ id: 'p', name: 'default' }],
  } as unknown as Workspace;
  const context = (listed: boolean) => ({
    caller: {
      level: 'declared' as const,
      agentId: 'billing',
      tokenId: null,
      source: 'proxy' as const,
    },
    workspace,
    target: { workspaceId: 'ws_1', projectId: 'p', environment: 'development' },
    url: new URL('https://new.example.com/x?q=1'),
    method: 'GET',
    keys: ['K'],
    listed,
    requestId: 'evt_2',
  });

  it('passes what needs no human, and lets an unlisted call through only when approved', async () => {
    let current = file();
    const queue = createApprovalQueue({ audit: recorder() });
    const allowed: string[] = [];
    const gate = createApprovalGate({
      store: { read: async () => current, update: async () => current },
      queue,
      dashboardUrl: () => 'http://127.0.0.1:9/approvals',
      allow: async (_w, host) => void allowed.push(host),
      bind: async () => undefined,
    });
    expect(await gate(context(true))).toBe(false);
    expect(await gate(context(false))).toBe(false);

    current = file({ ask_unlisted: true, timeout_s: 1 });
    const held = gate(context(false));
    await new Promise((r) => setImmediate(r));
    expect(queue.pending()[0]!.path).toBe('/x');
    await queue.decide(queue.pending()[0]!.id, 'approve_and_allow', 'tester');
    expect(await held).toBe(true);
    expect(allowed).toEqual(['new.example.com']);

    const late = gate(context(false));
    await expect(late).rejects.toThrow(/http:\/\/127\.0\.0\.1:9\/approvals/);
  });

  it('holds no call to a wildcard "host": approving it would add the pattern (review finding)', async () => {
    // What the attack relies on: the URL parser keeps '*' in a host, and the allowlist (and a
    // binding) takes the same text as a pattern for every subdomain.
    const url = new URL('https://*.attacker-cdn.net/upload');
    expect(url.hostname).toBe('*.attacker-cdn.net');
    const pattern = parseAllowlistEntry(url.hostname);
    expect(matchAllowlist(new URL('https://any.attacker-cdn.net/'), [pattern])).toBeDefined();

    const queue = createApprovalQueue({ audit: recorder() });
    const allowed: string[] = [];
    const bound: string[] = [];
    const gate = createApprovalGate({
      store: {
        read: async () => file({ ask_unlisted: true, timeout_s: 1 }),
        update: async () => file(),
      },
      queue,
      dashboardUrl: () => null,
      allow: async (_w, host) => void allowed.push(host),
      bind: async (_t, _k, host) => void bound.push(host),
    });
    const held = gate({ ...context(false), url }).catch((e: unknown) => e);
    // Before the fix the call waited here, offering approve_and_allow and approve_and_bind.
    await new Promise((r) => setImmediate(r));
    const waiting = queue.pending();
    for (const p of waiting) await queue.decide(p.id, 'approve_and_allow', 'tester');
    expect(waiting).toEqual([]);
    const err = await held;
    expect(isAgentSecretsError(err, 'bad_request')).toBe(true);
    expect(allowed).toEqual([]);
    expect(bound).toEqual([]);
  });

  it("holds no call to a host longer than any DNS name: the card would carry the agent's text", async () => {
    // What the attack relies on: the URL parser takes a host of any length.
    const url = new URL(
      `https://${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(60)}.example.com/x`,
    );
    expect(url.hostname.length).toBeGreaterThan(253);
    const queue = createApprovalQueue({ audit: recorder() });
    const gate = createApprovalGate({
      store: {
        read: async () => file({ ask_unlisted: true, timeout_s: 1 }),
        update: async () => file(),
      },
      queue,
      dashboardUrl: () => null,
      allow: async () => undefined,
      bind: async () => undefined,
    });
    const held = gate({ ...context(false), url }).catch((e: unknown) => e);
    await new Promise((r) => setImmediate(r));
    expect(queue.pending()).toEqual([]);
    const err = await held;
    expect(isAgentSecretsError(err, 'bad_request')).toBe(true);
    expect((err as Error).message).not.toContain('a'.repeat(60));
    // A host of DNS length is still held.
    const fine = gate({ ...context(false), url: new URL('https://api.example.com/x') });
    await new Promise((r) => setImmediate(r));
    expect(queue.pending()).toHaveLength(1);
    queue.close();
    await fine.catch(() => undefined);
  });
});
