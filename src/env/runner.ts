import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AgentSecretsError } from '../core/errors.js';
import type { Scrubber } from '../core/scrub/scrubber.js';
import { createScrubStream } from '../core/scrub/stream.js';

/** Where the child's output goes, and whether a human is watching it. */
export interface RunStreams {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
}

export interface RunOptions {
  command: string;
  args: readonly string[];
  /** The child's whole environment. */
  env: Record<string, string>;
  /** The values to mask in output that does not go to a terminal. */
  mask: Scrubber;
  /** Release complete lines at once (no value holds a line break). */
  lines?: boolean;
  /** Turns masking off (`--no-mask`). */
  noMask: boolean;
  streams: RunStreams;
  cwd?: string;
}

/** How the child ended. */
export interface RunResult {
  /** The child's exit code, or 128 + n when it died from signal n. */
  exitCode: number;
  signal: NodeJS.Signals | null;
  /** Values masked in the child's output. */
  redactions: number;
  masked: { stdout: boolean; stderr: boolean };
}

const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Runs a command with secrets in its environment. stdin is shared; stdout and stderr are
 * shared when they are terminals (a human is reading), and otherwise piped through a
 * redactor so that a value the child prints never reaches a pipe or a file. SIGINT,
 * SIGTERM and SIGHUP are forwarded for as long as the child lives.
 */
export async function runWithSecrets(options: RunOptions): Promise<RunResult> {
  const { streams } = options;
  const maskStdout = !options.noMask && streams.stdout.isTTY !== true;
  const maskStderr = !options.noMask && streams.stderr.isTTY !== true;
  // Forward signals from before the child exists: one that arrived between spawn() and the
  // handlers would kill us and leave the child running (a loaded machine shows this window).
  const holder: { child?: ChildProcess } = {};
  const pending: NodeJS.Signals[] = [];
  const forward = (signal: NodeJS.Signals) => {
    const started = holder.child;
    if (started === undefined) return void pending.push(signal);
    if (started.pid !== undefined && started.exitCode === null && started.signalCode === null)
      started.kill(signal);
  };
  for (const signal of FORWARDED) process.on(signal, forward);
  let child: ChildProcess;
  try {
    child = spawn(options.command, [...options.args], {
      env: options.env,
      cwd: options.cwd,
      stdio: ['inherit', maskStdout ? 'pipe' : 'inherit', maskStderr ? 'pipe' : 'inherit'],
    });
  } catch (err) {
    for (const signal of FORWARDED) process.off(signal, forward);
    throw err;
  }
  holder.child = child;
  for (const signal of pending.splice(0)) forward(signal);
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  try {
    await spawned;
  } catch (err) {
    for (const signal of FORWARDED) process.off(signal, forward);
    if (
      typeof err === 'object' &&
      err !== null &&
      'code' in err &&
      (err.code === 'ENOENT' || err.code === 'EACCES')
    ) {
      throw new AgentSecretsError(
        'command_not_found',
        `cannot run '${options.command}': ${err.code === 'ENOENT' ? 'command not found' : 'permission denied'}`,
      );
    }
    throw err;
  }

  const redactors: { redactions: number }[] = [];
  const pipes: Promise<void>[] = [];
  const attach = (from: Readable | null, to: Writable) => {
    if (from === null) return;
    const redact = createScrubStream(options.mask, { lines: options.lines === true });
    redactors.push(redact);
    pipes.push(pipeline(from, redact, to, { end: false }));
  };
  if (maskStdout) attach(child.stdout, streams.stdout);
  if (maskStderr) attach(child.stderr, streams.stderr);

  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  try {
    const [{ code, signal }] = await Promise.all([exit, ...pipes]);
    const exitCode = signal !== null ? 128 + (constants.signals[signal] ?? 0) : (code ?? 1);
    return {
      exitCode,
      signal,
      redactions: redactors.reduce((sum, r) => sum + r.redactions, 0),
      masked: { stdout: maskStdout, stderr: maskStderr },
    };
  } finally {
    for (const signal of FORWARDED) process.off(signal, forward);
  }
}
