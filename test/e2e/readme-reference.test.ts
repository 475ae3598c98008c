import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

// The README's command reference must stay true to the code: every command it lists exists,
// and every flag it shows for that command is one the command accepts.
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const reference = readme.slice(
  readme.indexOf('## Command reference'),
  readme.indexOf('### Conventions'),
);

interface Listed {
  words: string[];
  flags: string[];
  text: string;
}

function listedCommands(): Listed[] {
  const out: Listed[] = [];
  for (const row of reference.split('\n').filter((l) => l.startsWith('| `agentsecrets'))) {
    const firstCell = row.split(' | ')[0]!;
    for (const [, text] of firstCell.matchAll(/`(agentsecrets [^`]+)`/g)) {
      const tokens = text!.replace(/\\\|/g, '|').split(/\s+/).slice(1);
      const words: string[] = [];
      for (const token of tokens) {
        // `log [list]`: an optional default subcommand, whose help has the flags.
        const word = /^\[([a-z][a-z-]*)\]$/.exec(token)?.[1] ?? token;
        if (!/^[a-z][a-z-]*$/.test(word)) break;
        words.push(word);
      }
      const flags = [...text!.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]);
      out.push({ words, flags, text: text! });
    }
  }
  return out;
}

describe('README command reference', () => {
  const listed = listedCommands();

  it('lists the commands', () => {
    expect(listed.length).toBeGreaterThan(40);
  });

  it.each(listed.map((l) => [l.text, l] as const))('%s', async (_text, { words, flags }) => {
    const help = await runCli([...words, '--help'], { home: await tempDir() });
    expect(help.code, help.stderr).toBe(0);
    // `--help` of a group lists subcommands; the README names a real command, not a group.
    expect(help.stdout).toMatch(/^Usage: agentsecrets /m);
    for (const flag of flags) {
      if (flag === '--') continue;
      expect(help.stdout, `${words.join(' ')} ${flag}`).toContain(flag);
    }
  });
});
