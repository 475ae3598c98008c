// Makes the CLI entry point executable after `tsc` (npm links it as the `agentsecrets` bin).
import { chmodSync } from 'node:fs';

chmodSync(new URL('../dist/src/cli/main.js', import.meta.url), 0o755);
