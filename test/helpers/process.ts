import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { baseEnv, CLI } from './cli.js';

/** A long-running `agentsecrets` process (a server, a proxy) started by a test. */
export interface Daemon<T> {
  child: ChildProcess;
  ready: T;
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
  kill(): Promise<void>;
}

/**
 * Spawns the built CLI with `args` and waits until `ready(output)` returns a value (polled
 * every 50 ms, up to 30 s). Output is stdout and stderr together.
 */
export async function startDaemon<T>(
  args: readonly string[],
  options: { home: string; cwd?: string; env?: Record<string, string | undefined> },
  ready: (output: string) => T | undefined | Promise<T | undefined>,
): Promise<Daemon<T>> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? options.home,
    env: baseEnv(options.home, options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (graceMs = 5000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  for (let waited = 0; ; waited += 50) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited early:\n${output}`);
    if (waited > 30_000) {
      child.kill('SIGKILL');
      throw new Error(`${args.join(' ')} did not become ready:\n${output}`);
    }
    const value = await ready(output);
    if (value !== undefined) {
      return {
        child,
        ready: value,
        output: () => output,
        stop,
        kill: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
      };
    }
    await sleep(50);
  }
}
