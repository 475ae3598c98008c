import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** Every path in the state folder (DESIGN §4). */
export interface Paths {
  readonly home: string;
  readonly config: string;
  readonly workspaces: string;
  readonly vault: string;
  readonly agents: string;
  readonly auditDir: string;
  readonly proxy: string;
  readonly socket: string;
}

/** The environments a record can belong to. */
export const ENVIRONMENTS = ['development', 'staging', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** True when `name` is one of the three environments. */
export function isEnvironment(name: string): name is Environment {
  return (ENVIRONMENTS as readonly string[]).includes(name);
}

/**
 * The settings agentsecrets reads from its environment. This is the only place that
 * reads `process.env`; everything else receives a Config.
 */
export interface Config {
  readonly paths: Paths;
  readonly cwd: string;
  /** `AGENTSECRETS_ENV`, the first choice when selecting an environment. */
  readonly envOverride: string | undefined;
  /** `AGENTSECRETS_PASSPHRASE`, for automation on machines without a keychain. */
  readonly passphrase: string | undefined;
  /** `AGENTSECRETS_DEBUG=1` prints stack traces of unexpected errors on stderr. */
  readonly debug: boolean;
  /** `CI` is set: never wait for a human. */
  readonly ci: boolean;
  /** The raw environment, handed to child processes and to later settings. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `AGENTSECRETS_ALLOW_PRIVATE`: CIDRs the SSRF guard opens, for development and tests. */
  readonly allowPrivate: string;
  /** `AGENTSECRETS_CA_FILE`: extra PEM certificates to trust for upstream HTTPS. */
  readonly caFile: string | undefined;
  /** Proxy limits (DESIGN §7), each overridable by an environment variable. */
  readonly limits: Limits;
  /** `AGENTSECRETS_AUDIT_FSYNC`: always | interval (default) | never. */
  readonly auditFsync: 'always' | 'interval' | 'never';
  /**
   * `AGENTSECRETS_SCRUB_WINDOW`: runs of this many consecutive bytes of a value are scrubbed
   * (default 12, never below 8).
   */
  readonly scrubWindow: number;
}

/** Size and time limits on forwarded calls. */
export interface Limits {
  maxRequestBytes: number;
  maxResponseBytes: number;
  connectTimeoutMs: number;
  headersTimeoutMs: number;
  idleTimeoutMs: number;
  totalTimeoutMs: number;
}

/** The defaults, and the variables that override them. */
export const DEFAULT_LIMITS: Limits = {
  maxRequestBytes: 10 * 1024 * 1024,
  maxResponseBytes: 50 * 1024 * 1024,
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 30_000,
  idleTimeoutMs: 30_000,
  totalTimeoutMs: 120_000,
};

const LIMIT_VARIABLES: Record<keyof Limits, string> = {
  maxRequestBytes: 'AGENTSECRETS_MAX_REQUEST_BYTES',
  maxResponseBytes: 'AGENTSECRETS_MAX_RESPONSE_BYTES',
  connectTimeoutMs: 'AGENTSECRETS_CONNECT_TIMEOUT_MS',
  headersTimeoutMs: 'AGENTSECRETS_HEADERS_TIMEOUT_MS',
  idleTimeoutMs: 'AGENTSECRETS_IDLE_TIMEOUT_MS',
  totalTimeoutMs: 'AGENTSECRETS_TOTAL_TIMEOUT_MS',
};

/** Resolves the state folder's paths from its root. */
export function resolvePaths(home: string): Paths {
  const root = resolve(home);
  return {
    home: root,
    config: join(root, 'config.json'),
    workspaces: join(root, 'workspaces.json'),
    vault: join(root, 'vault.json'),
    agents: join(root, 'agents.json'),
    auditDir: join(root, 'audit'),
    proxy: join(root, 'proxy.json'),
    socket: join(root, 'agentsecrets.sock'),
  };
}

/** Builds the Config from an environment (default `process.env`) and a working folder. */
export function loadConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
  cwd: string = process.cwd(),
): Config {
  const home = nonEmpty(env.AGENTSECRETS_HOME) ?? join(homedir(), '.agentsecrets');
  return {
    paths: resolvePaths(home),
    cwd,
    envOverride: nonEmpty(env.AGENTSECRETS_ENV),
    passphrase: env.AGENTSECRETS_PASSPHRASE,
    debug: env.AGENTSECRETS_DEBUG === '1',
    ci: nonEmpty(env.CI) !== undefined && env.CI !== 'false' && env.CI !== '0',
    env,
    allowPrivate: env.AGENTSECRETS_ALLOW_PRIVATE?.trim() ?? '',
    caFile: nonEmpty(env.AGENTSECRETS_CA_FILE),
    limits: loadLimits(env),
    auditFsync:
      env.AGENTSECRETS_AUDIT_FSYNC === 'always' || env.AGENTSECRETS_AUDIT_FSYNC === 'never'
        ? env.AGENTSECRETS_AUDIT_FSYNC
        : 'interval',
    scrubWindow: Math.max(8, Number.parseInt(env.AGENTSECRETS_SCRUB_WINDOW ?? '', 10) || 12),
  };
}

function loadLimits(env: Readonly<Record<string, string | undefined>>): Limits {
  const limits = { ...DEFAULT_LIMITS };
  for (const [field, variable] of Object.entries(LIMIT_VARIABLES) as [keyof Limits, string][]) {
    const raw = nonEmpty(env[variable]);
    if (raw === undefined) continue;
    const value = Number(raw);
    // A bad value keeps the default rather than disabling a limit.
    if (Number.isSafeInteger(value) && value > 0) limits[field] = value;
  }
  return limits;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
