import type { Command } from 'commander';
import type { CliContext } from '../context.js';

/** The result of a command handler: an exit code, or nothing for success. */
export type Handler = () => Promise<number | void>;

/** What every command declaration file gets from program.ts. */
export interface CommandKit {
  ctx: CliContext;
  /** Runs a handler and records its exit code. */
  run(handler: Handler): Promise<void>;
  /** Adds `--project` and `--env`. */
  sel(cmd: Command): Command;
  /** The "Examples:" help section. */
  examples(...lines: string[]): string;
}

/** The "Examples:" help section of a command. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}
