import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

/** The built CLI (npm test builds first, through `pretest`). */
export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** AGENTSECRETS_HOME. */
  home: string;
  cwd?: string;
  /** Extra environment; `undefined` values remove a variable. */
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed (stdin is never a terminal here). */
  input?: string;
  timeoutMs?: number;
}

/** A minimal environment: no D-Bus (so no keychain) unless a test asks for one. */
export function baseEnv(
  home: string,
  extra: Record<string, string | undefined> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: 'C.UTF-8',
    AGENTSECRETS_HOME: home,
    // Output read through a pseudo-terminal must not hold spinner frames.
    AGENTSECRETS_PROGRESS: '0',
    // Children put their temp folders where the tests do, so a run can be checked for leftovers.
    ...(process.env.TMPDIR === undefined ? {} : { TMPDIR: process.env.TMPDIR }),
  };
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Spawns the built `agentsecrets` binary. */
export function runCli(args: readonly string[], options: RunOptions): Promise<CliResult> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? tmpdir(),
      env: baseEnv(options.home, options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Quotes one argument for /bin/sh. */
export function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs the CLI inside a pseudo-terminal (util-linux `script -qec`), so stdin is a TTY as
 * for a human. `input` is typed into the terminal. stdout and stderr arrive merged.
 */
export function runCliInPty(args: readonly string[], options: RunOptions): Promise<CliResult> {
  const command = [process.execPath, CLI, ...args].map(shellQuote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd: options.cwd ?? tmpdir(),
      env: baseEnv(options.home, options.env),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    // Type the input once the program shows a prompt (a line ending in ": "), so the terminal
    // is already in no-echo mode; or after 2 s for a program that reads without one. Keep
    // stdin open until it exits, because `script` ends the session when its stdin closes.
    // `script` may already have exited (EPIPE): the result is in its output either way.
    let typed = false;
    const type = () => {
      if (typed) return;
      typed = true;
      child.stdin.write(options.input ?? '');
    };
    const fallback = setTimeout(type, 2000);
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString('utf8');
      if (/: $/.test(stdout)) type();
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      clearTimeout(fallback);
      resolve({ code: code ?? 1, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.on('exit', () => child.stdin.destroy());
  });
}
