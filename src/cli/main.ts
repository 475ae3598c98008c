#!/usr/bin/env node
import { CommanderError } from 'commander';
import { loadConfig } from '../core/config.js';
import { isAgentSecretsError, toAgentSecretsError } from '../core/errors.js';
import { createCliContext } from './context.js';
import { EXIT, exitCodeFor } from './exit.js';
import { createOutput, type Output } from './output.js';
import { buildProgram } from './program.js';
import { createPrompter } from './prompt.js';

/** Runs the CLI and returns its exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  quietOnClosedPipe(process.stdout);
  quietOnClosedPipe(process.stderr);
  const config = loadConfig();
  const out = createOutput({
    stdout: process.stdout,
    stderr: process.stderr,
    // A terminal recorded by a program (CI logs, `script`) gets no spinner frames.
    progress: !config.ci && config.env.AGENTSECRETS_PROGRESS !== '0',
    term: config.env.TERM,
  });
  const prompt = createPrompter({ stdin: process.stdin, stderr: process.stderr });
  const ctx = createCliContext(config, out, prompt);
  const { program, exitCode } = buildProgram(ctx);
  let code: number;
  try {
    await program.parseAsync([...argv]);
    code = exitCode();
  } catch (err) {
    code = report(err, out, argv.includes('--json'), config.debug);
  }
  ctx.dispose();
  await out.flush();
  return code;
}

/**
 * A reader that stops early (`agentsecrets log | head -1`) closes the pipe; the next write
 * fails with EPIPE. Stop quietly then, as git does, instead of crashing with a stack trace.
 */
function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
    throw err;
  });
}

function report(err: unknown, out: Output, json: boolean, debug: boolean): number {
  if (err instanceof CommanderError) {
    // commander has already printed help, the version, or its own usage message.
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
    if (err.code === 'commander.help') return EXIT.ok;
    return EXIT.usage;
  }
  const error = toAgentSecretsError(err);
  if (json) out.json({ error: error.code, message: error.message, ...error.context });
  out.notice(`error: ${error.message} [${error.code}]`);
  if (debug) {
    const cause = isAgentSecretsError(err) ? err.cause : err;
    if (cause instanceof Error && cause.stack) out.notice(cause.stack);
  }
  return exitCodeFor(error.code);
}

main(process.argv).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `agentsecrets: fatal: ${err instanceof Error ? err.message : 'unknown error'}\n`,
    );
    process.exit(EXIT.failed);
  },
);
