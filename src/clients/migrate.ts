import {
  applyJsonEdits,
  failure,
  type JsonEdit,
  type Parsed,
  parseConfig,
  serversOf,
} from './jsonc.js';
import type { PlanTarget } from './plan.js';
import { isObject } from './registry.js';

/** How a migrated server is run: `node main.js env … --only VARS -- <original command>`. */
export interface MigrationWrap {
  nodePath: string;
  cliPath: string;
  project: string;
  environment: string;
  /** AGENTSECRETS_HOME to pin, if the user has one. */
  home?: string | undefined;
}

/**
 * Rewrites one server so it runs through `agentsecrets env --only VARS` and no longer holds
 * those variables. `--project`/`--env` pin the selection, since a client starts servers in
 * a folder of its choosing. Output stays masked: the redactor releases each complete line
 * at once, so a line-based stdio protocol is not held up.
 */
export function planMigration(
  text: string,
  target: PlanTarget,
  server: string,
  variables: readonly string[],
  wrap: MigrationWrap,
): Parsed<string> {
  const parsed = parseConfig(text, target.format);
  if (!parsed.ok) return parsed;
  const servers = serversOf(parsed.value, target.rootKey, text);
  if (!servers.ok) return servers;
  const entry = servers.value[server];
  if (!isObject(entry) || typeof entry.command !== 'string') {
    return failure(text, 0, `server "${server}" is not a stdio server`);
  }
  const path = [target.rootKey, server];
  const originalArgs = Array.isArray(entry.args) ? entry.args : [];
  const edits: JsonEdit[] = [
    { path: [...path, 'command'], value: wrap.nodePath },
    {
      path: [...path, 'args'],
      value: [
        wrap.cliPath,
        'env',
        '--project',
        wrap.project,
        '--env',
        wrap.environment,
        '--only',
        variables.join(','),
        '--',
        entry.command,
        ...originalArgs,
      ],
    },
    ...variables.map((name) => ({ path: [...path, 'env', name], value: undefined })),
  ];
  if (wrap.home !== undefined) {
    edits.push({ path: [...path, 'env', 'AGENTSECRETS_HOME'], value: wrap.home });
  }
  return { ok: true, value: applyJsonEdits(text, target.format, edits) };
}
