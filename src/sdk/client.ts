import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { injectionHeaders, injectionsFrom } from '../app/call-request.js';
import { loadConfig } from '../core/config.js';
import { DECLARED_NAME_RULE, isDeclaredName } from '../identity/caller.js';
import { liveProxyState } from '../app/key-holder.js';
import { errorFromProxy, InvalidAgentIdError, ProxyUnavailableError } from './errors.js';

export interface AgentSecretsOptions {
  /** A name to declare (recorded as a claim; grants nothing): 1-64 of `A-Za-z0-9._-`. */
  agentId?: string;
  /** An issued token (`agt_…`): verified by the proxy, yields `issued`. */
  agentToken?: string;
  /** The proxy's port; default from proxy.json, else 8765. */
  port?: number;
  /** Environment to use (development, staging, production); default: the proxy's. */
  environment?: string;
  /** Project (by name) to use; default: the proxy's. */
  project?: string;
  /** State folder; default AGENTSECRETS_HOME or ~/.agentsecrets. */
  home?: string;
  /** Start `agentsecrets proxy start` in the background when none runs. Default false. */
  autoStart?: boolean;
  /** Whole-call timeout in ms. Default 120 s. */
  timeoutMs?: number;
}

/** One call: the URL, and which secrets go where, by key name. */
export interface CallOptions {
  url: string;
  method?: string;
  /** A string or Buffer is sent as is; any other value as JSON. */
  body?: string | Buffer | object;
  /** Ordinary headers, sent as given. */
  headers?: Record<string, string>;
  bearer?: string;
  basic?: string;
  /** Header name → key. */
  header?: Record<string, string>;
  /** Query parameter → key. */
  query?: Record<string, string>;
  /** Dotted JSON path → key. */
  bodyField?: Record<string, string>;
  /** Form field → key. */
  formField?: Record<string, string>;
}

/** How `spawn` starts a program under `agentsecrets run`. */
export interface SpawnOptions {
  /** Keys to give placeholders for (default: every key of the selection). */
  only?: string[];
  cwd?: string;
  /** The program's base environment (default process.env); run adds placeholders and proxy. */
  env?: NodeJS.ProcessEnv;
  stdio?: StdioOptions;
}

/** A (redacted) response. */
export interface CallResponse {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
  text(): string;
  json<T = unknown>(): T;
  redacted: boolean;
  durationMs: number;
  requestId: string;
}

const DEFAULT_PORT = 8765;

/**
 * The TypeScript client: talks to the local agentsecrets proxy, reading its port and session
 * token from proxy.json itself. It never sees a value: the proxy injects secrets by name and
 * returns the response with any echo of them replaced.
 */
export class AgentSecrets {
  readonly #options: AgentSecretsOptions;
  readonly #home: ReturnType<typeof loadConfig>['paths'];
  readonly #agent = new Agent({ keepAlive: true });

  constructor(options: AgentSecretsOptions = {}) {
    // Refused here rather than on the first call: the name is fixed for the client's life.
    if (
      options.agentId !== undefined &&
      options.agentId !== '' &&
      !isDeclaredName(options.agentId)
    ) {
      throw new InvalidAgentIdError(
        'invalid_agent_id',
        `invalid agentId: use ${DECLARED_NAME_RULE}; or leave it out to be anonymous`,
        { status: 400 },
      );
    }
    this.#options = options;
    const env =
      options.home === undefined
        ? process.env
        : { ...process.env, AGENTSECRETS_HOME: options.home };
    this.#home = loadConfig(env).paths;
  }

  /** Makes an authenticated call through the proxy. Refusals throw typed errors. */
  async call(options: CallOptions): Promise<CallResponse> {
    const { port, sessionToken } = await this.#endpoint();
    const headers: Record<string, string> = {
      ...(options.headers ?? {}),
      'X-AS-Target-URL': options.url,
    };
    if (options.method !== undefined) headers['X-AS-Method'] = options.method.toUpperCase();
    if (sessionToken !== null) headers['X-AS-Session-Token'] = sessionToken;
    if (this.#options.agentToken !== undefined)
      headers['X-AS-Agent-Token'] = this.#options.agentToken;
    if (this.#options.agentId !== undefined) headers['X-AS-Agent-ID'] = this.#options.agentId;
    if (this.#options.project !== undefined) headers['X-AS-Project'] = this.#options.project;
    if (this.#options.environment !== undefined)
      headers['X-AS-Environment'] = this.#options.environment;
    const injections = injectionsFrom({
      ...options,
      body: options.bodyField,
      form: options.formField,
    });
    for (const [name, key] of injectionHeaders(injections)) headers[name] = key;
    let body: Buffer | undefined;
    if (options.body !== undefined) {
      if (typeof options.body === 'string' || Buffer.isBuffer(options.body))
        body = Buffer.from(options.body);
      else {
        body = Buffer.from(JSON.stringify(options.body));
        headers['Content-Type'] ??= 'application/json';
      }
    }
    const started = performance.now();
    const response = await this.#send(port, headers, options.method ?? 'GET', body);
    const durationMs = performance.now() - started;
    const requestId = String(response.headers['x-as-request-id'] ?? '');
    if (isProxyError(response.headers)) {
      throw errorFromProxy(
        response.status,
        JSON.parse(response.body.toString('utf8')) as Record<string, unknown>,
      );
    }
    const text = () => response.body.toString('utf8');
    return {
      status: response.status,
      headers: response.headers,
      body: response.body,
      text,
      json: <T>() => JSON.parse(text()) as T,
      redacted: response.headers['x-as-redacted'] === 'true',
      durationMs,
      requestId,
    };
  }

  /** Whether a proxy is running, and where. */
  async status(): Promise<{ running: boolean; port: number | null; pid: number | null }> {
    const state = await liveProxyState(this.#home);
    if (state === undefined) return { running: false, port: null, pid: null };
    return { running: await this.#healthy(state.port), port: state.port, pid: state.pid };
  }

  /** Starts a proxy in the background (it unlocks the vault: keychain, or AGENTSECRETS_PASSPHRASE). */
  async startProxy(): Promise<void> {
    const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
    const env = { ...process.env, AGENTSECRETS_HOME: this.#home.home };
    const child = spawn(
      process.execPath,
      [cli, 'proxy', 'start', '--port', String(this.#options.port ?? DEFAULT_PORT)],
      {
        env,
        detached: true,
        stdio: 'ignore',
      },
    );
    child.unref();
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const state = await liveProxyState(this.#home);
      if (state !== undefined && state.pid === child.pid && (await this.#healthy(state.port)))
        return;
      if (child.exitCode !== null) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new ProxyUnavailableError(
      'could not start the agentsecrets proxy; run `agentsecrets proxy start` yourself to see why (a passphrase vault needs AGENTSECRETS_PASSPHRASE or a terminal)',
    );
  }

  /**
   * Starts `cmd args` under `agentsecrets run` (issue 13): the program gets placeholders,
   * never values, and its HTTPS goes through the intercepting proxy, which swaps each
   * placeholder for its value only on the way to a host that secret may reach. Returns the
   * ChildProcess of the `run` wrapper; its exit code is the program's.
   */
  spawn(cmd: string, args: readonly string[] = [], options: SpawnOptions = {}): ChildProcess {
    const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
    const flags = [
      ...(options.only === undefined ? [] : ['--only', options.only.join(',')]),
      ...(this.#options.agentId === undefined ? [] : ['--agent-id', this.#options.agentId]),
      ...(this.#options.project === undefined ? [] : ['--project', this.#options.project]),
      ...(this.#options.environment === undefined ? [] : ['--env', this.#options.environment]),
    ];
    return spawn(process.execPath, [cli, 'run', ...flags, '--', cmd, ...args], {
      cwd: options.cwd,
      stdio: options.stdio ?? 'pipe',
      env: {
        ...(options.env ?? process.env),
        AGENTSECRETS_HOME: this.#home.home,
        // The token travels in the environment, never in argv (visible to other processes).
        ...(this.#options.agentToken === undefined
          ? {}
          : { AGENTSECRETS_AGENT_TOKEN: this.#options.agentToken }),
      },
    });
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.#agent.destroy();
  }

  async #endpoint(): Promise<{ port: number; sessionToken: string | null }> {
    let state = await liveProxyState(this.#home);
    if (state === undefined && this.#options.autoStart) {
      await this.startProxy();
      state = await liveProxyState(this.#home);
    }
    if (state === undefined) {
      throw new ProxyUnavailableError(
        `no agentsecrets proxy is running for ${this.#home.home}; start one with \`agentsecrets proxy start\` (or pass autoStart: true)`,
      );
    }
    // Port 0 (or none) means "wherever the running proxy listens".
    const port =
      this.#options.port === undefined || this.#options.port === 0
        ? state.port
        : this.#options.port;
    return { port, sessionToken: state.session_token };
  }

  async #healthy(port: number): Promise<boolean> {
    try {
      const response = await this.#send(port, {}, 'GET', undefined, '/health', 2000);
      return response.status === 200;
    } catch {
      return false;
    }
  }

  #send(
    port: number,
    headers: Record<string, string>,
    method: string,
    body: Buffer | undefined,
    path = '/proxy',
    timeoutMs = this.#options.timeoutMs ?? 120_000,
  ): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path,
          method: path === '/proxy' ? method.toUpperCase() : 'GET',
          headers,
          agent: this.#agent,
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const out: Record<string, string | string[]> = {};
            for (const [name, value] of Object.entries(res.headers))
              if (value !== undefined) out[name] = value;
            resolve({ status: res.statusCode ?? 0, headers: out, body: Buffer.concat(chunks) });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(new ProxyUnavailableError('the call through the proxy timed out')),
      );
      req.on('error', (err) =>
        reject(
          err instanceof ProxyUnavailableError
            ? err
            : new ProxyUnavailableError(`cannot reach the proxy on port ${port}: ${err.message}`),
        ),
      );
      req.end(body);
    });
  }
}

/** Proxy-made errors carry X-AS-Error; forwarded upstream answers never do. */
function isProxyError(headers: Record<string, string | string[]>): boolean {
  return headers['x-as-error'] !== undefined;
}
