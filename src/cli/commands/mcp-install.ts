import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentSecretsError, UsageError } from '../../core/errors.js';
import { type AgentRecord, createAgentStore } from '../../identity/agents.js';
import { assertDeclaredName } from '../../identity/caller.js';
import { DEFAULT_TTL_SECONDS, issueToken, loadSigningKey } from '../../identity/tokens.js';
import {
  buildEntry,
  CLIENT_IDS,
  CLIENTS,
  type ClientId,
  claudeAddArgs,
  claudeRemoveArgs,
  configLocation,
  type FileLocation,
  type FilePlan,
  isObject,
  type JsonObject,
  type Parsed,
  planInstall,
  planUninstall,
  type Scope,
  type ServerEntry,
  shapeEntry,
  shellCommand,
  TOKEN_VARIABLE,
  tokenInfo,
} from '../../clients/index.js';
import { isErrno } from '../../store/fs.js';
import { type CliContext, requireHuman } from '../context.js';
import { updateLocalAgents } from '../team-session.js';
import { EXIT } from '../exit.js';
import { keyHolderWarning } from '../key-holder-hint.js';
import {
  commit,
  type ConfigFile,
  errnoCode,
  findOnPath,
  firstLine,
  isDir,
  type Issued,
  pathContext,
  readConfigFile,
  runClaude,
  serverPaths,
  shownEntry,
  stateHome,
  tokenFilePath,
  writeTokenFile,
  TOKEN_PLACEHOLDER,
} from './mcp-files.js';

/** Options of `mcp install` (declared in src/cli/register/mcp.ts). */
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
