import { closeSync, openSync } from 'node:fs';
import { ReadStream, WriteStream } from 'node:tty';
import { AgentSecretsError } from '../core/errors.js';
import { createPrompter, type Prompter } from './prompt.js';

/** The controlling terminal, opened for one CLI run. */
export interface Terminal {
  prompter: Prompter;
  write(text: string): void;
  close(): void;
}

/** Opens /dev/tty; undefined when this process has no controlling terminal. */
export function openTerminal(): Terminal | undefined {
  let readFd: number;
  let writeFd: number;
  try {
    readFd = openSync('/dev/tty', 'r');
  } catch {
    return undefined;
  }
  try {
    writeFd = openSync('/dev/tty', 'w');
  } catch {
    closeSync(readFd);
    return undefined;
  }
  const input = new ReadStream(readFd);
  const output = new WriteStream(writeFd);
  return {
    prompter: createPrompter({ stdin: input, stderr: output }),
    write: (text) => {
      output.write(text);
    },
    close: () => {
      input.destroy();
      output.end();
    },
  };
}

/** The refusal when there is no terminal to ask at. */
export function noTerminal(action: string): AgentSecretsError {
  return new AgentSecretsError(
    'needs_terminal',
    `strict mode: ${action} needs the vault passphrase typed at this machine's terminal (/dev/tty), and this process has none. Run it yourself in a terminal.`,
  );
}

/** Why AGENTSECRETS_PASSPHRASE is refused. */
export function envPassphraseRefused(variable: string): AgentSecretsError {
  return new AgentSecretsError(
    'strict_mode',
    `strict mode refuses ${variable}: every process of this user can read an environment variable, agents included, and the passphrase is what keeps them out. Unset it and type the passphrase at the terminal (or turn strict mode off with \`agentsecrets strict disable\`).`,
  );
}
