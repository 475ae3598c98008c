import { AgentSecretsError, UsageError } from '../core/errors.js';
import type { IdentityLevel } from '../audit/format.js';
import type { AgentRules } from '../identity/agents.js';
import type { WorkspacePolicy } from '../workspace/model.js';
import { domainPatterns, matchAllowlist } from './allowlist.js';

/**
 * Policy decisions (DESIGN §6). Pure: the caller, the rules and the request in; a decision
 * out. Per-agent rules bind only issued identities; anonymous and declared callers fall under
 * the workspace's default rules, so claiming an agent's name never grants its rights.
 */

const LEVELS: Record<IdentityLevel, number> = { anonymous: 0, declared: 1, issued: 2 };

/** What the decision looks at. */
export interface PolicyRequest {
  level: IdentityLevel;
  /** The agent whose rules apply (only for `issued`), with its rules if it has any. */
  agent: { name: string; rules: AgentRules | null } | undefined;
  workspace: WorkspacePolicy;
  keys: readonly string[];
  url: URL;
  method: string;
}

/** Which rule set applied, and the rate limit (if any) to charge. */
export interface PolicyDecision {
  /** `agent:<name>` or `workspace-default`. */
  source: string;
  rate: { bucket: string; limit: RateLimit } | undefined;
}

/** A parsed rate such as `60/min`. */
export interface RateLimit {
  count: number;
  windowMs: number;
  text: string;
}

/** Decides; throws `identity_required` or `policy_denied` with a message saying what to do. */
export function decide(request: PolicyRequest): PolicyDecision {
  const { rules, source, who } = applicableRules(request);
  checkSecrets(rules, who, request.keys);
  if (rules.allow_domains.length > 0) {
    const patterns = domainPatterns(rules.allow_domains);
    if (matchAllowlist(request.url, patterns) === undefined) {
      throw denied(
        `${who} do not allow ${request.url.hostname} (allowed: ${rules.allow_domains.join(', ')})`,
      );
    }
  }
  if (rules.methods.length > 0 && !rules.methods.includes(request.method.toUpperCase())) {
    throw denied(
      `${who} do not allow ${request.method.toUpperCase()} (allowed: ${rules.methods.join(', ')})`,
    );
  }
  return {
    source,
    // Non-issued callers share one bucket: changing a claimed name cannot reset a limit.
    rate: rules.rate === null ? undefined : { bucket: source, limit: rateOf(rules.rate) },
  };
}

const parsedRates = new Map<string, RateLimit>();
/** parseRate, remembered (a bounded memo: rates are few, written by humans). */
function rateOf(text: string): RateLimit {
  let rate = parsedRates.get(text);
  if (rate === undefined) {
    rate = parseRate(text);
    if (parsedRates.size >= 256) parsedRates.clear();
    parsedRates.set(text, rate);
  }
  return rate;
}

/**
 * The decision for `env`, which hands values to a program rather than to one URL: identity
 * and secret rules apply; rules that restrict domains or methods cannot be honoured there,
 * so a caller under such rules is refused.
 */
export function decideForProgram(request: Omit<PolicyRequest, 'url' | 'method'>): PolicyDecision {
  const { rules, source, who } = applicableRules(request);
  checkSecrets(rules, who, request.keys);
  if (rules.allow_domains.length > 0 || rules.methods.length > 0) {
    throw denied(
      `${who} restrict domains or methods, and \`env\` hands values to a program that can send them anywhere; use \`call\` or the proxy`,
    );
  }
  return {
    source,
    rate: rules.rate === null ? undefined : { bucket: source, limit: parseRate(rules.rate) },
  };
}

function applicableRules(request: Omit<PolicyRequest, 'url' | 'method'>): {
  rules: AgentRules;
  source: string;
  who: string;
} {
  const required = request.workspace.require_identity;
  if (LEVELS[request.level] < LEVELS[required]) {
    throw new AgentSecretsError(
      'identity_required',
      required === 'issued'
        ? 'this workspace requires an issued agent token: a human runs `agentsecrets agent token issue NAME` and gives the token to the agent (X-AS-Agent-Token or AGENTSECRETS_AGENT_TOKEN)'
        : 'this workspace requires callers to name themselves: send X-AS-Agent-ID (or --agent-id), or an agent token',
    );
  }
  const agentRules =
    request.level === 'issued' && request.agent?.rules ? request.agent.rules : undefined;
  if (agentRules !== undefined) {
    return {
      rules: agentRules,
      source: `agent:${request.agent!.name}`,
      who: `the rules of agent '${request.agent!.name}'`,
    };
  }
  return {
    rules: {
      allow_secrets: request.workspace.default_allow_secrets,
      deny_secrets: request.workspace.default_deny_secrets,
      allow_domains: request.workspace.default_allow_domains,
      methods: request.workspace.default_methods,
      rate: request.workspace.default_rate,
    },
    source: 'workspace-default',
    who: 'the workspace default rules',
  };
}

function checkSecrets(rules: AgentRules, who: string, keys: readonly string[]): void {
  // Deny wins.
  for (const key of keys) {
    if (rules.deny_secrets.some((pattern) => globMatch(pattern, key))) {
      throw denied(`${who} deny the secret ${key}`, key);
    }
    if (
      rules.allow_secrets.length > 0 &&
      !rules.allow_secrets.some((pattern) => globMatch(pattern, key))
    ) {
      throw denied(
        `${who} do not allow the secret ${key} (allowed: ${rules.allow_secrets.join(', ')})`,
        key,
      );
    }
  }
}

// Compiled patterns (a bounded memo): the same rules are matched on every call. A RegExp
// without the g or y flag keeps no state between test() calls, so one can be shared.
const globs = new Map<string, RegExp>();

/** `*` matches any run of characters, `?` one; everything else is literal. Case-sensitive. */
export function globMatch(pattern: string, text: string): boolean {
  let compiled = globs.get(pattern);
  if (compiled === undefined) {
    const source = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    compiled = new RegExp(`^${source}$`);
    if (globs.size >= 1024) globs.clear();
    globs.set(pattern, compiled);
  }
  return compiled.test(text);
}

/** Parses `60/min`, `10/s`, `1000/hour`, `5000/day` (also `sec`, `second`, `m`, `minute`, `h`). */
export function parseRate(text: string): RateLimit {
  const match = /^\s*(\d+)\s*\/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$/.exec(text);
  if (match === null || Number(match[1]) < 1) {
    throw new UsageError(`a rate looks like 60/min, 10/s or 1000/hour, not '${text}'`);
  }
  const unit = match[2]!;
  const windowMs = unit.startsWith('s')
    ? 1000
    : unit.startsWith('m')
      ? 60_000
      : unit.startsWith('h')
        ? 3_600_000
        : 86_400_000;
  return { count: Number(match[1]), windowMs, text: `${match[1]}/${unit}` };
}

function denied(message: string, secret?: string): AgentSecretsError {
  return new AgentSecretsError(
    'policy_denied',
    `${message}; a human can change it with \`agentsecrets agent policy set\` or \`agentsecrets workspace policy set\``,
    {
      context: secret === undefined ? {} : { secret },
    },
  );
}

/** Counts calls per bucket in a sliding window. One per process: the key holder's is shared. */
export interface RateLimiter {
  /** Records a call if the bucket has room; returns false (and records nothing) otherwise. */
  take(bucket: string, limit: RateLimit): boolean;
}

/** A sliding-window limiter: at most `count` calls in any `windowMs`. */
export function createRateLimiter(now: () => number = () => Date.now()): RateLimiter {
  // Per bucket, the times of the calls taken, oldest first; `head` is the first one still in
  // the window. Expired times leave from the front (no copy of the window per call); the list
  // is compacted once most of it has expired. Times are taken in order; should the clock step
  // back, a newer time can sit behind an older one and is kept until the older one expires:
  // the limiter then counts more calls, never fewer.
  const windows = new Map<string, { stamps: number[]; head: number }>();
  return {
    take(bucket, limit) {
      const t = now();
      const key = `${bucket}\u0000${limit.text}`;
      let window = windows.get(key);
      if (window === undefined) {
        window = { stamps: [], head: 0 };
        windows.set(key, window);
      }
      const { stamps } = window;
      const cutoff = t - limit.windowMs;
      while (window.head < stamps.length && !(stamps[window.head]! > cutoff)) window.head++;
      if (window.head > 32 && window.head * 2 > stamps.length) {
        stamps.splice(0, window.head);
        window.head = 0;
      }
      if (stamps.length - window.head >= limit.count) return false;
      stamps.push(t);
      return true;
    },
  };
}
