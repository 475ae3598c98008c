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
}

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
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}
