import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

// The hand-written command reference (docs/reference.md) must stay true to the code: every
// command it lists exists, and every flag it shows for that command is one the command
// accepts. (docs/commands.md is generated from the CLI; test/e2e/commands-doc.test.ts keeps it
// current.) The README's own examples are checked too: every command they run exists.
const page = readFileSync(new URL('../../docs/reference.md', import.meta.url), 'utf8');
const reference = page.slice(page.indexOf('# Command reference'), page.indexOf('### Conventions'));
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

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

/** `agentsecrets …` lines in the README's shell blocks, as [words, flags]. */
function readmeExamples(): Listed[] {
  const out: Listed[] = [];
  for (const [, block] of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block!.split('\n')) {
      const text = line.replace(/#.*$/, '').trim();
      if (!text.startsWith('agentsecrets ')) continue;
      const words: string[] = [];
      for (const token of text.split(/\s+/).slice(1)) {
        if (!/^[a-z][a-z-]*$/.test(token)) break;
        words.push(token);
      }
      const flags = [...text.matchAll(/ (--[a-z][a-z-]*)/g)].map((m) => m[1]!);
      out.push({ words, flags, text });
    }
  }
  return out;
}

describe('README examples', () => {
  const examples = readmeExamples();
  it('has examples', () => {
    expect(examples.length).toBeGreaterThan(10);
  });
  it.each(examples.map((e) => [e.text, e] as const))('%s', async (_text, example) => {
    let words = example.words;
    const flags = example.flags;
    // The longest prefix of words that is a command (the rest are arguments).
    let help = await runCli([...words, '--help'], { home: await tempDir() });
    while (words.length > 1 && !/^Usage: agentsecrets /m.test(help.stdout)) {
      words = words.slice(0, -1);
      help = await runCli([...words, '--help'], { home: await tempDir() });
    }
    expect(help.stdout).toMatch(/^Usage: agentsecrets /m);
    for (const flag of flags) {
      if (flag === '--version') continue;
      expect(help.stdout, `${words.join(' ')} ${flag}`).toContain(flag);
    }
  });
});

describe('docs/reference.md command reference', () => {
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
