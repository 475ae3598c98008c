import { describe, expect, it } from 'vitest';
import type { IdentityLevel } from '../../src/audit/format.js';
import { type AgentSecretsError, isAgentSecretsError } from '../../src/core/errors.js';
import type { AgentRules } from '../../src/identity/agents.js';
import {
  createRateLimiter,
  decide,
  decideForProgram,
  globMatch,
  parseRate,
  type PolicyDecision,
  type PolicyRequest,
  type RateLimit,
} from '../../src/policy/rules.js';
import { defaultPolicy, type WorkspacePolicy } from '../../src/workspace/model.js';

const CHANGE_RULES = 'agentsecrets agent policy set';

/** Agent rules with every list empty unless given. */
function rules(over: Partial<AgentRules> = {}): AgentRules {
  return {
    allow_secrets: [],
    deny_secrets: [],
    allow_domains: [],
    methods: [],
    rate: null,
    ...over,
  };
}

interface RequestSpec {
  level?: IdentityLevel;
  /** The agent the caller names or holds a token for, with its rules (null = none). */
  agent?: { name: string; rules: AgentRules | null } | undefined;
  policy?: Partial<WorkspacePolicy>;
  keys?: string[];
  url?: string;
  method?: string;
}

/** A PolicyRequest over defaultPolicy() with the given overrides. */
function request(spec: RequestSpec = {}): PolicyRequest {
  return {
    level: spec.level ?? 'anonymous',
    agent: spec.agent,
    workspace: { ...defaultPolicy(), ...spec.policy },
    keys: spec.keys ?? ['STRIPE_KEY'],
    url: new URL(spec.url ?? 'https://api.stripe.com/v1/charges'),
    method: spec.method ?? 'GET',
  };
}

/** The AgentSecretsError `fn` throws; fails the test if it throws nothing or something else. */
function refusal(fn: () => unknown): AgentSecretsError {
  try {
    fn();
  } catch (err) {
    expect(isAgentSecretsError(err)).toBe(true);
    return err as AgentSecretsError;
  }
  throw new Error('expected a refusal, got a decision');
}

describe('globMatch', () => {
  it.each<[pattern: string, text: string, matches: boolean]>([
    ['STRIPE_*', 'STRIPE_KEY', true],
    ['STRIPE_*', 'STRIPE_', true],
    ['STRIPE_*', 'STRIPE', false],
    ['STRIPE_*', 'XSTRIPE_KEY', false],
    ['*_KEY', 'STRIPE_KEY', true],
    ['*_KEY', 'STRIPE_KEY_OLD', false],
    ['*', 'ANYTHING', true],
    ['*', '', true],
    ['KEY_?', 'KEY_1', true],
    ['KEY_?', 'KEY_', false],
    ['KEY_?', 'KEY_12', false],
    ['A.B', 'A.B', true],
    ['A.B', 'AxB', false],
    ['A+', 'AA', false],
    ['A+', 'A+', true],
    ['(A|B)', 'A', false],
    ['[AB]', 'A', false],
    ['[AB]', '[AB]', true],
    ['^A$', 'A', false],
    ['A\\d', 'A1', false],
    ['A{2}', 'AA', false],
    ['stripe_*', 'STRIPE_KEY', false],
    ['STRIPE_KEY', 'stripe_key', false],
    ['STRIPE_KEY', 'STRIPE_KEY', true],
    ['STRIPE_KEY', 'STRIPE_KEY\n', false],
  ])('%j against %j → %s', (pattern, text, matches) => {
    expect(globMatch(pattern, text)).toBe(matches);
  });
});

describe('parseRate', () => {
  it.each<[text: string, count: number, windowMs: number]>([
    ['60/min', 60, 60_000],
    ['10/s', 10, 1000],
    ['1000/hour', 1000, 3_600_000],
    ['5/day', 5, 86_400_000],
    ['3/sec', 3, 1000],
    ['7/m', 7, 60_000],
    ['2/minute', 2, 60_000],
    ['4/second', 4, 1000],
    ['9/h', 9, 3_600_000],
    ['1/d', 1, 86_400_000],
    [' 60 / min ', 60, 60_000],
  ])('accepts %j as %i per %i ms', (text, count, windowMs) => {
    const rate = parseRate(text);
    expect(rate.count).toBe(count);
    expect(rate.windowMs).toBe(windowMs);
    // The normalised text parses back to the same limit.
    expect(parseRate(rate.text)).toEqual(rate);
  });

  it.each(['0/min', '60', '60/week', 'abc', '', '-1/min', '1.5/min', '60/ms', '/min', '60/'])(
    'refuses %j with usage_error',
    (text) => {
      const err = refusal(() => parseRate(text));
      expect(err.code).toBe('usage_error');
      expect(err.message).toContain('60/min');
    },
  );
});

describe('decide: required identity level', () => {
  it.each<{ required: IdentityLevel; level: IdentityLevel; allowed: boolean; hint?: string }>([
    { required: 'anonymous', level: 'anonymous', allowed: true },
    { required: 'anonymous', level: 'declared', allowed: true },
    { required: 'anonymous', level: 'issued', allowed: true },
    { required: 'declared', level: 'anonymous', allowed: false, hint: 'X-AS-Agent-ID' },
    { required: 'declared', level: 'declared', allowed: true },
    { required: 'declared', level: 'issued', allowed: true },
    {
      required: 'issued',
      level: 'anonymous',
      allowed: false,
      hint: 'agentsecrets agent token issue',
    },
    {
      required: 'issued',
      level: 'declared',
      allowed: false,
      hint: 'agentsecrets agent token issue',
    },
    { required: 'issued', level: 'issued', allowed: true },
  ])(
    'requires $required; a $level caller → allowed: $allowed',
    ({ required, level, allowed, hint }) => {
      const req = request({
        level,
        agent: level === 'anonymous' ? undefined : { name: 'billing-bot', rules: null },
        policy: { require_identity: required },
      });
      if (allowed) {
        expect(decide(req).source).toBe('workspace-default');
        expect(decideForProgram(req).source).toBe('workspace-default');
      } else {
        for (const run of [() => decide(req), () => decideForProgram(req)]) {
          const err = refusal(run);
          expect(err.code).toBe('identity_required');
          expect(err.message).toContain(hint);
        }
      }
    },
  );
});

describe('decide: whose rules apply', () => {
  // The workspace denies Stripe keys by default; billing-bot's own rules allow them.
  const strictDefaults: Partial<WorkspacePolicy> = { default_deny_secrets: ['STRIPE_*'] };
  const billingBot = {
    name: 'billing-bot',
    rules: rules({ allow_secrets: ['STRIPE_*'], allow_domains: ['api.stripe.com'] }),
  };

  it('a DECLARED caller claiming a permissive agent name gets the workspace defaults, not its rules', () => {
    const spec: RequestSpec = { agent: billingBot, policy: strictDefaults, keys: ['STRIPE_KEY'] };

    // Declared 'billing-bot': a claim, so the workspace default deny applies.
    const claimed = request({ ...spec, level: 'declared' });
    const err = refusal(() => decide(claimed));
    expect(err.code).toBe('policy_denied');
    expect(err.message).toContain('the workspace default rules deny the secret STRIPE_KEY');
    expect(err.message).not.toContain('billing-bot');
    expect(err.context.secret).toBe('STRIPE_KEY');
    expect(refusal(() => decideForProgram(claimed)).code).toBe('policy_denied');

    // Issued 'billing-bot' (a verified token): its own rules allow the key.
    const issued = decide(request({ ...spec, level: 'issued' }));
    expect(issued.source).toBe('agent:billing-bot');
  });

  it('an ANONYMOUS caller presenting an agent record still gets the workspace defaults', () => {
    const err = refusal(() =>
      decide(request({ level: 'anonymous', agent: billingBot, policy: strictDefaults })),
    );
    expect(err.code).toBe('policy_denied');
    expect(err.message).toContain('workspace default rules');
  });

  interface Row {
    name: string;
    spec: RequestSpec;
    /** The expected decision source, or the refusal's message fragment. */
    source?: string;
    denied?: string;
  }

  const issuedAs = (agentRules: AgentRules | null, name = 'billing-bot') => ({
    level: 'issued' as const,
    agent: { name, rules: agentRules },
  });

  it.each<Row>([
    {
      name: 'issued agent: allow_secrets glob admits a matching key',
      spec: { ...issuedAs(rules({ allow_secrets: ['STRIPE_*'] })), keys: ['STRIPE_KEY'] },
      source: 'agent:billing-bot',
    },
    {
      name: 'issued agent: allow_secrets glob refuses a key outside it',
      spec: { ...issuedAs(rules({ allow_secrets: ['STRIPE_*'] })), keys: ['GITHUB_TOKEN'] },
      denied: "the rules of agent 'billing-bot' do not allow the secret GITHUB_TOKEN",
    },
    {
      name: 'issued agent: one key outside allow_secrets refuses the whole call',
      spec: {
        ...issuedAs(rules({ allow_secrets: ['STRIPE_*'] })),
        keys: ['STRIPE_KEY', 'AWS_SECRET'],
      },
      denied: 'AWS_SECRET',
    },
    {
      name: 'issued agent: deny wins over allow',
      spec: {
        ...issuedAs(rules({ allow_secrets: ['STRIPE_*'], deny_secrets: ['STRIPE_LIVE_*'] })),
        keys: ['STRIPE_LIVE_KEY'],
      },
      denied: "the rules of agent 'billing-bot' deny the secret STRIPE_LIVE_KEY",
    },
    {
      name: 'issued agent: deny wins over an allow-everything glob',
      spec: {
        ...issuedAs(rules({ allow_secrets: ['*'], deny_secrets: ['STRIPE_KEY'] })),
        keys: ['STRIPE_KEY'],
      },
      denied: 'deny the secret STRIPE_KEY',
    },
    {
      name: 'issued agent: allow_domains exact host admits it',
      spec: { ...issuedAs(rules({ allow_domains: ['api.stripe.com'] })) },
      source: 'agent:billing-bot',
    },
    {
      name: 'issued agent: allow_domains exact host refuses another host',
      spec: {
        ...issuedAs(rules({ allow_domains: ['api.stripe.com'] })),
        url: 'https://api.github.com/repos',
      },
      denied: 'do not allow api.github.com',
    },
    {
      name: 'issued agent: allow_domains refuses a look-alike suffix host',
      spec: {
        ...issuedAs(rules({ allow_domains: ['api.stripe.com'] })),
        url: 'https://api.stripe.com.evil.example/',
      },
      denied: 'do not allow api.stripe.com.evil.example',
    },
    {
      name: 'issued agent: allow_domains wildcard admits one label',
      spec: {
        ...issuedAs(rules({ allow_domains: ['*.stripe.com'] })),
        url: 'https://files.stripe.com/x',
      },
      source: 'agent:billing-bot',
    },
    {
      name: 'issued agent: allow_domains wildcard does not admit the bare domain',
      spec: {
        ...issuedAs(rules({ allow_domains: ['*.stripe.com'] })),
        url: 'https://stripe.com/',
      },
      denied: 'do not allow stripe.com',
    },
    {
      name: 'issued agent: allow_domains wildcard does not admit two labels',
      spec: {
        ...issuedAs(rules({ allow_domains: ['*.stripe.com'] })),
        url: 'https://a.b.stripe.com/',
      },
      denied: 'do not allow a.b.stripe.com',
    },
    {
      name: 'issued agent: allow_domains without a port refuses a non-default port',
      spec: {
        ...issuedAs(rules({ allow_domains: ['api.stripe.com'] })),
        url: 'https://api.stripe.com:8443/',
      },
      denied: 'do not allow api.stripe.com',
    },
    {
      name: 'issued agent: methods admit a listed method (any case in the request)',
      spec: { ...issuedAs(rules({ methods: ['GET', 'POST'] })), method: 'post' },
      source: 'agent:billing-bot',
    },
    {
      name: 'issued agent: methods refuse an unlisted method',
      spec: { ...issuedAs(rules({ methods: ['GET'] })), method: 'DELETE' },
      denied: "the rules of agent 'billing-bot' do not allow DELETE",
    },
    {
      name: 'issued agent without own rules gets the defaults (denied)',
      spec: { ...issuedAs(null), policy: { default_deny_secrets: ['STRIPE_*'] } },
      denied: 'the workspace default rules deny the secret STRIPE_KEY',
    },
    {
      name: 'issued agent without own rules gets the defaults (allowed)',
      spec: { ...issuedAs(null), policy: { default_allow_secrets: ['STRIPE_*'] } },
      source: 'workspace-default',
    },
    {
      name: 'issued agent with own rules is not bound by the default deny',
      spec: {
        ...issuedAs(rules({ allow_secrets: ['STRIPE_*'] })),
        policy: { default_deny_secrets: ['STRIPE_*'] },
      },
      source: 'agent:billing-bot',
    },
    {
      name: 'declared caller: default allow_domains apply, not the claimed agent’s',
      spec: {
        level: 'declared',
        agent: { name: 'billing-bot', rules: rules({ allow_domains: ['api.github.com'] }) },
        policy: { default_allow_domains: ['api.stripe.com'] },
        url: 'https://api.github.com/',
      },
      denied: 'the workspace default rules do not allow api.github.com',
    },
    {
      name: 'declared caller: default methods apply, not the claimed agent’s',
      spec: {
        level: 'declared',
        agent: { name: 'billing-bot', rules: rules({ methods: ['GET', 'POST'] }) },
        policy: { default_methods: ['GET'] },
        method: 'POST',
      },
      denied: 'the workspace default rules do not allow POST',
    },
    {
      name: 'anonymous caller: default deny applies',
      spec: { level: 'anonymous', policy: { default_deny_secrets: ['STRIPE_*'] } },
      denied: 'the workspace default rules deny the secret STRIPE_KEY',
    },
    {
      name: 'anonymous caller: default allow_secrets refuses a key outside it',
      spec: {
        level: 'anonymous',
        policy: { default_allow_secrets: ['GITHUB_*'] },
        keys: ['STRIPE_KEY'],
      },
      denied: 'the workspace default rules do not allow the secret STRIPE_KEY',
    },
    {
      name: 'anonymous caller: no defaults allows',
      spec: { level: 'anonymous' },
      source: 'workspace-default',
    },
  ])('$name', ({ spec, source, denied }) => {
    const req = request(spec);
    if (denied === undefined) {
      const decision = decide(req);
      expect(decision.source).toBe(source);
    } else {
      const err = refusal(() => decide(req));
      expect(err.code).toBe('policy_denied');
      expect(err.message).toContain(denied);
      expect(err.message).toContain(CHANGE_RULES);
    }
  });
});

describe('decide: rate buckets', () => {
  const limited: Partial<WorkspacePolicy> = { default_rate: '2/min' };

  it.each<{ name: string; spec: RequestSpec; bucket: string | undefined }>([
    {
      name: 'anonymous',
      spec: { level: 'anonymous', policy: limited },
      bucket: 'workspace-default',
    },
    {
      name: 'declared as alice',
      spec: { level: 'declared', agent: { name: 'alice', rules: null }, policy: limited },
      bucket: 'workspace-default',
    },
    {
      name: 'declared as a rate-limited agent name',
      spec: {
        level: 'declared',
        agent: { name: 'billing-bot', rules: rules({ rate: '100/min' }) },
        policy: limited,
      },
      bucket: 'workspace-default',
    },
    {
      name: 'issued without own rules',
      spec: { level: 'issued', agent: { name: 'billing-bot', rules: null }, policy: limited },
      bucket: 'workspace-default',
    },
    {
      name: 'issued with own rate',
      spec: {
        level: 'issued',
        agent: { name: 'billing-bot', rules: rules({ rate: '100/min' }) },
        policy: limited,
      },
      bucket: 'agent:billing-bot',
    },
    {
      name: 'issued with own rules but no rate (unlimited)',
      spec: { level: 'issued', agent: { name: 'billing-bot', rules: rules() }, policy: limited },
      bucket: undefined,
    },
    { name: 'no default rate', spec: { level: 'anonymous' }, bucket: undefined },
  ])('$name → bucket $bucket', ({ spec, bucket }) => {
    const req = request(spec);
    for (const decision of [decide(req), decideForProgram(req)]) {
      expect(decision.rate?.bucket).toBe(bucket);
    }
  });

  it('changing the claimed name does not reset the shared limit of non-issued callers', () => {
    const limiter = createRateLimiter(() => 1_000);
    const charge = (decision: PolicyDecision) =>
      limiter.take(decision.rate!.bucket, decision.rate!.limit);
    const as = (level: IdentityLevel, name?: string) =>
      decide(
        request({
          level,
          agent: name === undefined ? undefined : { name, rules: null },
          policy: limited,
        }),
      );
    expect(charge(as('declared', 'alice'))).toBe(true);
    expect(charge(as('anonymous'))).toBe(true);
    expect(charge(as('declared', 'bob'))).toBe(false);
    expect(charge(as('declared', 'mallory-1'))).toBe(false);
    expect(charge(as('anonymous'))).toBe(false);
    // An issued agent with its own rate has its own bucket.
    const issued = decide(
      request({
        level: 'issued',
        agent: { name: 'billing-bot', rules: rules({ rate: '1/min' }) },
        policy: limited,
      }),
    );
    expect(charge(issued)).toBe(true);
  });

  it('an invalid stored rate is a usage_error, never a silent "unlimited"', () => {
    const err = refusal(() => decide(request({ policy: { default_rate: 'lots' } })));
    expect(err.code).toBe('usage_error');
  });
});

describe('decideForProgram', () => {
  it.each<{ name: string; spec: RequestSpec; who: string }>([
    {
      name: 'default allow_domains',
      spec: { policy: { default_allow_domains: ['api.stripe.com'] } },
      who: 'the workspace default rules',
    },
    {
      name: 'default methods',
      spec: { policy: { default_methods: ['GET'] } },
      who: 'the workspace default rules',
    },
    {
      name: 'issued agent allow_domains',
      spec: {
        level: 'issued',
        agent: { name: 'billing-bot', rules: rules({ allow_domains: ['*.stripe.com'] }) },
      },
      who: "the rules of agent 'billing-bot'",
    },
    {
      name: 'issued agent methods',
      spec: { level: 'issued', agent: { name: 'billing-bot', rules: rules({ methods: ['GET'] }) } },
      who: "the rules of agent 'billing-bot'",
    },
    {
      name: 'declared caller under default domains, claiming an unrestricted agent',
      spec: {
        level: 'declared',
        agent: { name: 'billing-bot', rules: rules() },
        policy: { default_allow_domains: ['api.stripe.com'] },
      },
      who: 'the workspace default rules',
    },
  ])('refuses when $name restrict where values go', ({ spec, who }) => {
    const { url: _url, method: _method, ...req } = request(spec);
    const err = refusal(() => decideForProgram(req));
    expect(err.code).toBe('policy_denied');
    expect(err.message).toContain(who);
    expect(err.message).toContain('use `call` or the proxy');
    expect(err.message).toContain(CHANGE_RULES);
  });

  it.each<{ name: string; spec: RequestSpec; source: string }>([
    { name: 'anonymous, no defaults', spec: {}, source: 'workspace-default' },
    {
      name: 'issued agent restricting only secrets',
      spec: {
        level: 'issued',
        agent: { name: 'billing-bot', rules: rules({ allow_secrets: ['STRIPE_*'] }) },
      },
      source: 'agent:billing-bot',
    },
    {
      name: 'issued agent whose rules are unrestricted while the defaults restrict domains',
      spec: {
        level: 'issued',
        agent: { name: 'billing-bot', rules: rules() },
        policy: { default_allow_domains: ['api.stripe.com'] },
      },
      source: 'agent:billing-bot',
    },
  ])('allows $name', ({ spec, source }) => {
    const { url: _url, method: _method, ...req } = request(spec);
    expect(decideForProgram(req).source).toBe(source);
  });

  it.each<{ name: string; spec: RequestSpec; denied: string }>([
    {
      name: 'default deny',
      spec: { policy: { default_deny_secrets: ['STRIPE_*'] }, keys: ['STRIPE_KEY'] },
      denied: 'the workspace default rules deny the secret STRIPE_KEY',
    },
    {
      name: 'agent allow list',
      spec: {
        level: 'issued',
        agent: { name: 'billing-bot', rules: rules({ allow_secrets: ['STRIPE_*'] }) },
        keys: ['STRIPE_KEY', 'AWS_SECRET'],
      },
      denied: "the rules of agent 'billing-bot' do not allow the secret AWS_SECRET",
    },
    {
      name: 'declared claim of a permissive agent under a default deny',
      spec: {
        level: 'declared',
        agent: { name: 'billing-bot', rules: rules({ allow_secrets: ['STRIPE_*'] }) },
        policy: { default_deny_secrets: ['STRIPE_*'] },
      },
      denied: 'the workspace default rules deny the secret STRIPE_KEY',
    },
  ])('still applies secret rules: $name', ({ spec, denied }) => {
    const { url: _url, method: _method, ...req } = request(spec);
    const err = refusal(() => decideForProgram(req));
    expect(err.code).toBe('policy_denied');
    expect(err.message).toContain(denied);
  });
});

describe('createRateLimiter', () => {
  const THREE_PER_MIN: RateLimit = parseRate('3/min');

  function clocked(start = 1_000_000) {
    const clock = { now: start };
    return { clock, limiter: createRateLimiter(() => clock.now) };
  }

  it('admits N calls in a window, refuses N+1 without counting it, and slides', () => {
    const { clock, limiter } = clocked();
    expect([1, 2, 3].map(() => limiter.take('b', THREE_PER_MIN))).toEqual([true, true, true]);
    expect(limiter.take('b', THREE_PER_MIN)).toBe(false);

    // Refusals are not recorded: retrying often does not push the window out.
    clock.now += 30_000;
    for (let i = 0; i < 10; i++) expect(limiter.take('b', THREE_PER_MIN)).toBe(false);

    // One window after the first three calls, they have all slid out.
    clock.now += 30_000;
    expect([1, 2, 3].map(() => limiter.take('b', THREE_PER_MIN))).toEqual([true, true, true]);
    expect(limiter.take('b', THREE_PER_MIN)).toBe(false);
  });

  it('slides call by call rather than resetting at fixed boundaries', () => {
    const { clock, limiter } = clocked();
    expect(limiter.take('b', THREE_PER_MIN)).toBe(true); // t = 0
    clock.now += 20_000;
    expect(limiter.take('b', THREE_PER_MIN)).toBe(true); // t = 20 s
    clock.now += 20_000;
    expect(limiter.take('b', THREE_PER_MIN)).toBe(true); // t = 40 s
    clock.now += 19_999;
    expect(limiter.take('b', THREE_PER_MIN)).toBe(false); // t = 59.999 s: all three still count
    clock.now += 1;
    expect(limiter.take('b', THREE_PER_MIN)).toBe(true); // t = 60 s: the first has left
    expect(limiter.take('b', THREE_PER_MIN)).toBe(false);
    clock.now += 20_000;
    expect(limiter.take('b', THREE_PER_MIN)).toBe(true); // t = 80 s: the second has left
  });

  it('keeps separate buckets independent', () => {
    const { limiter } = clocked();
    for (let i = 0; i < 3; i++) expect(limiter.take('agent:a', THREE_PER_MIN)).toBe(true);
    expect(limiter.take('agent:a', THREE_PER_MIN)).toBe(false);
    for (let i = 0; i < 3; i++) expect(limiter.take('agent:b', THREE_PER_MIN)).toBe(true);
    expect(limiter.take('agent:b', THREE_PER_MIN)).toBe(false);
    expect(limiter.take('workspace-default', THREE_PER_MIN)).toBe(true);
  });

  it('admits exactly N of many concurrent calls', async () => {
    const { limiter } = clocked();
    const limit = parseRate('25/min');
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        // Interleave the callers: each waits a different number of turns before taking.
        for (let turn = 0; turn < i % 7; turn++) await Promise.resolve();
        return limiter.take('shared', limit);
      }),
    );
    expect(results.filter(Boolean)).toHaveLength(25);
    expect(limiter.take('shared', limit)).toBe(false);
  });
});

describe('createRateLimiter against the sliding-window definition', () => {
  // The definition: a call is taken when fewer than `count` calls were taken in the last
  // `windowMs` (times strictly inside the window); the limiter keeps its window in place.
  function reference() {
    const taken: number[] = [];
    return (t: number, count: number, windowMs: number) => {
      const live = taken.filter((s) => s > t - windowMs).length;
      if (live >= count) return false;
      taken.push(t);
      return true;
    };
  }

  it('takes and refuses exactly as the definition over 20,000 calls, compactions included', () => {
    let t = 1_000_000;
    const limiter = createRateLimiter(() => t);
    const limit = parseRate('50/s');
    const expected = reference();
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      // Bursts and pauses: runs of calls 0–3 ms apart, now and then a gap past the window.
      t += next() < 0.01 ? 1000 + Math.floor(next() * 500) : Math.floor(next() * 4);
      const want = expected(t, limit.count, limit.windowMs);
      expect(limiter.take('bucket', limit)).toBe(want);
      if (!want) refused++;
    }
    // Control: both answers occur many times.
    expect(refused).toBeGreaterThan(1000);
    expect(20_000 - refused).toBeGreaterThan(1000);
  });
});
