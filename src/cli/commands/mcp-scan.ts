import { chmod, readdir, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AgentSecretsError } from '../../core/errors.js';
import { isValidKeyName } from '../../core/keys.js';
import {
  CLIENTS,
  type ClientId,
  type FileLocation,
  type Finding,
  isObject,
  type JsonObject,
  type MigrationWrap,
  parseConfig,
  planMigration,
  type Scope,
  scanDocument,
  scanLocations,
  type ServerScan,
  serversOf,
  shellCommand,
} from '../../clients/index.js';
import { type CliContext, requireHuman } from '../context.js';
import { EXIT } from '../exit.js';
import {
  commit,
  type ConfigFile,
  errnoCode,
  pathContext,
  readConfigFile,
  serverPaths,
  stateHome,
} from './mcp-files.js';

/** Options of `mcp scan`. */
export interface McpScanOptions {
  migrate?: boolean;
  yes?: boolean;
  json?: boolean;
}

// ---------------------------------------------------------------------------------------
// mcp scan

/** One suspicious value in one file, with whether --migrate can move it. */
export interface ScanFinding extends Finding {
  client: ClientId;
  scope: Scope;
  file: string;
  migratable: boolean;
  /** Why it cannot be migrated. */
  note?: string;
}

interface ScannedFile {
  location: FileLocation;
  file: ConfigFile & { text: string };
  root: JsonObject;
  findings: ScanFinding[];
}

/** What --migrate did to one server. */
interface Migrated {
  client: ClientId;
  scope: Scope;
  file: string;
  server: string;
  variables: string[];
  backup?: string | undefined;
}

/** Why `--migrate` cannot move a finding, or undefined when it can. */
function migrationNote(location: FileLocation, server: ServerScan, f: Finding): string | undefined {
  if (location.readOnly === true) {
    return 'Claude Code manages this file: remove the server with `claude mcp remove` and add it again with its values in the vault';
  }
  if (f.kind === 'arg') {
    return 'move the value into an environment variable of this server by hand, then run --migrate again';
  }
  if (f.kind !== 'env') {
    return 'replace it by hand with a reference the client expands, such as ${env:VAR} or ${input:id}';
  }
  if (server.ours) return 'this server already runs through agentsecrets';
  if (!server.stdio) return 'not a stdio server';
  if (!isValidKeyName(f.name)) {
    return 'the variable name is not a valid key name; store it by hand under another name';
  }
  return undefined;
}

/** `mcp scan [--migrate]`: reports plaintext credentials by name only; moves them on request. */
export async function mcpScan(ctx: CliContext, opts: McpScanOptions): Promise<number> {
  const { cliPath } = serverPaths();
  const scanned: ScannedFile[] = [];
  let unreadable = 0;
  for (const location of scanLocations(pathContext(ctx))) {
    let file: ConfigFile;
    try {
      file = await readConfigFile(location.file);
    } catch (err) {
      unreadable++;
      ctx.out.warn(`could not read ${location.file} (${errnoCode(err)})`);
      continue;
    }
    if (file.text === undefined) continue;
    const parsed = parseConfig(file.text, location.format);
    if (!parsed.ok) {
      unreadable++;
      ctx.out.warn(`could not scan ${location.file}: ${parsed.failure.message}`);
      continue;
    }
    const findings = scanDocument(parsed.value, location, cliPath).flatMap((server) =>
      server.findings.map((f): ScanFinding => {
        const note = migrationNote(location, server, f);
        return {
          ...f,
          client: location.client,
          scope: location.scope,
          file: location.file,
          migratable: note === undefined,
          ...(note === undefined ? {} : { note }),
        };
      }),
    );
    scanned.push({ location, file: { ...file, text: file.text }, root: parsed.value, findings });
  }
  const findings = scanned.flatMap((s) => s.findings);
  const candidates = findings.filter((f) => f.migratable);

  if (opts.migrate !== true || candidates.length === 0) {
    if (opts.json) {
      ctx.out.json(findings);
    } else {
      printFindings(ctx, findings, scanned.length, unreadable);
      if (opts.migrate === true) ctx.out.notice('nothing that --migrate can move');
    }
    return EXIT.ok;
  }

  const serverCount = new Set(candidates.map((f) => `${f.file}\u0000${f.server}`)).size;
  await requireHuman(ctx, {
    action: `Move ${candidates.length} value(s) from ${serverCount} server(s) into the vault and rewrite those entries to run through agentsecrets`,
    confirm: 'migrate',
    yes: opts.yes,
  });
  const { migrated, skipped, selection } = await migrate(ctx, scanned);
  if (opts.json) {
    ctx.out.json({ ...selection, findings, migrated, skipped });
  } else {
    printFindings(ctx, findings, scanned.length, unreadable);
    printMigration(ctx, migrated, skipped, selection, await olderBackups(migrated));
  }
  return skipped.length > 0 && migrated.length === 0 ? EXIT.failed : EXIT.ok;
}

async function migrate(
  ctx: CliContext,
  scanned: ScannedFile[],
): Promise<{
  migrated: Migrated[];
  skipped: { file: string; server: string; name: string; reason: string }[];
  selection: { project: string; environment: string; backend: string };
}> {
  const services = ctx.services();
  const current = await services.workspaces.resolve();
  const paths = serverPaths();
  const wrap: MigrationWrap = {
    ...paths,
    project: current.project.name,
    environment: current.environment,
    home: stateHome(ctx),
  };
  const migrated: Migrated[] = [];
  const skipped: { file: string; server: string; name: string; reason: string }[] = [];
  // Values stored by this run, so two servers cannot put different values under one name.
  const stored = new Map<string, string>();
  const now = new Date();
  const vault = await services.vault.unlock();
  const backend = vault.provider;
  try {
    for (const { location, file, root, findings } of scanned) {
      const byServer = new Map<string, string[]>();
      for (const f of findings.filter((x) => x.migratable)) {
        byServer.set(f.server, [...(byServer.get(f.server) ?? []), f.name]);
      }
      if (byServer.size === 0) continue;
      const servers = serversOf(root, location.rootKey, file.text);
      if (!servers.ok) continue;
      let text = file.text;
      const done: Migrated[] = [];
      for (const [server, names] of byServer) {
        const entry = servers.value[server];
        const env = isObject(entry) && isObject(entry.env) ? entry.env : {};
        const existing = await vault.getMany(current.selection, names);
        const moved: string[] = [];
        const toSet: { key: string; value: string }[] = [];
        for (const name of names) {
          const value = env[name];
          if (typeof value !== 'string') continue;
          const prior = stored.get(name) ?? existing.get(name);
          if (prior !== undefined && prior !== value) {
            skipped.push({
              file: location.file,
              server,
              name,
              reason: `${name} already holds a different value in ${current.project.name}/${current.environment}; store this one by hand under another name`,
            });
            continue;
          }
          if (prior === undefined) toSet.push({ key: name, value });
          stored.set(name, value);
          moved.push(name);
        }
        if (moved.length === 0) continue;
        const plan = planMigration(text, location, server, moved, wrap);
        if (!plan.ok) {
          for (const name of moved) {
            skipped.push({ file: location.file, server, name, reason: plan.failure.message });
          }
          continue;
        }
        // The vault first: if the config write fails, the value is safe and the file unchanged.
        if (toSet.length > 0) await vault.set(current.selection, toSet);
        text = plan.value;
        done.push({
          client: location.client,
          scope: location.scope,
          file: location.file,
          server,
          variables: moved,
        });
      }
      if (done.length === 0) continue;
      try {
        const backup = await commit(file, text, { now, holdsToken: false, shown: location.file });
        // The backup still holds the plaintext values: owner-only until the user deletes it.
        if (backup !== undefined) await chmod(backup, 0o600);
        for (const d of done) d.backup = backup;
        migrated.push(...done);
      } catch (err) {
        if (!(err instanceof AgentSecretsError)) throw err;
        for (const d of done) {
          for (const name of d.variables) {
            skipped.push({ file: d.file, server: d.server, name, reason: err.message });
          }
        }
      }
    }
  } finally {
    vault.close();
  }
  return {
    migrated,
    skipped,
    selection: { project: current.project.name, environment: current.environment, backend },
  };
}

/** Other `<file>.bak-*` files next to the migrated ones: written before, they may hold values. */
async function olderBackups(migrated: Migrated[]): Promise<string[]> {
  const found: string[] = [];
  for (const file of new Set(migrated.map((m) => m.file))) {
    const real = await realpath(file).catch(() => file);
    const names = await readdir(dirname(real)).catch(() => [] as string[]);
    for (const name of names) {
      const path = join(dirname(real), name);
      if (name.startsWith(`${basename(real)}.bak-`) && !migrated.some((m) => m.backup === path)) {
        found.push(path);
      }
    }
  }
  return found;
}

function printFindings(
  ctx: CliContext,
  findings: ScanFinding[],
  files: number,
  unreadable: number,
): void {
  if (findings.length === 0) {
    ctx.out.line(
      `no plaintext credentials found in ${files} MCP client config file(s)${unreadable > 0 ? ` (${unreadable} could not be read)` : ''}`,
    );
    return;
  }
  ctx.out.table(findings, [
    { header: 'CLIENT', value: (f) => f.client },
    { header: 'SCOPE', value: (f) => f.scope },
    { header: 'SERVER', value: (f) => f.server },
    {
      header: 'WHERE',
      value: (f) => (f.kind === 'arg' || f.kind === 'url' ? f.name : `${f.kind} ${f.name}`),
    },
    { header: 'WHY', value: (f) => f.reason },
    { header: 'FILE', value: (f) => f.file },
  ]);
  const movable = findings.filter((f) => f.migratable).length;
  ctx.out.line(
    `${findings.length} plaintext credential(s) found; ${movable} can be moved into the vault with \`agentsecrets mcp scan --migrate\` (at a terminal)`,
  );
  for (const f of findings.filter((x) => x.note !== undefined)) {
    ctx.out.line(`  ${f.client} ${f.server} ${f.name}: ${f.note}`);
  }
}

function printMigration(
  ctx: CliContext,
  migrated: Migrated[],
  skipped: { file: string; server: string; name: string; reason: string }[],
  selection: { project: string; environment: string; backend: string },
  olderBackups: string[],
): void {
  const count = migrated.reduce((n, m) => n + m.variables.length, 0);
  ctx.out.line(
    `moved ${count} value(s) from ${migrated.length} server(s) into ${selection.project}/${selection.environment}:`,
  );
  for (const m of migrated) {
    ctx.out.line(
      `  ${m.client} ${m.server}: ${m.variables.join(', ')} (now runs through agentsecrets env) in ${m.file}`,
    );
  }
  for (const s of skipped) ctx.out.line(`  skipped ${s.server} ${s.name}: ${s.reason}`);
  for (const backup of new Set(migrated.map((m) => m.backup))) {
    if (backup === undefined) continue;
    ctx.out.warn(
      `the backup ${backup} still holds the old plaintext value(s): check that the servers start, then delete it (rm ${shellCommand([backup], process.platform)})`,
    );
  }
  if (olderBackups.length > 0) {
    ctx.out.warn(
      `older backups of these files may hold the values too: ${olderBackups.join(', ')}`,
    );
  }
  if (migrated.length > 0) {
    const names = [...new Set(migrated.map((m) => CLIENTS[m.client].label))].join(', ');
    ctx.out.notice(`Restart ${names} (or reload its MCP servers) to pick up the change.`);
  }
  if (selection.backend === 'passphrase' && migrated.length > 0) {
    ctx.out.notice(
      'the vault uses a passphrase: the rewritten servers can read their secrets while the key holder runs (`agentsecrets proxy start`)',
    );
  }
}
