import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import {
  access,
  chmod,
  copyFile,
  mkdir,
  readdir,
  readFile,
  realpath,
  stat,
} from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, posix, win32 } from 'node:path';
import { AgentSecretsError, UsageError } from '../../core/errors.js';
import { isValidKeyName } from '../../core/keys.js';
import { packageRoot } from '../../core/package-root.js';
import { type AgentRecord, createAgentStore } from '../../identity/agents.js';
import { assertDeclaredName } from '../../identity/caller.js';
import { DEFAULT_TTL_SECONDS, issueToken, loadSigningKey } from '../../identity/tokens.js';
import {
  backupPath,
  buildEntry,
  CLIENT_IDS,
  CLIENTS,
  type ClientId,
  claudeAddArgs,
  claudeRemoveArgs,
  configLocation,
  type FileLocation,
  type FilePlan,
  type Finding,
  isObject,
  type JsonObject,
  type MigrationWrap,
  type Parsed,
  type PathContext,
  parseConfig,
  planInstall,
  planMigration,
  planUninstall,
  type Scope,
  scanDocument,
  scanLocations,
  type ServerEntry,
  type ServerScan,
  serversOf,
  shapeEntry,
  shellCommand,
  TOKEN_VARIABLE,
  tokenInfo,
} from '../../mcp/clients.js';
import { ensurePrivateDir, isErrno, writeFileAtomic } from '../../store/fs.js';
import { type CliContext, requireHuman } from '../context.js';
import { updateLocalAgents } from '../team-session.js';
import { EXIT } from '../exit.js';
import { keyHolderWarning } from '../key-holder-hint.js';

/** Options of `mcp install` (declared in program.ts). */
export interface McpInstallOptions {
  client?: string;
  scope?: string;
  agent?: string;
  issueToken?: boolean;
  dryRun?: boolean;
  uninstall?: boolean;
  yes?: boolean;
  json?: boolean;
}

/** Options of `mcp scan`. */
export interface McpScanOptions {
  migrate?: boolean;
  yes?: boolean;
  json?: boolean;
}

type Action =
  | 'installed'
  | 'updated'
  | 'unchanged'
  | 'removed'
  | 'not installed'
  | 'skipped'
  | 'would install'
  | 'would update'
  | 'would remove'
  | 'manual'
  | 'failed';

/** What happened to one client's configuration. */
export interface InstallResult {
  client: ClientId;
  scope: Scope;
  file: string;
  action: Action;
  reason?: string;
  backup?: string;
  /** Dry runs: the entry that would be written, with env values hidden. */
  entry?: JsonObject;
}

/** A config file as read from disk. */
interface ConfigFile {
  /** The file actually written: a symlinked config keeps its link. */
  realFile: string;
  text: string | undefined;
  mode: number | undefined;
}

/** A token just issued; only its id and expiry are ever shown. */
type Issued = Awaited<ReturnType<typeof issueToken>>;

/** Stands in for a token that is issued only once a human has confirmed. */
const TOKEN_PLACEHOLDER = '<issued on install>';

function pathContext(ctx: CliContext): PathContext {
  return {
    platform: process.platform,
    env: ctx.config.env,
    homedir: homedir(),
    cwd: ctx.config.cwd,
  };
}

/** The absolute node binary and built CLI an entry runs: no PATH, nvm or npx involved. */
function serverPaths(): { nodePath: string; cliPath: string } {
  return {
    nodePath: process.execPath,
    cliPath: join(packageRoot(import.meta.url), 'dist', 'src', 'cli', 'main.js'),
  };
}

/** Where `mcp install` keeps a token for a client configured by command line. */
function tokenFilePath(ctx: CliContext, tokenId: string): string {
  return join(ctx.config.paths.home, 'tokens', `${tokenId}.token`);
}

async function writeTokenFile(ctx: CliContext, issued: Issued): Promise<string> {
  const path = tokenFilePath(ctx, issued.tokenId);
  await ensurePrivateDir(dirname(path));
  await writeFileAtomic(path, `${issued.token}\n`);
  return path;
}

/** AGENTSECRETS_HOME for the entry, when the user has set one (so both find the same vault). */
function stateHome(ctx: CliContext): string | undefined {
  const set = ctx.config.env.AGENTSECRETS_HOME;
  return set === undefined || set.trim() === '' ? undefined : ctx.config.paths.home;
}

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() === true;
}

async function readConfigFile(file: string): Promise<ConfigFile> {
  let realFile: string;
  try {
    realFile = await realpath(file);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return { realFile: file, text: undefined, mode: undefined };
    throw err;
  }
  const [text, info] = await Promise.all([readFile(realFile, 'utf8'), stat(realFile)]);
  return { realFile, text, mode: info.mode & 0o7777 };
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** Copies the current file next to itself as `<file>.bak-<UTC stamp>`; returns its path. */
async function makeBackup(file: string, now: Date): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    const target = backupPath(file, now, attempt);
    try {
      await copyFile(file, target, constants.COPYFILE_EXCL);
      return target;
    } catch (err) {
      if (!isErrno(err, 'EEXIST') || attempt >= 99) throw err;
    }
  }
}

/**
 * Backs up and atomically replaces a config file, keeping its mode (tightened to owner-only
 * when it will hold a token). Refuses when the file changed since it was read.
 */
async function commit(
  file: ConfigFile,
  text: string,
  options: { now: Date; holdsToken: boolean; shown: string },
): Promise<string | undefined> {
  if ((await readText(file.realFile)) !== file.text) {
    throw new AgentSecretsError(
      'conflict',
      `${options.shown} changed while agentsecrets was editing it; nothing was written there, run the command again`,
    );
  }
  const backup = file.text === undefined ? undefined : await makeBackup(file.realFile, options.now);
  const base = file.mode ?? (options.holdsToken ? 0o600 : 0o644);
  const mode = options.holdsToken ? base & ~0o077 : base;
  await writeFileAtomic(file.realFile, text, mode);
  // An existing file keeps its exact mode; a new one gets the mode through the umask.
  if (file.mode !== undefined) await chmod(file.realFile, mode);
  return backup;
}

/** The executable `name` on PATH (with PATHEXT on Windows), if there is one. */
async function findOnPath(
  name: string,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string | undefined> {
  const windows = process.platform === 'win32';
  const p = windows ? win32 : posix;
  const dirs = (env.PATH ?? env.Path ?? '').split(p.delimiter).filter((d) => d !== '');
  const exts = windows ? ['', ...(env.PATHEXT ?? '.EXE;.CMD;.BAT').split(';')] : [''];
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = p.join(dir, name + ext.toLowerCase());
      const info = await stat(candidate).catch(() => undefined);
      if (info?.isFile() !== true) continue;
      if (windows) return candidate;
      if (
        await access(candidate, constants.X_OK).then(
          () => true,
          () => false,
        )
      )
        return candidate;
    }
  }
  return undefined;
}

/** Runs the `claude` CLI; the token (if any) is scrubbed from what it printed. */
function runClaude(
  ctx: CliContext,
  claude: string,
  args: string[],
  token: string | undefined,
): Promise<{ code: number; output: string }> {
  const shell = process.platform === 'win32' && /\.(cmd|bat)$/i.test(claude);
  return new Promise((resolve) => {
    execFile(
      shell ? shellCommand([claude, ...args], 'win32') : claude,
      shell ? [] : args,
      { env: { ...ctx.config.env }, timeout: 60_000, windowsHide: true, shell },
      (err, stdout, stderr) => {
        let output = `${stdout}\n${stderr}`.trim();
        if (token !== undefined) output = output.split(token).join('[REDACTED_BY_AGENTSECRETS]');
        const code =
          err === null ? 0 : typeof err.code === 'number' ? err.code : EXIT.commandNotFound;
        resolve({ code, output });
      },
    );
  });
}

function errnoCode(err: unknown): string {
  return isObject(err) && typeof err.code === 'string' ? err.code : 'unreadable';
}

function firstLine(text: string): string {
  return text.split('\n').find((l) => l.trim() !== '') ?? '(no output)';
}

/** The entry for display: env values other than AGENTSECRETS_HOME are never shown. */
function shownEntry(entry: JsonObject | undefined): JsonObject | undefined {
  if (entry === undefined) return undefined;
  const env = isObject(entry.env) ? entry.env : {};
  const hidden = Object.fromEntries(
    Object.entries(env).map(([k, v]) => [
      k,
      k === 'AGENTSECRETS_HOME' || v === TOKEN_PLACEHOLDER ? v : '<kept, not shown>',
    ]),
  );
  return { ...entry, env: hidden };
}

/** A file target that parsed, with its plan. */
interface FileWork {
  location: FileLocation;
  file: ConfigFile;
  createDir: boolean;
  plan: FilePlan;
  result: InstallResult;
}

/** A Claude Code user-scope target, done through its CLI (or printed when it is missing). */
interface CliWork {
  claude: string | undefined;
  result: InstallResult;
}

interface Targets {
  files: FileWork[];
  clis: CliWork[];
  results: InstallResult[];
}

interface InstallRun {
  scope: Scope;
  explicit: boolean;
  clients: readonly ClientId[];
  uninstall: boolean;
  dryRun: boolean;
  wantToken: boolean;
  entryFor: (token: string | undefined, tokenFile?: string) => ServerEntry;
}

const DRY_RUN_ACTIONS: Record<FilePlan['action'], Action> = {
  install: 'would install',
  update: 'would update',
  remove: 'would remove',
  unchanged: 'unchanged',
  absent: 'not installed',
};
const DONE_ACTIONS: Record<FilePlan['action'], Action> = {
  install: 'installed',
  update: 'updated',
  remove: 'removed',
  unchanged: 'unchanged',
  absent: 'not installed',
};

/** `mcp install`: adds (or with --uninstall removes) our entry in MCP client configs. */
export async function mcpInstall(ctx: CliContext, opts: McpInstallOptions): Promise<number> {
  const chosen = opts.client ?? 'all';
  const explicit = chosen !== 'all';
  if (explicit && !(CLIENT_IDS as readonly string[]).includes(chosen)) {
    throw new UsageError(`unknown client '${chosen}'; use one of ${CLIENT_IDS.join(', ')} or all`);
  }
  if (opts.issueToken === true && opts.agent === undefined) {
    throw new UsageError(
      '--issue-token needs --agent NAME (create the agent first: `agentsecrets agent create NAME`)',
    );
  }
  if (opts.issueToken === true && opts.uninstall === true) {
    throw new UsageError('--issue-token and --uninstall do not go together');
  }
  if (opts.agent !== undefined) assertDeclaredName(opts.agent, '--agent');
  const wantToken = opts.issueToken === true;
  if (opts.uninstall !== true) {
    const warning = await keyHolderWarning(ctx);
    if (warning !== undefined) ctx.out.warn(warning);
  }

  // The agent must exist before anything is planned or anyone is asked to confirm.
  let agent: AgentRecord | undefined;
  if (wantToken) {
    const workspace = await ctx.services().workspaces.currentWorkspace();
    agent = await createAgentStore(ctx.config.paths).get(workspace.id, opts.agent!);
  }
  const paths = serverPaths();
  const run: InstallRun = {
    scope: opts.scope === 'project' ? 'project' : 'user',
    explicit,
    clients: explicit ? [chosen as ClientId] : CLIENT_IDS,
    uninstall: opts.uninstall === true,
    dryRun: opts.dryRun === true,
    wantToken,
    entryFor: (token, tokenFile) =>
      buildEntry({ ...paths, agent: opts.agent, home: stateHome(ctx), token, tokenFile }),
  };
  const targets = await collectTargets(ctx, run);
  const { files, clis, results } = targets;

  if (run.dryRun) {
    for (const w of files) {
      w.result.action = DRY_RUN_ACTIONS[w.plan.action];
      if (w.result.action.startsWith('would')) w.result.entry = shownEntry(w.plan.after);
    }
    for (const c of clis) {
      const argv = run.uninstall
        ? claudeRemoveArgs()
        : claudeAddArgs(
            run.entryFor(undefined, wantToken ? tokenFilePath(ctx, '<token id>') : undefined),
          );
      const command = shellCommand(['claude', ...argv], process.platform);
      c.result.action =
        c.claude === undefined ? 'manual' : run.uninstall ? 'would remove' : 'would install';
      c.result.reason =
        c.claude === undefined
          ? `no \`claude\` command on PATH; you would run: ${command}`
          : `runs: ${command}`;
    }
    return report(ctx, opts, results, run);
  }

  // Tokens: warn, ask the human, issue one per target, record metadata only, then write.
  const tokens = new Map<InstallResult, Issued>();
  const tokenTargets = [
    ...files.filter((w) => ['install', 'update'].includes(w.plan.action)).map((w) => w.result),
    ...clis.filter((c) => c.claude !== undefined).map((c) => c.result),
  ];
  if (agent !== undefined && tokenTargets.length > 0) {
    ctx.out.warn(
      `the agent token goes into ${tokenTargets.map((r) => r.file).join(', ')} as ${TOKEN_VARIABLE}: that file then holds an identity credential for agent ${agent.name} (not a secret value). Anyone who can read it can act as that agent until the token expires or is revoked (\`agentsecrets agent token revoke TOKEN_ID --agent ${agent.name}\`)`,
    );
    await requireHuman(ctx, {
      action: `Issue ${tokenTargets.length} token(s) for agent ${agent.name} and write them into ${tokenTargets.map((r) => r.client).join(', ')}`,
      confirm: agent.name,
      yes: opts.yes,
    });
    await issueTokens(ctx, agent, tokenTargets, tokens);
  }

  await writeFiles(ctx, run, files, tokens);
  for (const c of clis) {
    const issued = tokens.get(c.result);
    // The token goes into a 0600 file, never into the argv of `claude` nor onto the terminal.
    const tokenFile = issued === undefined ? undefined : await writeTokenFile(ctx, issued);
    const argv = run.uninstall
      ? claudeRemoveArgs()
      : claudeAddArgs(run.entryFor(undefined, tokenFile));
    if (c.claude === undefined) {
      c.result.action = 'manual';
      c.result.reason = `no \`claude\` command on PATH; run this yourself: ${shellCommand(['claude', ...argv], process.platform)}`;
      continue;
    }
    await viaClaude(ctx, c, argv, issued?.token, run.uninstall);
  }
  for (const [result, issued] of tokens) {
    if (result.action !== 'installed' && result.action !== 'updated') continue;
    ctx.out.notice(
      `token ${issued.tokenId} (label mcp:${result.client}) for agent ${agent!.name} is in ${result.file} as ${TOKEN_VARIABLE}; it expires ${issued.expiresAt.toISOString()}. Revoke it with: agentsecrets agent token revoke ${issued.tokenId} --agent ${agent!.name}`,
    );
  }
  return report(ctx, opts, results, run);
}

/**
 * Finds each client's file, decides whether it may be written (`--client all` writes only
 * where the client's folder exists), reads it and plans the change. Writes nothing.
 */
async function collectTargets(ctx: CliContext, run: InstallRun): Promise<Targets> {
  const { scope, explicit, uninstall } = run;
  const targets: Targets = { files: [], clis: [], results: [] };
  const pctx = pathContext(ctx);
  for (const client of run.clients) {
    const label = CLIENTS[client].label;
    const location = configLocation(client, scope, pctx);
    if (location.kind === 'unsupported') {
      if (explicit) throw new UsageError(location.reason);
      targets.results.push({ client, scope, file: '', action: 'skipped', reason: location.reason });
      continue;
    }
    const result: InstallResult = { client, scope, file: location.file, action: 'skipped' };
    targets.results.push(result);
    if (location.kind === 'claude-cli') {
      const claude = await findOnPath('claude', ctx.config.env);
      if (claude === undefined && !explicit) {
        result.reason = 'no `claude` command on PATH (Claude Code not found)';
      } else if (claude === undefined && run.wantToken && !run.dryRun) {
        result.action = 'failed';
        result.reason =
          'no `claude` command on PATH, and a token cannot be handed over without printing it: install the Claude Code CLI, or use --scope project';
      } else {
        targets.clis.push({ claude, result });
      }
      continue;
    }
    let createDir = false;
    if (!(await isDir(location.dir))) {
      if (!explicit) {
        result.reason = `no folder ${location.dir} (${label} not found)`;
        continue;
      }
      if (uninstall) {
        result.action = 'not installed';
        continue;
      }
      if (scope === 'user') {
        result.action = 'failed';
        result.reason = `${label} does not seem to be installed: looked for ${location.file}, but the folder ${location.dir} does not exist. Start ${label} once, or create the folder, then run this again`;
        continue;
      }
      // An explicit project install creates .cursor, .vscode or .zed: the user asked for it.
      createDir = true;
    }
    const file = await readConfigFile(location.file);
    if (
      file.text === undefined &&
      !explicit &&
      !uninstall &&
      client === 'claude-code' &&
      !(await isDir(join(ctx.config.cwd, '.claude')))
    ) {
      result.reason = `no .mcp.json or .claude folder in ${ctx.config.cwd}`;
      continue;
    }
    const token = run.wantToken ? TOKEN_PLACEHOLDER : undefined;
    const planned = uninstall
      ? planUninstall(file.text, location)
      : planInstall(file.text, location, shapeEntry(location, run.entryFor(token)));
    if (!planned.ok) {
      result.action = 'failed';
      result.reason = `${location.file}: ${planned.failure.message}; fix or move the file, nothing was changed`;
      continue;
    }
    targets.files.push({ location, file, createDir, plan: planned.value, result });
  }
  return targets;
}

/** Backs up and writes each planned file; a file that fails is reported, the rest go on. */
async function writeFiles(
  ctx: CliContext,
  run: InstallRun,
  files: FileWork[],
  tokens: Map<InstallResult, Issued>,
): Promise<void> {
  const now = new Date();
  for (const w of files) {
    const { result, location } = w;
    const issued = tokens.get(result);
    const plan: Parsed<FilePlan> =
      issued === undefined
        ? { ok: true, value: w.plan }
        : planInstall(w.file.text, location, shapeEntry(location, run.entryFor(issued.token)));
    if (!plan.ok) {
      result.action = 'failed';
      result.reason = plan.failure.message;
      continue;
    }
    result.action = DONE_ACTIONS[plan.value.action];
    if (plan.value.action === 'unchanged' || plan.value.action === 'absent') continue;
    try {
      if (w.createDir) await mkdir(location.dir, { recursive: true });
      const env = plan.value.after?.env;
      const holdsToken = isObject(env) && typeof env[TOKEN_VARIABLE] === 'string';
      result.backup = await commit(w.file, plan.value.text, {
        now,
        holdsToken,
        shown: location.file,
      });
      noteReplacedToken(ctx, plan.value, location.file);
    } catch (err) {
      const expected =
        err instanceof AgentSecretsError || isErrno(err, 'EACCES', 'EPERM', 'EROFS', 'ENOSPC');
      if (!expected) throw err;
      result.action = 'failed';
      result.reason =
        err instanceof AgentSecretsError
          ? err.message
          : `could not write ${location.file} (${errnoCode(err)}); nothing was changed there`;
    }
  }
}

async function issueTokens(
  ctx: CliContext,
  agent: AgentRecord,
  targets: InstallResult[],
  into: Map<InstallResult, Issued>,
): Promise<void> {
  const services = ctx.services();
  const vault = await services.vault.unlock();
  try {
    const key = (await loadSigningKey(vault, agent.workspace_id, { create: true }))!;
    for (const target of targets) {
      into.set(
        target,
        await issueToken({
          key,
          agent,
          label: `mcp:${target.client}`,
          ttlSeconds: DEFAULT_TTL_SECONDS,
          now: new Date(),
        }),
      );
    }
  } finally {
    vault.close();
  }
  // Metadata only (id, label, expiry), before any token reaches a file.
  const created = new Date().toISOString();
  await updateLocalAgents(ctx, (file) => {
    const current = file.agents.find((a) => a.id === agent.id);
    if (current === undefined || current.generation !== agent.generation) {
      throw new AgentSecretsError(
        'conflict',
        `agent ${agent.name} changed while its tokens were being issued; nothing was written, run the command again`,
      );
    }
    for (const [target, issued] of into) {
      current.tokens.push({
        id: issued.tokenId,
        label: `mcp:${target.client}`,
        created_at: created,
        expires_at: issued.expiresAt.toISOString(),
        revoked_at: null,
      });
    }
  });
}

/** Tells the user that a token we replaced or removed still works until revoked. */
function noteReplacedToken(ctx: CliContext, plan: FilePlan, file: string): void {
  const before = isObject(plan.before) && isObject(plan.before.env) ? plan.before.env : {};
  const after = isObject(plan.after?.env) ? plan.after.env : {};
  const old = tokenInfo(before[TOKEN_VARIABLE]);
  if (old === undefined || before[TOKEN_VARIABLE] === after[TOKEN_VARIABLE]) return;
  ctx.out.notice(
    `the token ${old.id} that was in ${file} still works until it expires or is revoked: agentsecrets agent token revoke ${old.id} --agent ${old.agent}`,
  );
}

async function viaClaude(
  ctx: CliContext,
  work: CliWork,
  argv: string[],
  token: string | undefined,
  uninstall: boolean,
): Promise<void> {
  const { result } = work;
  const claude = work.claude!;
  let run = await runClaude(ctx, claude, argv, token);
  if (uninstall) {
    if (run.code === 0) result.action = 'removed';
    else if (/not found|no .*server/i.test(run.output)) result.action = 'not installed';
    else {
      result.action = 'failed';
      result.reason = `claude mcp remove exited with code ${run.code}: ${firstLine(run.output)}`;
    }
    return;
  }
  result.action = 'installed';
  if (run.code !== 0 && /already exists/i.test(run.output)) {
    await runClaude(ctx, claude, claudeRemoveArgs(), token);
    run = await runClaude(ctx, claude, argv, token);
    result.action = 'updated';
  }
  result.reason = 'via `claude mcp add -s user`';
  if (run.code !== 0) {
    result.action = 'failed';
    result.reason = `claude mcp add exited with code ${run.code}: ${firstLine(run.output)}`;
  }
}

function report(
  ctx: CliContext,
  opts: { json?: boolean },
  results: InstallResult[],
  mode: { uninstall: boolean; dryRun: boolean },
): number {
  const failed = results.some((r) => r.action === 'failed');
  for (const r of results.filter((x) => x.action === 'failed')) {
    ctx.out.notice(`error: ${r.client} (${r.scope}): ${r.reason}`);
  }
  if (opts.json) {
    ctx.out.json(results);
    return failed ? EXIT.failed : EXIT.ok;
  }
  for (const r of results.filter((x) => x.action !== 'failed')) {
    const what =
      r.action === 'skipped' || r.action === 'manual'
        ? `${r.action === 'skipped' ? 'skipped: ' : ''}${r.reason}`
        : `${r.action} ${r.file}`;
    ctx.out.line(`${r.client} (${r.scope}): ${what}`);
    if (r.backup !== undefined) ctx.out.line(`  backup of the previous file: ${r.backup}`);
    if (r.entry !== undefined) ctx.out.line(`  entry: ${JSON.stringify(r.entry)}`);
    if (r.action.startsWith('would') && r.reason !== undefined) ctx.out.line(`  ${r.reason}`);
  }
  const changed = results.filter((r) => ['installed', 'updated', 'removed'].includes(r.action));
  if (changed.length > 0) {
    const names = [...new Set(changed.map((r) => CLIENTS[r.client].label))].join(', ');
    ctx.out.notice(`Restart ${names} (or reload its MCP servers) to pick up the change.`);
  }
  if (results.every((r) => r.action === 'skipped')) {
    ctx.out.notice(
      mode.uninstall
        ? 'no MCP client configuration found; nothing to remove'
        : 'no MCP client found: name one with --client (its folder must exist), or use --scope project',
    );
  }
  if (mode.dryRun) ctx.out.notice('dry run: nothing was written');
  return failed ? EXIT.failed : EXIT.ok;
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
