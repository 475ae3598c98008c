// Writes docs/commands.md from the built CLI's own command definitions (`npm run docs`).
// test/e2e/commands-doc.test.ts fails when the file is out of date.
import { writeFileSync } from 'node:fs';
import { buildProgram } from '../dist/src/cli/program.js';
import { renderCommandReference } from '../dist/src/cli/reference.js';

// Only the definitions are read: no command runs, so the context is never used.
const { program } = buildProgram(/** @type {any} */ ({ out: { raw() {} } }));
const target = new URL('../docs/commands.md', import.meta.url);
writeFileSync(target, renderCommandReference(program));
console.log(`wrote ${target.pathname}`);
