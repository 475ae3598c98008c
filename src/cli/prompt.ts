import type { Readable, Writable } from 'node:stream';
import { AgentSecretsError } from '../core/errors.js';

/** Questions asked of a human at a terminal. Prompts go to stderr. */
export interface Prompter {
  /** True when stdin is a terminal: a human may be there. */
  readonly interactive: boolean;
  /** Reads a line without echoing it. */
  hidden(question: string): Promise<string>;
  /** Reads a line, echoed. */
  text(question: string): Promise<string>;
}

export interface PrompterStreams {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stderr: Writable;
}

/** Creates the terminal prompter. */
export function createPrompter(streams: PrompterStreams): Prompter {
  const { stdin, stderr } = streams;
  const interactive = stdin.isTTY === true;
  // Typed-ahead input (several answers arriving in one chunk) waits here for the next prompt.
  let leftover = '';

  function read(question: string, echo: boolean): Promise<string> {
    if (!interactive) {
      return Promise.reject(
        new AgentSecretsError('needs_terminal', 'this needs an answer typed at a terminal'),
      );
    }
    const raw = typeof stdin.setRawMode === 'function';
    // Raw mode before the question: an answer typed as soon as it shows is never echoed.
    if (raw) stdin.setRawMode!(true);
    stderr.write(question);
    return new Promise((resolve, reject) => {
      let answer = '';
      const finish = (error: Error | undefined, rest: string) => {
        stdin.off('data', onData);
        if (raw) stdin.setRawMode!(false);
        stdin.pause();
        leftover = rest;
        stderr.write('\n');
        if (error) reject(error);
        else resolve(answer);
      };
      const consume = (text: string): boolean => {
        const chars = [...text];
        for (let i = 0; i < chars.length; i++) {
          const char = chars[i]!;
          if (char === '\r' || char === '\n') {
            const rest = chars.slice(i + 1).join('');
            finish(undefined, char === '\r' && rest.startsWith('\n') ? rest.slice(1) : rest);
            return true;
          }
          if (char === '\u0003' || char === '\u0004') {
            finish(new AgentSecretsError('cancelled', 'cancelled at the prompt'), '');
            return true;
          }
          if (char === '\u007f' || char === '\b') {
            if (answer.length > 0) {
              answer = [...answer].slice(0, -1).join('');
              if (echo) stderr.write('\b \b');
            }
            continue;
          }
          answer += char;
          if (echo) stderr.write(char);
        }
        return false;
      };
      const onData = (chunk: Buffer) => {
        consume(chunk.toString('utf8'));
      };
      if (leftover !== '') {
        const pending = leftover;
        leftover = '';
        if (consume(pending)) return;
      }
      stdin.on('data', onData);
      stdin.resume();
    });
  }

  return {
    interactive,
    hidden: (question) => read(question, false),
    text: (question) => read(question, true),
  };
}
