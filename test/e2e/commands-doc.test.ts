import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { CliContext } from '../../src/cli/context.js';
import { buildProgram } from '../../src/cli/program.js';
import { renderCommandReference } from '../../src/cli/reference.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';

// Only the definitions are read: no command runs, so the context is never used.
const stub = { out: { raw: () => undefined } } as unknown as CliContext;
const rendered = renderCommandReference(buildProgram(stub).program);
const committed = readFileSync(new URL('../../docs/commands.md', import.meta.url), 'utf8');

describe('docs/commands.md', () => {
  it('is what `npm run docs` generates from the CLI definitions (run it after changing a command)', () => {
    expect(committed === rendered, 'docs/commands.md is out of date: run `npm run docs`').toBe(
      true,
    );
  });

  it('has a section with usage and examples for every command', () => {
    const program = buildProgram(stub).program;
    const secrets = program.commands.find((c) => c.name() === 'secrets')!;
    for (const name of ['secrets set', 'secrets import', 'log list', 'mcp install']) {
      expect(rendered).toContain(`## agentsecrets ${name}\n`);
      expect(rendered).toContain(`Usage: agentsecrets ${name}`);
    }
    expect(rendered).toContain('$ agentsecrets secrets set STRIPE_KEY');
    for (const sub of secrets.commands)
      expect(rendered).toContain(`(#agentsecrets-secrets-${sub.name()})`);
  });

  it("shows each command's own --help text", async () => {
    const home = await tempDir();
    const help = await runCli(['secrets', 'import', '--help'], { home });
    const section = rendered.split('## agentsecrets secrets import\n')[1]!.split('```')[1]!;
    // The same options and examples; only the wrapping width may differ.
    for (const line of help.stdout.split('\n').filter((l) => /^\s+(-|\$)/.test(l)))
      expect(section.replace(/\s+/g, ' ')).toContain(line.trim().split(/\s{2,}/)[0]!);
  });
});
