import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditInput } from '../../src/audit/format.js';
import { queryNewest } from '../../src/audit/query.js';
import { describe as describeWaiting } from '../../src/cli/commands/approvals.js';
import { assertGateOpen, recordGateOutcome } from '../../src/cli/strict-gate.js';
import { AgentSecretsError, isAgentSecretsError } from '../../src/core/errors.js';
import type { DashboardActions } from '../../src/dashboard/actions.js';
import { createDashboardActions } from '../../src/cli/dashboard-actions.js';
import { createDashboardHost, guardPassphrases } from '../../src/dashboard/host.js';
import { pendingCard } from '../../src/dashboard/pages.js';
import { createApprovalGate } from '../../src/policy/approvals-gate.js';
import {
  type ApprovalsFile,
  approvalReason,
  type ApprovalSubject,
  createApprovalsStore,
  newRule,
} from '../../src/policy/approvals.js';
import {
  type ApprovalRequest,
  createApprovalQueue,
  type PendingApproval,
} from '../../src/policy/approvals-queue.js';
import {
  createLocalCredentialService,
  type LocalCredentialService,
  type ServiceCallInput,
} from '../../src/proxy/credential-service.js';
import { createProxyServer } from '../../src/proxy/http-server.js';
import { createKeyHolderClient, serveKeyHolder } from '../../src/proxy/key-holder.js';
import { request as httpRequest } from 'node:http';
import { canary } from '../helpers/canary.js';
import { makeWorkspace, serviceFor, type Workspace } from '../helpers/proxy-fixture.js';
import { tempDir } from '../helpers/tmp.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';

/**
 * The hostile review of approvals (issue 16): each attack is shown working with its defence
 * off, then refused with it on.
 */

const tick = () => new Promise((r) => setImmediate(r));
const until = async (check: () => boolean) => {
  for (let i = 0; i < 400 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
};

function recorder() {
  const entries: AuditInput[] = [];
  return { entries, append: async (input: AuditInput) => void entries.push(input) };
}

const request = (over: Partial<ApprovalRequest> = {}): ApprovalRequest => ({
  request_id: 'evt_1',
  workspace: 'local',
  workspace_id: 'ws_1',
  project: 'default',
  environment: 'development',
  agent: 'billing',
  identity_level: 'issued',
  source: 'proxy',
  secret_keys: ['STRIPE_KEY'],
  method: 'POST',
  host: 'api.stripe.com',
  path: '/v1/charges',
  reason: 'unlisted',
  ...over,
});

describe('1. flooding the queue with held calls', () => {
  it('with no cap, one agent fills the queue', async () => {
    const queue = createApprovalQueue({
      audit: recorder(),
      limits: { perCaller: Infinity, total: Infinity },
    });
    for (let i = 0; i < 60; i++) void queue.hold(request(), 60_000).catch(() => undefined);
    await until(() => queue.pending().length === 60);
    expect(queue.pending()).toHaveLength(60);
    queue.close();
  });

  it('caps waiting calls per caller and in all, refusing at once with approval_queue_full', async () => {
    const audit = recorder();
    const queue = createApprovalQueue({ audit });
    const held = Array.from({ length: 5 }, () =>
      queue.hold(request(), 60_000).catch((e: unknown) => e),
    );
    // Taken before anything waits: the sixth is refused even though none is pending yet.
    const sixth = await queue.hold(request(), 60_000).catch((e: unknown) => e);
    expect(isAgentSecretsError(sixth, 'approval_queue_full')).toBe(true);
    expect((sixth as Error).message).toMatch(/wait for their answers/);
    await until(() => queue.pending().length === 5);
    // Another issued agent has its own share.
    void queue.hold(request({ agent: 'support' }), 60_000).catch(() => undefined);
    await until(() => queue.pending().length === 6);
    // Declared names are claims: a new name per call does not buy new places.
    const declared = (i: number) =>
      queue.hold(request({ agent: `fake-${i}`, identity_level: 'declared' }), 60_000);
    for (let i = 0; i < 5; i++) void declared(i).catch(() => undefined);
    const more = await Promise.all([5, 6].map((i) => declared(i).catch((e: unknown) => e)));
    expect(more.every((e) => isAgentSecretsError(e, 'approval_queue_full'))).toBe(true);
    await until(() => queue.pending().length === 11);
    // Nothing was audited as pending for a refused call.
    expect(audit.entries.filter((e) => e.reason === 'approval_pending').length).toBe(
      queue.pending().length,
    );
    queue.close();
    await Promise.all(held);
  });

  it('caps the whole queue', async () => {
    const queue = createApprovalQueue({ audit: recorder(), limits: { perCaller: 5, total: 50 } });
    const holds = Array.from({ length: 50 }, (_, i) =>
      queue.hold(request({ agent: `agent${i}` }), 60_000).catch(() => undefined),
    );
    await expect(queue.hold(request({ agent: 'one-more' }), 60_000)).rejects.toSatisfy(
      (e) => isAgentSecretsError(e, 'approval_queue_full') && /50 calls/.test((e as Error).message),
    );
    await until(() => queue.pending().length === 50);
    // A place frees once a call is decided.
    await queue.decide(queue.pending()[0]!.id, 'deny', 'tester');
    await Promise.race(holds);
    const next = queue.hold(request({ agent: 'one-more' }), 60_000).catch(() => undefined);
    await until(() => queue.pending().some((p) => p.agent === 'one-more'));
    expect(queue.pending().some((p) => p.agent === 'one-more')).toBe(true);
    queue.close();
    await next;
  });
});

const ESC_TITLE = '\x1b]0;approve me\x07\x1b[2J';
const BIDI = '\u202eevil\u202c';

describe('2. attacker text shown as a secret name, and terminal escapes', () => {
  let upstream: Upstream;
  let ws: Workspace;
  let service: LocalCredentialService;
  const queue = createApprovalQueue({ audit: recorder() });
  const file: ApprovalsFile = {
    format: 1,
    ask_unlisted: true,
    timeout_s: 30,
    rules: [],
  };
  const gate = createApprovalGate({
    store: { read: async () => file, update: async () => file },
    queue,
    dashboardUrl: () => null,
    allow: async () => undefined,
    bind: async () => undefined,
  });
  beforeAll(async () => {
    upstream = await startUpstream(echo);
    ws = await makeWorkspace({
      secrets: { API_KEY: canary('KEYNAMES') },
      allowlist: ['listed.example.com'],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    service = await serviceFor(ws, { approve: gate });
  });
  afterAll(async () => {
    queue.close();
    await service.close();
    await upstream.close();
  });
  const call = (key: string, path = '/x'): ServiceCallInput => ({
    url: `http://127.0.0.1:${upstream.port}${path}`,
    method: 'GET',
    headers: [],
    body: undefined,
    injections: [{ style: 'bearer', key }],
    target: ws.target,
    identity: { source: 'proxy' },
  });

  it('without the check, the gate shows any text as a secret name', async () => {
    const workspace = await ws.services.workspaces.require(ws.target.workspaceId);
    const held = gate({
      caller: { level: 'anonymous', agentId: null, tokenId: null, source: 'proxy' },
      workspace,
      target: ws.target,
      url: new URL(`http://127.0.0.1:${upstream.port}/x`),
      method: 'GET',
      keys: [ESC_TITLE],
      listed: false,
      requestId: 'evt_x',
    }).catch(() => undefined);
    await until(() => queue.pending().length === 1);
    expect(queue.pending()[0]!.secret_keys).toEqual([ESC_TITLE]);
    queue.close();
    await held;
  });

  it('the engine refuses a malformed key name before the gate', async () => {
    for (const key of [ESC_TITLE, `API_KEY${BIDI}`, 'approve: yes', '1ABC']) {
      const refused = await service.call(call(key)).catch((e: unknown) => e);
      expect(isAgentSecretsError(refused, 'bad_request'), String(refused)).toBe(true);
    }
    expect(queue.pending()).toEqual([]);
  });

  it('the key holder socket refuses it too, before the engine', async () => {
    const socket = join(await tempDir(), 'kh.sock');
    const served = await serveKeyHolder(socket, service);
    try {
      const client = createKeyHolderClient(socket);
      const refused = await client.call(call(ESC_TITLE)).catch((e: unknown) => e);
      expect(isAgentSecretsError(refused, 'bad_request')).toBe(true);
      expect((refused as Error).message).toMatch(/letters, digits and _/);
    } finally {
      await served.close();
    }
  });

  it('`approvals watch` prints no control character or bidi mark of an agent, host or path', () => {
    const hostile: PendingApproval = {
      ...request({
        agent: `billing${ESC_TITLE}`,
        path: `/x${ESC_TITLE}${BIDI}`,
        host: `h${BIDI}`,
        secret_keys: [`K${ESC_TITLE}`],
      }),
      id: `apv_${ESC_TITLE}`,
      created_at: '2026-01-01T00:00:00.000Z',
      expires_at: '2026-01-01T00:02:00.000Z',
      decisions: ['approve_once', 'deny'],
    };
    // The attack: the fields as they came, printed raw.
    const raw = `${hostile.agent} ${hostile.host}${hostile.path}`;
    // eslint-disable-next-line no-control-regex
    expect(/[\u0000-\u001f\u202e]/.test(raw)).toBe(true);
    const line = describeWaiting(hostile);
    // eslint-disable-next-line no-control-regex
    expect(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069]/.test(line)).toBe(
      false,
    );
    expect(line).toContain('approve me');
  });
});

describe('3. dodging an agent-scoped rule by claiming another name', () => {
  const subject = (over: Partial<ApprovalSubject>): ApprovalSubject => ({
    workspaceId: 'ws_1',
    workspaceName: 'local',
    agent: 'billing',
    level: 'issued',
    keys: ['STRIPE_KEY'],
    url: new URL('https://api.stripe.com/v1/charges'),
    listed: true,
    ...over,
  });
  const rules: ApprovalsFile = {
    format: 1,
    ask_unlisted: false,
    timeout_s: 120,
    rules: [newRule({ agent: 'billing', domain: 'api.stripe.com' }, 'human')],
  };
  const cases: [string, Partial<ApprovalSubject>, boolean][] = [
    // The old matching took a claimed name at its word: the claim made it another agent.
    ['a claim taken as identity dodges the rule (the attack)', { agent: 'support' }, false],
    ['the agent itself, verified', {}, true],
    ['another agent, verified', { agent: 'support' }, false],
    ['the agent claiming another name', { agent: 'support', level: 'declared' }, true],
    ['the agent claiming its own name', { level: 'declared' }, true],
    ['the agent claiming no name', { agent: null, level: 'anonymous' }, true],
    [
      'an unverified call the rule would not hold for that agent either',
      { agent: null, level: 'anonymous', url: new URL('https://api.github.com/') },
      false,
    ],
  ];
  for (const [name, over, held] of cases) {
    it(name, () => {
      expect(approvalReason(rules, subject(over)) !== undefined).toBe(held);
    });
  }

  it('in-process (no human to ask), a declared call under an agent rule is refused', async () => {
    const upstream = await startUpstream(echo);
    const ws = await makeWorkspace({
      secrets: { API_KEY: canary('DODGE') },
      allowlist: [`127.0.0.1:${upstream.port}`],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    await createApprovalsStore(ws.services.config.paths).update((f) => {
      f.rules.push(newRule({ agent: 'billing' }, 'test'));
    });
    const service = await serviceFor(ws);
    try {
      const refused = await service
        .call({
          url: `http://127.0.0.1:${upstream.port}/dodge`,
          method: 'GET',
          headers: [],
          body: undefined,
          injections: [{ style: 'bearer', key: 'API_KEY' }],
          target: ws.target,
          identity: { source: 'cli', agentId: 'not-billing' },
        })
        .catch((e: unknown) => e);
      expect(isAgentSecretsError(refused, 'approval_required')).toBe(true);
      expect(upstream.seen).toEqual([]);
    } finally {
      await service.close();
      await upstream.close();
    }
  });
});

describe('4. a held call whose caller went away', () => {
  it('without the signal, the call stays in the queue for a human to approve into the void', async () => {
    const queue = createApprovalQueue({ audit: recorder() });
    const gone = new AbortController();
    const held = queue.hold(request(), 60_000).catch((e: unknown) => e);
    await until(() => queue.pending().length === 1);
    gone.abort();
    await tick();
    expect(queue.pending()).toHaveLength(1);
    queue.close();
    await held;
  });

  it('with it, the call leaves the queue at once and is audited as cancelled', async () => {
    const audit = recorder();
    const queue = createApprovalQueue({ audit });
    const events: string[] = [];
    queue.subscribe((e) => events.push(e.type === 'decided' ? `decided:${e.outcome}` : e.type));
    const gone = new AbortController();
    const held = queue.hold(request(), 60_000, { signal: gone.signal }).catch((e: unknown) => e);
    await until(() => queue.pending().length === 1);
    gone.abort();
    expect(queue.pending()).toEqual([]);
    expect(isAgentSecretsError(await held, 'cancelled')).toBe(true);
    await tick();
    expect(audit.entries.map((e) => [e.reason, e.status])).toEqual([
      ['approval_pending', 'OK'],
      ['approval_cancelled', 'ERROR'],
    ]);
    expect(events).toEqual(['held', 'decided:cancelled']);
    // An already aborted caller is never held.
    await expect(queue.hold(request(), 60_000, { signal: AbortSignal.abort() })).rejects.toSatisfy(
      (e) => isAgentSecretsError(e, 'cancelled'),
    );
  });

  it('a client hanging up on the key holder socket cancels its held call', async () => {
    const upstream = await startUpstream(echo);
    const ws = await makeWorkspace({
      secrets: { API_KEY: canary('HANGUP') },
      allowlist: ['listed.example.com'],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    const audit = recorder();
    const queue = createApprovalQueue({ audit });
    const file: ApprovalsFile = { format: 1, ask_unlisted: true, timeout_s: 60, rules: [] };
    const service = await createLocalCredentialService({
      config: ws.services.config,
      workspaces: ws.services.workspaces,
      vault: ws.services.vault,
      unlock: () => ws.services.vault.unlock(),
      approve: createApprovalGate({
        store: { read: async () => file, update: async () => file },
        queue,
        dashboardUrl: () => 'http://127.0.0.1:1/approvals',
        allow: async () => undefined,
        bind: async () => undefined,
      }),
    });
    const socket = join(await tempDir(), 'kh.sock');
    const served = await serveKeyHolder(socket, service);
    try {
      const client = createKeyHolderClient(socket);
      const caller = new AbortController();
      const told: unknown[] = [];
      const call = client
        .call({
          url: `http://127.0.0.1:${upstream.port}/away`,
          method: 'GET',
          headers: [],
          body: undefined,
          injections: [{ style: 'bearer', key: 'API_KEY' }],
          target: ws.target,
          identity: { source: 'sdk' },
          signal: caller.signal,
          onHeld: (info) => told.push(info),
        })
        .catch((e: unknown) => e);
      await until(() => queue.pending().length === 1 && told.length === 1);
      // The client learns that its call waits, and where a human decides.
      expect(told).toEqual([
        expect.objectContaining({ timeout_s: 60, dashboard_url: 'http://127.0.0.1:1/approvals' }),
      ]);
      caller.abort();
      expect(isAgentSecretsError(await call, 'cancelled')).toBe(true);
      await until(() => queue.pending().length === 0);
      expect(queue.pending()).toEqual([]);
      await until(() => audit.entries.some((e) => e.reason === 'approval_cancelled'));
      expect(audit.entries.map((e) => e.reason)).toContain('approval_cancelled');
      expect(upstream.seen).toEqual([]);
    } finally {
      await served.close();
      await service.close();
      await upstream.close();
    }
  });
});

describe('4b. an HTTP client of the proxy that hangs up', () => {
  it('takes its held call out of the queue', async () => {
    const upstream = await startUpstream(echo);
    const ws = await makeWorkspace({
      secrets: { API_KEY: canary('PROXYHANGUP') },
      allowlist: ['listed.example.com'],
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    const audit = recorder();
    const queue = createApprovalQueue({ audit });
    const file: ApprovalsFile = { format: 1, ask_unlisted: true, timeout_s: 60, rules: [] };
    const service = await createLocalCredentialService({
      config: ws.services.config,
      workspaces: ws.services.workspaces,
      vault: ws.services.vault,
      unlock: () => ws.services.vault.unlock(),
      approve: createApprovalGate({
        store: { read: async () => file, update: async () => file },
        queue,
        dashboardUrl: () => null,
        allow: async () => undefined,
        bind: async () => undefined,
      }),
    });
    const proxy = createProxyServer({
      engine: service.engine,
      sessionToken: null,
      maxRequestBytes: 1 << 20,
      resolveTarget: async () => ws.target,
      identify: async () => ({ level: 'anonymous', agentId: null, tokenId: null, source: 'proxy' }),
      version: 'test',
    });
    const { port } = await proxy.listen(0, '127.0.0.1');
    try {
      const req = httpRequest({
        host: '127.0.0.1',
        port,
        path: '/proxy',
        method: 'GET',
        headers: {
          'X-AS-Target-URL': `http://127.0.0.1:${upstream.port}/hangup`,
          'X-AS-Inject-Bearer': 'API_KEY',
        },
      });
      req.on('error', () => undefined);
      req.end();
      await until(() => queue.pending().length === 1);
      expect(queue.pending()[0]!.path).toBe('/hangup');
      req.destroy();
      await until(() => queue.pending().length === 0);
      expect(queue.pending()).toEqual([]);
      await until(() => audit.entries.some((e) => e.reason === 'approval_cancelled'));
      expect(audit.entries.map((e) => e.reason)).toEqual([
        'approval_pending',
        'approval_cancelled',
      ]);
      expect(upstream.seen).toEqual([]);
    } finally {
      await proxy.close();
      await service.close();
      await upstream.close();
    }
  });
});

/** The dashboard's strict gate as the CLI builds it: verified, back-off kept in gate.json. */
const fileGated = (home: string): DashboardActions => {
  const config = { paths: { home } } as Parameters<typeof assertGateOpen>[0];
  const refuse = async () => Promise.reject(new Error('not used'));
  const gate = async (passphrase: string | undefined) => {
    await assertGateOpen(config);
    if (passphrase !== 'the right one') {
      await recordGateOutcome(config, false);
      throw new AgentSecretsError('unlock_failed', 'wrong passphrase');
    }
    await recordGateOutcome(config, true);
  };
  return {
    allowlistAdd: refuse,
    allowlistRemove: refuse,
    tokenIssue: refuse,
    tokenRevoke: refuse,
    // As the CLI's own commands do in strict mode: the terminal gate, with the page's passphrase.
    bindingSet: (_b, p) => gate(p),
    bindingRemove: (_b, p) => gate(p),
    approvalRuleAdd: (_r, p) => gate(p),
    approvalRuleRemove: (_id, p) => gate(p),
    approvalsConfig: (_s, p) => gate(p),
    filterFrom: () => ({}),
    approveStrict: (p) => gate(p),
  };
};
const outcome = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: unknown) => (e instanceof AgentSecretsError ? e.code : 'other'),
  );

describe('5. wrong passphrases on the dashboard', () => {
  it('with the file alone, deleting gate.json resets the back-off (the attack)', async () => {
    const home = await tempDir();
    const actions = fileGated(home);
    for (let i = 0; i < 3; i++)
      expect(await outcome(actions.approveStrict('guess', 'x'))).toBe('unlock_failed');
    expect(await outcome(actions.approveStrict('guess', 'x'))).toBe('rate_limited');
    await rm(join(home, 'gate.json'));
    expect(await outcome(actions.approveStrict('guess', 'x'))).toBe('unlock_failed');
  });

  it("the key holder's own count survives the deletion, and a burst is taken one at a time", async () => {
    const home = await tempDir();
    let clock = 1_000_000;
    const actions = guardPassphrases(fileGated(home), () => clock);
    // Ten guesses at once: only the free three reach the verification.
    const burst = await Promise.all(
      Array.from({ length: 10 }, () => outcome(actions.approveStrict('guess', 'x'))),
    );
    expect(burst.filter((o) => o === 'unlock_failed')).toHaveLength(3);
    expect(burst.filter((o) => o === 'rate_limited')).toHaveLength(7);
    await rm(join(home, 'gate.json'), { force: true });
    expect(await outcome(actions.approveStrict('guess', 'x'))).toBe('rate_limited');
    expect(await outcome(actions.approveStrict('the right one', 'x'))).toBe('rate_limited');
    // Once the wait is over, the human's passphrase works and clears the count.
    clock += 31_000;
    expect(await outcome(actions.approveStrict('the right one', 'x'))).toBe('ok');
    expect(await outcome(actions.approveStrict('guess', 'x'))).toBe('unlock_failed');
  });
});

describe('5a. every passphrase field of the dashboard shares the back-off (review finding)', () => {
  const guesses = (actions: DashboardActions) => [
    () =>
      actions.bindingSet(
        { key: 'K', project: 'p', environment: 'e', domains: ['x'], styles: '' },
        'guess',
      ),
    () => actions.bindingRemove({ key: 'K', project: 'p', environment: 'e' }, 'guess'),
    () => actions.approvalRuleAdd({ domain: 'x.example.com' }, 'guess'),
    () => actions.approvalRuleRemove('apr_x', 'guess'),
    () => actions.approvalsConfig({ askUnlisted: 'off' }, 'guess'),
  ];
  /** Shuts the back-off with three wrong guesses, then deletes gate.json as an agent can. */
  const shut = async (actions: DashboardActions, home: string) => {
    for (let i = 0; i < 3; i++) await outcome(actions.approveStrict('guess', 'x'));
    await rm(join(home, 'gate.json'), { force: true });
  };

  it("without the key holder's count, guesses go on through the binding and rule forms (the attack)", async () => {
    const home = await tempDir();
    const actions = fileGated(home);
    await shut(actions, home);
    for (const guess of guesses(actions)) {
      expect(await outcome(guess())).toBe('unlock_failed');
      await rm(join(home, 'gate.json'), { force: true });
    }
  });

  it('with it, each of them waits like the others', async () => {
    const home = await tempDir();
    const actions = guardPassphrases(fileGated(home), () => 1_000_000);
    await shut(actions, home);
    for (const guess of guesses(actions)) expect(await outcome(guess())).toBe('rate_limited');
  });
});

describe('5b. /v1/dashboard/start mints login tokens', () => {
  const noActions = {} as DashboardActions;
  const start = async (max: number | undefined) => {
    const ws = await makeWorkspace({});
    const vault = await ws.services.vault.unlock();
    const host = createDashboardHost({
      services: ws.services,
      vault,
      strict: false,
      audit: () => recorder(),
      actions: noActions,
      ...(max === undefined ? {} : { maxStartsPerMinute: max }),
    });
    const answers = [];
    for (let i = 0; i < 7; i++)
      answers.push(
        await host.endpoints('/v1/dashboard/start', {}).then(
          (r) => String(r?.login_url),
          (e: unknown) => (e instanceof AgentSecretsError ? e.code : 'other'),
        ),
      );
    await host.close();
    vault.close();
    return answers;
  };

  it('without the limit, any number of logins is handed out', async () => {
    const answers = await start(Infinity);
    expect(answers.filter((a) => a.includes('/login?token='))).toHaveLength(7);
  });

  it('with it, a few a minute', async () => {
    const answers = await start(undefined);
    expect(answers.slice(0, 5).every((a) => a.includes('/login?token='))).toBe(true);
    expect(answers.slice(5)).toEqual(['rate_limited', 'rate_limited']);
  });
});

describe('5c. "approve and add to the allowlist" adds to the call\'s own workspace (review finding)', () => {
  it('an agent that switches the selected workspace while the call waits does not move the add', async () => {
    const upstream = await startUpstream(echo);
    const ws = await makeWorkspace({
      secrets: { API_KEY: canary('SWITCH') },
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    await createApprovalsStore(ws.services.config.paths).update((f) => {
      f.ask_unlisted = true;
    });
    const vault = await ws.services.vault.unlock();
    const host = createDashboardHost({
      services: ws.services,
      vault,
      strict: false,
      audit: () => service.audit,
      actions: createDashboardActions({ services: ws.services, vault, strict: false }),
    });
    const service = await createLocalCredentialService({
      config: ws.services.config,
      workspaces: ws.services.workspaces,
      vault: ws.services.vault,
      unlock: async () => vault,
      approve: host.approve,
    });
    try {
      const call = service
        .call({
          url: `http://127.0.0.1:${upstream.port}/switched`,
          method: 'GET',
          headers: [],
          body: undefined,
          injections: [],
          target: ws.target,
          identity: { source: 'sdk' },
        })
        .then(
          (r) => r.status,
          (e: unknown) => (e instanceof AgentSecretsError ? e.code : String(e)),
        );
      await until(() => host.queue.pending().length === 1);
      // The agent: a second workspace (a team one, say), selected while the call waits.
      const other = 'ws_other';
      await ws.services.workspaces.updateWorkspacesFile((file) => ({
        ...file,
        workspaces: [
          ...file.workspaces,
          { ...file.workspaces[0]!, id: other, name: 'other', allowlist: [], allowlist_log: [] },
        ],
      }));
      await ws.services.workspaces.updateConfig((c) => ({ ...c, workspace_id: other }));
      expect((await ws.services.workspaces.currentWorkspace()).id).toBe(other);

      const waiting = host.queue.pending()[0]!;
      expect(waiting.workspace_id).toBe(ws.target.workspaceId);
      await host.queue.decide(waiting.id, 'approve_and_allow', 'tester');
      expect(await call).toBe(200);
      const all = (await ws.services.workspaces.readWorkspaces()).workspaces;
      const patterns = (id: string) =>
        all.find((w) => w.id === id)!.allowlist.map((e) => e.pattern);
      // Before the fix the host went to the selected workspace, the agent's choice.
      expect(patterns(other)).toEqual([]);
      expect(patterns(ws.target.workspaceId)).toEqual([`127.0.0.1:${upstream.port}`]);
    } finally {
      await host.close();
      await service.close();
      vault.close();
      await upstream.close();
    }
  });
});

describe('6. approve and add to the binding', () => {
  let upstream: Upstream;
  let ws: Workspace;
  let service: LocalCredentialService;
  let host: ReturnType<typeof createDashboardHost>;
  const SECRET = canary('BIND');
  beforeAll(async () => {
    upstream = await startUpstream(echo);
    ws = await makeWorkspace({
      secrets: { API_KEY: SECRET },
      allowlist: [`127.0.0.1:${upstream.port}`],
      bindings: { API_KEY: { domains: ['api.example.com'], styles: [] } },
      env: { AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' },
    });
    await createApprovalsStore(ws.services.config.paths).update((f) => {
      f.rules.push(newRule({ secret: 'API_KEY' }, 'test'));
    });
    const vault = await ws.services.vault.unlock();
    host = createDashboardHost({
      services: ws.services,
      vault,
      strict: false,
      audit: () => service.audit,
      actions: {} as DashboardActions,
    });
    service = await createLocalCredentialService({
      config: ws.services.config,
      workspaces: ws.services.workspaces,
      vault: ws.services.vault,
      unlock: async () => vault,
      approve: host.approve,
    });
  });
  afterAll(async () => {
    await host.close();
    await service.close();
    await upstream.close();
  });
  const call = (path: string) =>
    service
      .call({
        url: `http://127.0.0.1:${upstream.port}${path}`,
        method: 'GET',
        headers: [],
        body: undefined,
        injections: [{ style: 'bearer', key: 'API_KEY' }],
        target: ws.target,
        identity: { source: 'sdk' },
      })
      .then(
        (r) => r.status,
        (e: unknown) => (e instanceof AgentSecretsError ? e.code : String(e)),
      );
  const decide = async (path: string, decision: 'approve_once' | 'approve_and_bind') => {
    await until(() => host.queue.pending().some((p) => p.path === path));
    const waiting = host.queue.pending().find((p) => p.path === path)!;
    expect(waiting.decisions).toContain('approve_and_bind');
    await host.queue.decide(waiting.id, decision, 'tester');
  };

  it('names the project and environment the caller chose, so a production call does not look like a development one (review finding)', async () => {
    // The caller picks the environment (X-AS-Environment): two calls differing only there.
    const held = (environment: string) =>
      service
        .call({
          url: `http://127.0.0.1:${upstream.port}/which-env`,
          method: 'GET',
          headers: [],
          body: undefined,
          injections: [{ style: 'bearer', key: 'API_KEY' }],
          target: { ...ws.target, environment },
          identity: { source: 'sdk' },
        })
        .catch((e: unknown) => e);
    const calls = [held('development'), held('production')];
    await until(() => host.queue.pending().filter((p) => p.path === '/which-env').length === 2);
    const waiting = host.queue.pending().filter((p) => p.path === '/which-env');
    const text = (p: (typeof waiting)[number]) =>
      pendingCard('/s/x', p, 'csrf', false)
        .text.replace(/apv_\w+/g, '')
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ');
    const [dev, prod] = ['development', 'production'].map((e) =>
      waiting.find((p) => p.environment === e)!,
    );
    // Before the fix both cards read "… wants GET 127.0.0.1:…/which-env with API_KEY.".
    expect(text(dev!)).not.toBe(text(prod!));
    expect(text(prod!)).toContain('API_KEY of default/production');
    expect(text(prod!)).toContain('Approve and bind API_KEY (default/production) to this host');
    expect(describeWaiting(prod!)).toContain('secrets: API_KEY of default/production');
    // And the workspace, which the agent also picks (by switching the selection first).
    expect(text(prod!)).toContain(`In workspace ${prod!.workspace} .`);
    expect(describeWaiting(prod!)).toContain(`workspace ${prod!.workspace}`);
    for (const p of waiting) await host.queue.decide(p.id, 'deny', 'tester');
    await Promise.all(calls);
    await service.audit.flush();
    const entries = await queryNewest(ws.services.config.paths.auditDir, {}, 50);
    expect(
      entries.filter((e) => e.reason === 'approval_pending').map((e) => e.environment),
    ).toEqual(expect.arrayContaining(['development', 'production']));
  });

  it('approved once, a call to a host outside the binding still fails', async () => {
    const result = call('/once');
    await decide('/once', 'approve_once');
    expect(await result).toBe('secret_binding_mismatch');
  });

  it('approved and bound, the host joins the binding, the call goes out, and both are audited', async () => {
    const result = call('/bound');
    await decide('/bound', 'approve_and_bind');
    expect(await result).toBe(200);
    expect(upstream.seen.map((r) => r.url)).toEqual(['/bound']);
    const meta = await ws.services.vault.lookup(
      {
        workspace_id: ws.target.workspaceId,
        project_id: ws.target.projectId,
        environment: ws.target.environment,
      },
      ['API_KEY'],
    );
    expect(meta.get('API_KEY')?.binding?.domains).toEqual([
      'api.example.com',
      `127.0.0.1:${upstream.port}`,
    ]);
    await service.audit.flush();
    const entries = await queryNewest(ws.services.config.paths.auditDir, {}, 50);
    const bind = entries.find((e) => e.method === 'BIND');
    expect(bind?.reason).toBe('binding_added');
    expect(bind?.command).toMatch(
      new RegExp(
        `API_KEY bound to api.example.com, 127.0.0.1:${upstream.port} \\(was api.example.com\\): approval apv_\\w+ by tester`,
      ),
    );
    expect(entries.map((e) => e.reason)).toContain('approval_granted_bound');
    expect(JSON.stringify(entries)).not.toContain(SECRET);
  });

  it('is not offered for a call without secrets', async () => {
    const queue = createApprovalQueue({ audit: recorder() });
    const held = queue.hold(request({ secret_keys: [] }), 60_000).catch((e: unknown) => e);
    await until(() => queue.pending().length === 1);
    const [waiting] = queue.pending();
    expect(waiting!.decisions).toEqual(['approve_once', 'approve_and_allow', 'deny']);
    await expect(queue.decide(waiting!.id, 'approve_and_bind', 'tester')).rejects.toSatisfy((e) =>
      isAgentSecretsError(e, 'bad_request'),
    );
    queue.close();
    await held;
  });
});
