import { createDashboardActions } from '../dashboard-actions.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditEntry } from '../../audit/format.js';
import { followEntries, newestEntries } from '../../audit/reader.js';
import { AgentSecretsError, UsageError } from '../../core/errors.js';
import { parseResolveList } from '../../proxy/resolve.js';
import { parseCidrList } from '../../proxy/ssrf.js';
import { liveProxyState } from '../../app/key-holder.js';
import { clearProxyState, readProxyState } from '../../proxy/state.js';
import { isProcessAlive } from '../../store/fs.js';
import type { CliContext } from '../context.js';
import { hardenProcess } from '../../strict/harden.js';
import { type Column, keyList } from '../output.js';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/** `proxy start`: the key holder, in the foreground until SIGINT/SIGTERM. */
export async function proxyStart(
  ctx: CliContext,
  options: { port: string; host: string; sessionToken?: boolean; interceptPort?: string | false },
): Promise<number> {
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError('--port must be 0-65535');
  const interceptPort =
    options.interceptPort === false ? null : Number(options.interceptPort ?? '0');
  if (
    interceptPort !== null &&
    (!Number.isInteger(interceptPort) || interceptPort < 0 || interceptPort > 65535)
  )
    throw new UsageError('--intercept-port must be 0-65535');
  const { out, config } = ctx;
  const existing = await liveProxyState(config.paths);
  if (existing !== undefined) {
    throw new AgentSecretsError(
      'conflict',
      `a proxy is already running (pid ${existing.pid}, port ${existing.port}); stop it with \`agentsecrets proxy stop\``,
    );
  }
  const override = parseCidrList(config.allowPrivate);
  const services = ctx.services();
  // Validate the selection before unlocking, so a bad setup fails fast.
  await services.workspaces.resolve();
  const strict = await ctx.strict();
  // Strict mode: not dumpable and no core dumps before the passphrase is even read; the
  // passphrase comes from /dev/tty only (the services' passphrase source sees to that).
  if (strict) hardenProcess();
  const vault = await services.vault.unlock();
  const { startProxy } = await import('../../app/proxy-runtime.js');
  let running;
  try {
    running = await startProxy({
      services,
      vault,
      port,
      host: options.host,
      sessionToken: options.sessionToken !== false,
      interceptPort,
      strict: vault.strict,
      dashboardActions: createDashboardActions,
    });
  } catch (err) {
    vault.close();
    if (err instanceof Error && 'code' in err && err.code === 'EADDRINUSE') {
      throw new AgentSecretsError(
        'conflict',
        `port ${port} on ${options.host} is in use; pick another with --port`,
      );
    }
    throw err;
  }
  const { state } = running;
  out.notice(
    `agentsecrets proxy listening on http://${hostForUrl(state.host)}:${state.port} (pid ${state.pid})`,
  );
  out.notice(`key holder socket: ${state.socket}`);
  if (state.intercept_port !== null && state.intercept_port !== undefined) {
    out.notice(
      `intercepting proxy for \`agentsecrets run\` on http://127.0.0.1:${state.intercept_port}`,
    );
  }
  if (!LOOPBACK.has(options.host)) {
    out.warn(`listening on ${options.host}, not loopback: other machines may reach this port`);
  }
  if (state.session_token === null) {
    out.warn(
      '--no-session-token: any local process can use this proxy without the token in proxy.json',
    );
  }
  if (!override.empty) {
    out.warn(
      `AGENTSECRETS_ALLOW_PRIVATE opens ${override.source} (plain HTTP and private addresses); every audit entry records it`,
    );
  }
  const resolveTable = parseResolveList(config.env.AGENTSECRETS_RESOLVE);
  if (resolveTable.source !== '') {
    out.warn(
      `AGENTSECRETS_RESOLVE pins ${resolveTable.source} (tests and local development only); every audit entry records it`,
    );
  }
  if (vault.strict) {
    out.notice(
      'strict mode: this key holder is not dumpable and writes no core; it never hands out values, and it acts only on rights documents that match their seal',
    );
  }
  out.notice('Press Ctrl-C to stop.');

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  out.notice('stopping: finishing in-flight calls…');
  await running.close();
  out.notice('stopped.');
  return 0;
}

/** `proxy status`. */
export async function proxyStatus(ctx: CliContext, options: { json?: boolean }): Promise<number> {
  const state = await readProxyState(ctx.config.paths);
  const alive = state !== undefined && isProcessAlive(state.pid);
  let healthy = false;
  if (alive) {
    try {
      const res = await fetch(
        `http://${hostForUrl(state.host === '0.0.0.0' ? '127.0.0.1' : state.host)}:${state.port}/health`,
        {
          signal: AbortSignal.timeout(2000),
        },
      );
      healthy = res.ok;
    } catch {
      healthy = false;
    }
  }
  const result = {
    running: alive && healthy,
    pid: alive ? state.pid : null,
    host: state?.host ?? null,
    port: state?.port ?? null,
    socket: alive ? state.socket : null,
    session_token_required: state === undefined ? null : !state.no_session_token,
    started_at: state?.started_at ?? null,
    stale_state_file: state !== undefined && !alive,
  };
  if (options.json) {
    ctx.out.json(result);
    return 0;
  }
  if (!result.running) {
    ctx.out.line('proxy: not running');
    if (result.stale_state_file)
      ctx.out.notice(
        `(a stale proxy.json from pid ${state!.pid} is left; \`agentsecrets proxy stop\` clears it)`,
      );
    if (alive && !healthy) ctx.out.warn(`pid ${state.pid} is alive but /health does not answer`);
    return 0;
  }
  if (state === undefined) return 0;
  ctx.out.line(
    `proxy: running on http://${hostForUrl(state.host)}:${state.port} (pid ${state.pid}, since ${state.started_at})`,
  );
  ctx.out.line(
    `session token: ${state.no_session_token ? 'NOT required (--no-session-token)' : 'required (in proxy.json)'}`,
  );
  ctx.out.line(`key holder socket: ${state.socket}`);
  return 0;
}

/** `proxy stop`: SIGTERM, wait up to 5 s, then SIGKILL. */
export async function proxyStop(ctx: CliContext, options: { json?: boolean }): Promise<number> {
  const state = await readProxyState(ctx.config.paths);
  if (state === undefined || !isProcessAlive(state.pid)) {
    if (state !== undefined) await clearProxyState(ctx.config.paths, state.pid);
    if (options.json) ctx.out.json({ stopped: false, running: false });
    else ctx.out.line('proxy: not running');
    return 0;
  }
  process.kill(state.pid, 'SIGTERM');
  let forced = false;
  for (let waited = 0; isProcessAlive(state.pid); waited += 100) {
    if (waited >= 5000) {
      process.kill(state.pid, 'SIGKILL');
      forced = true;
      await sleep(100);
      break;
    }
    await sleep(100);
  }
  await clearProxyState(ctx.config.paths, state.pid);
  if (options.json) ctx.out.json({ stopped: true, pid: state.pid, forced });
  else ctx.out.line(`proxy stopped (pid ${state.pid}${forced ? ', killed after 5 s' : ''})`);
  return 0;
}

/** `proxy logs [--last N] [--watch] [--json]`: recent audit entries. */
export async function proxyLogs(
  ctx: CliContext,
  options: { last: string; watch?: boolean; json?: boolean; secret?: string },
): Promise<number> {
  const last = Number(options.last);
  if (!Number.isInteger(last) || last < 1)
    throw new UsageError('--last must be a positive whole number');
  const filter = (e: AuditEntry) =>
    options.secret === undefined || e.secret_keys.includes(options.secret);
  const entries = (await newestEntries(ctx.config.paths.auditDir, last, filter)).reverse();
  if (options.json && !options.watch) {
    ctx.out.json(entries);
    return 0;
  }
  const print = (rows: AuditEntry[], header: boolean) => {
    if (options.json) {
      for (const row of rows) ctx.out.line(JSON.stringify(row));
      return;
    }
    const text = rows.length === 0 ? '' : renderRows(rows, header);
    if (text !== '') ctx.out.raw(text);
  };
  if (entries.length === 0 && !options.watch) ctx.out.line('no audit entries yet');
  print(entries, true);
  if (!options.watch) return 0;
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  for await (const entry of followEntries(ctx.config.paths.auditDir, {
    signal: controller.signal,
  })) {
    if (filter(entry)) print([entry], false);
  }
  return 0;
}

const COLUMNS: Column<AuditEntry>[] = [
  { header: 'TIME', value: (e) => e.timestamp.replace('T', ' ').slice(0, 19) },
  {
    header: 'STATUS',
    value: (e) => (e.status === 'OK' ? `* OK${e.redacted ? ' (REDACTED)' : ''}` : `x ${e.status}`),
  },
  { header: 'METHOD', value: (e) => e.method },
  {
    header: 'TARGET',
    value: (e) => (e.target_url ?? e.command ?? '').replace(/^https?:\/\//, '').slice(0, 40),
  },
  { header: 'SECRETS', value: (e) => keyList(e.secret_keys) },
  {
    header: 'AGENT',
    value: (e) => (e.agent_id === null ? 'anonymous' : `${e.agent_id} ${e.identity_level}`),
  },
  { header: 'CODE', value: (e) => (e.status_code === null ? '-' : String(e.status_code)) },
  { header: 'REASON', value: (e) => e.reason ?? '' },
  { header: 'DURATION', value: (e) => `${Math.round(e.duration_ms)}ms` },
];

function renderRows(rows: AuditEntry[], header: boolean): string {
  const widths = [19, 16, 7, 40, 20, 24, 4, 24, 8];
  const line = (cells: string[]) =>
    `${cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd()}\n`;
  const body = rows.map((row) => line(COLUMNS.map((c) => c.value(row)))).join('');
  return header ? line(COLUMNS.map((c) => c.header)) + body : body;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * `proxy sync`: pulls the team workspaces' signed documents (allowlist, policy, agents,
 * revocations) now, through the running proxy if there is one, else in this process.
 */
export async function proxySync(ctx: CliContext, options: { json?: boolean }): Promise<number> {
  const state = await liveProxyState(ctx.config.paths);
  let result: { status?: string; synced?: boolean; reason?: string; workspaces?: SyncOutcome[] };
  if (state !== undefined) {
    const host = LOOPBACK.has(state.host) ? state.host : '127.0.0.1';
    const response = await fetch(
      `http://${host.includes(':') ? `[${host}]` : host}:${state.port}/sync`,
      {
        method: 'POST',
        headers: state.session_token === null ? {} : { 'x-as-session-token': state.session_token },
        signal: AbortSignal.timeout(30_000),
      },
    );
    result = (await response.json()) as typeof result;
  } else {
    result = await syncInProcess(ctx);
  }
  if (options.json) {
    ctx.out.json(result);
  } else if (result.synced !== true) {
    ctx.out.line(result.reason ?? 'nothing to sync');
  } else {
    for (const w of result.workspaces ?? [])
      ctx.out.line(
        `${w.workspace}: ${w.ok ? (w.changed ? 'updated' : 'up to date') : `FAILED: ${w.error}`}`,
      );
  }
  return (result.workspaces ?? []).every((w) => w.ok) ? 0 : 1;
}

interface SyncOutcome {
  workspace: string;
  ok: boolean;
  changed: boolean;
  error?: string;
}

async function syncInProcess(ctx: CliContext) {
  const services = ctx.services();
  const teams = (await services.workspaces.readWorkspaces()).workspaces.filter(
    (w) => w.kind === 'team',
  );
  if (teams.length === 0) return { synced: false, reason: 'no team workspace to sync' };
  const { withTeam } = await import('../team-session.js');
  const { syncDoc } = await import('../../sync/team.js');
  const workspaces = await withTeam(ctx, async (team) => {
    const outcomes: SyncOutcome[] = [];
    for (const workspace of teams) {
      try {
        const { changed } = await syncDoc(
          services,
          team.session.api,
          team.sodium,
          workspace,
          undefined,
          team.vault,
        );
        await services.workspaces.updateWorkspace(workspace.id, (w) => {
          if (w.team !== undefined) w.team.synced_at = new Date().toISOString();
        });
        outcomes.push({ workspace: workspace.name, ok: true, changed });
      } catch (err) {
        const message = err instanceof AgentSecretsError ? err.message : 'unexpected error';
        outcomes.push({ workspace: workspace.name, ok: false, changed: false, error: message });
      }
    }
    return outcomes;
  });
  return { status: 'ok', synced: true, workspaces };
}
