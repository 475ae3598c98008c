import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI as BUILT_CLI, shellQuote } from '../helpers/cli.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Where the user runs the project from: the checkout itself when the user can read it, else
 * a world-readable copy of what the suite runs (a checkout under /root is not readable).
 */
function readableRoot(): string {
  // AGENTSECRETS_REDTEAM_COPY=1 forces the copy (to test this path from a readable checkout).
  if (readableByUser(BUILT_CLI) && process.env.AGENTSECRETS_REDTEAM_COPY !== '1') return ROOT;
  const copy = mkdtempSync('/tmp/as-redteam-build-');
  for (const part of ['package.json', '.agent', 'dist', 'node_modules', 'test/redteam'])
    cpSync(join(ROOT, part), join(copy, part), { recursive: true, dereference: false });
  execFileSync('chmod', ['-R', 'a+rX', copy]);
  chmodSync(copy, 0o755);
  return copy;
}

function readableByUser(path: string): boolean {
  try {
    execFileSync('runuser', ['-u', AGENT_USER, '--', 'test', '-r', path], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

let root: string | undefined;
/** The project folder the user runs from (resolved once the user exists). */
function runRoot(): string {
  return (root ??= readableRoot());
}

/** Removes the readable copy, if one was made. */
export function removeCopy(): void {
  if (root !== undefined && root !== ROOT) rmSync(root, { recursive: true, force: true });
  root = undefined;
}

/** The built CLI, as the user reaches it. */
export function cliPath(): string {
  return join(runRoot(), relative(ROOT, BUILT_CLI));
}

/** A file of this folder, as the user reaches it. */
function helper(name: string): string {
  return join(runRoot(), relative(ROOT, dirname(fileURLToPath(import.meta.url))), name);
}

/**
 * The red-team harness (issue 14): the "human" and the "agent" are the same unprivileged OS
 * user (root ignores the dumpable flag, so root proves nothing). Needs root to create and
 * switch to that user.
 */

export const AGENT_USER = 'agentsec';
export const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

/** Why the suite cannot run here, or undefined when it can. */
export function unavailable(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root, to create and switch to an unprivileged user';
  for (const tool of ['runuser', 'script', 'gdb', 'prlimit']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `needs ${tool} (apt-get install it; .ci/run does)`;
    }
  }
  ensureUser();
  if (!readableByUser(cliPath()))
    return `the built CLI (${cliPath()}) is not readable by the user ${AGENT_USER}`;
  return undefined;
}

/** Creates the unprivileged user if missing; returns its uid and gid. */
export function ensureUser(): { uid: number; gid: number } {
  try {
    execFileSync('id', ['-u', AGENT_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['-m', AGENT_USER], { stdio: 'ignore' });
  }
  const uid = Number(execFileSync('id', ['-u', AGENT_USER]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', AGENT_USER]).toString().trim());
  return { uid, gid };
}

/** A scratch folder owned by the user, mode 0700. */
export function userDir(ids: { uid: number; gid: number }): string {
  const dir = mkdtempSync('/tmp/as-redteam-');
  chownSync(dir, ids.uid, ids.gid);
  chmodSync(dir, 0o700);
  return dir;
}

export interface Shell {
  code: number;
  out: string;
}

export interface ShellOptions {
  env: Record<string, string>;
  cwd: string;
  /** Typed after `delayMs` (default 1500), stdin then stays open until the shell ends. */
  input?: string;
  delayMs?: number;
  timeoutMs?: number;
}

/** Runs a bash script as the user, with exactly `env`; stdout and stderr merged. */
export function asUser(script: string, options: ShellOptions): Promise<Shell> {
  const env = Object.entries(options.env).map(([k, v]) => `${k}=${v}`);
  return new Promise((resolve, reject) => {
    const child = spawn(
      'runuser',
      [
        '-u',
        AGENT_USER,
        '--',
        'env',
        '-i',
        ...env,
        'bash',
        '-c',
        `cd ${shellQuote(options.cwd)} && ${script}`,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.stdin.on('error', () => undefined);
    if (options.input === undefined) child.stdin.end();
    else setTimeout(() => child.stdin.write(options.input!), options.delayMs ?? 1500);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out });
    });
  });
}

/** `agentsecrets ARGS` as a shell word list. */
export function cli(...args: string[]): string {
  return [process.execPath, cliPath(), ...args].map(shellQuote).join(' ');
}

/** Wraps a command in a pseudo-terminal (util-linux `script`), as an agent would. */
export function inPty(command: string): string {
  return `script -qfec ${shellQuote(command)} /dev/null`;
}

/** A long-running process of the user (the key holder), started through a pseudo-terminal. */
export interface Background {
  readonly output: () => string;
  stop(): Promise<void>;
}

/** Starts `command` as the user inside `script`, typing `input` after `delayMs`. */
export function startAsUser(command: string, options: ShellOptions): Background {
  const env = Object.entries(options.env).map(([k, v]) => `${k}=${v}`);
  const child = spawn(
    'runuser',
    [
      '-u',
      AGENT_USER,
      '--',
      'env',
      '-i',
      ...env,
      'bash',
      '-c',
      `cd ${shellQuote(options.cwd)} && exec ${inPty(command)}`,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stdin.on('error', () => undefined);
  if (options.input !== undefined)
    setTimeout(() => child.stdin.write(options.input!), options.delayMs ?? 1500);
  return {
    output: () => out,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 300));
      child.kill('SIGKILL');
    },
  };
}

/** Waits until `check` holds (polling), or fails with `what`. */
export async function waitFor(check: () => boolean, what: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The bundled memory reader (python ctypes). */
export const readMemory = () => helper('read-memory.py');
/** Run inside gdb: reads the attached process's memory through ptrace. */
export const gdbRead = () => helper('gdb-read.py');
/** The offline decryptor (everything on disk, plus whatever the environment holds). */
export const decryptVault = () => helper('decrypt-vault.mjs');
