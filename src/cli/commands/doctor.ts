import { homedir } from 'node:os';
import { verifyChain } from '../../audit/verify.js';
import { packageRoot } from '../../core/package-root.js';
import {
  type Finding,
  looseModes,
  passphraseFiles,
  procOwner,
  ptraceScope,
  writableProgramFiles,
} from '../../doctor/checks.js';
import { keyHolderState } from '../../proxy/key-holder.js';
import { findKeyHolder } from '../../proxy/state.js';
import { syncSettings } from '../../sync/settings.js';
import { probeKeyring } from '../../vault/keyring.js';
import type { CliContext } from '../context.js';
import { EXIT } from '../exit.js';

/** `doctor [--json]`: what would let an agent in, and what to do. Exit 0 only when nothing fails. */
export async function doctor(ctx: CliContext, options: { json?: boolean }): Promise<number> {
  const findings = await runChecks(ctx);
  const failed = findings.some((f) => f.level === 'fail');
  if (options.json) {
    ctx.out.json({ ok: !failed, checks: findings });
  } else {
    for (const f of findings) {
      ctx.out.line(
        `${f.level === 'ok' ? 'ok  ' : f.level === 'warn' ? 'WARN' : 'FAIL'}  ${f.check}: ${f.detail}`,
      );
      if (f.fix !== undefined) ctx.out.line(`      -> ${f.fix}`);
    }
    ctx.out.line(failed ? 'doctor: something needs fixing' : 'doctor: all is well');
  }
  return failed ? EXIT.failed : EXIT.ok;
}

async function runChecks(ctx: CliContext): Promise<Finding[]> {
  const { config } = ctx;
  const services = ctx.services();
  const strict = await ctx.strict();
  const out: Finding[] = [];
  const add = (check: string, level: Finding['level'], detail: string, fix?: string) =>
    out.push({ check, level, detail, ...(fix === undefined ? {} : { fix }) });

  const probe = await probeKeyring(services.keyring).catch((err: unknown) => ({
    ok: false as const,
    reason: err instanceof Error ? err.message : 'unreachable',
  }));
  add(
    'keychain',
    probe.ok ? 'ok' : 'warn',
    probe.ok ? 'the OS keychain answers' : `the OS keychain is not reachable (${probe.reason})`,
    probe.ok ? undefined : 'fine for a passphrase vault; a keychain vault will not unlock',
  );

  const exists = await services.vault.exists().catch(() => false);
  const header = exists ? await services.vault.read().catch(() => undefined) : undefined;
  if (header === undefined) {
    add('vault', 'fail', 'no readable vault', 'run `agentsecrets init`');
  } else if (strict) {
    add('vault', 'ok', 'passphrase vault in strict mode');
  } else {
    add(
      'vault',
      'warn',
      `${header.key.provider} vault, strict mode off: a program running as you (an agent with a shell) can get values`,
      'run `agentsecrets strict enable`',
    );
  }

  const inEnv = ['AGENTSECRETS_PASSPHRASE', 'AGENTSECRETS_NEW_PASSPHRASE'].filter(
    (v) => (config.env[v] ?? '') !== '',
  );
  add(
    'passphrase_in_environment',
    inEnv.length === 0 ? 'ok' : 'fail',
    inEnv.length === 0
      ? 'no passphrase in the environment'
      : `${inEnv.join(', ')} is set: every process of yours can read it`,
    inEnv.length === 0 ? undefined : `unset ${inEnv.join(', ')}`,
  );
  const files = await passphraseFiles(config.env.HOME ?? homedir(), config.cwd);
  add(
    'passphrase_in_files',
    files.length === 0 ? 'ok' : 'fail',
    files.length === 0
      ? 'no passphrase in shell start-up or .env files'
      : `a passphrase variable is set in ${files.join(', ')}`,
    files.length === 0
      ? undefined
      : 'remove it from those files and change the passphrase (`agentsecrets vault rekey`)',
  );

  const writable = await writableProgramFiles(packageRoot(import.meta.url));
  const root = process.getuid?.() === 0;
  add(
    'program_files',
    writable.length === 0 ? 'ok' : root ? 'warn' : strict ? 'fail' : 'warn',
    writable.length === 0
      ? 'agentsecrets program files are not writable by this user'
      : `this user can write agentsecrets program files (${writable.join(', ')}): an agent could replace them`,
    writable.length === 0
      ? undefined
      : 'install agentsecrets where you cannot write, e.g. `sudo npm install -g agentsecrets`',
  );

  const scope = await ptraceScope();
  add(
    'ptrace_scope',
    scope !== null && scope >= 1 ? 'ok' : 'warn',
    scope === null
      ? 'Yama is not present: any process of yours may attach to your other processes, except non-dumpable ones (the strict key holder)'
      : `Yama ptrace_scope is ${scope}${scope === 0 ? ': any process of yours may attach to your other processes' : ''}`,
    scope !== null && scope >= 1
      ? undefined
      : 'echo 1 | sudo tee /proc/sys/kernel/yama/ptrace_scope (where Yama exists)',
  );

  const holder = await findKeyHolder(config.paths);
  const state = holder === undefined ? undefined : await keyHolderState(holder.socket);
  if (holder === undefined) {
    add(
      'key_holder',
      strict ? 'warn' : 'ok',
      'no key holder is running',
      strict ? 'start it at your terminal: `agentsecrets proxy start`' : undefined,
    );
  } else {
    const owner = await procOwner(holder.pid);
    const nonDumpable = state?.dumpable === 0 && (root || owner === 0);
    if (strict && (state?.strict !== true || !nonDumpable)) {
      add(
        'key_holder',
        'fail',
        `the key holder (pid ${holder.pid}) is ${state?.strict === true ? 'strict but dumpable' : 'not in strict mode'}`,
        'restart it: `agentsecrets proxy stop`, then `agentsecrets proxy start`',
      );
    } else {
      add(
        'key_holder',
        'ok',
        `key holder pid ${holder.pid}${nonDumpable ? ', not dumpable' : ''}${state?.strict === true ? ', strict' : ''}`,
      );
    }
  }

  if (strict) {
    const tampered = Array.isArray(state?.tampered) ? (state.tampered as string[]) : undefined;
    if (tampered === undefined)
      add(
        'documents',
        'warn',
        'not checked: the seals are checked by a running strict key holder',
        'start the key holder: `agentsecrets proxy start`',
      );
    else
      add(
        'documents',
        tampered.length === 0 ? 'ok' : 'fail',
        tampered.length === 0
          ? 'allowlist, agents and bindings match their seals'
          : `${tampered.join(', ')} changed outside agentsecrets (state_tampered)`,
        tampered.length === 0
          ? undefined
          : 'restore from a backup, or check and accept: `agentsecrets strict reseal`',
      );
  } else {
    add(
      'documents',
      'warn',
      'rights documents are not sealed (strict mode off): a hand edit is obeyed',
      'run `agentsecrets strict enable`',
    );
  }

  const loose = await looseModes(config.paths.home);
  add(
    'state_modes',
    loose.length === 0 ? 'ok' : 'fail',
    loose.length === 0
      ? 'state folder 0700, files 0600'
      : `readable by others: ${loose.slice(0, 5).join(', ')}`,
    loose.length === 0 ? undefined : `chmod -R go-rwx ${config.paths.home}`,
  );

  const workspace = await services.workspaces.currentWorkspace().catch(() => undefined);
  if (workspace !== undefined) {
    add(
      'allowlist',
      workspace.allowlist.length === 0 ? 'warn' : 'ok',
      workspace.allowlist.length === 0
        ? 'the allowlist is empty: no call can be made'
        : `${workspace.allowlist.length} allowed domain(s)`,
      workspace.allowlist.length === 0
        ? 'agentsecrets workspace allowlist add api.example.com'
        : undefined,
    );
  }

  const chain = await verifyChain(config.paths.auditDir).catch(() => undefined);
  add(
    'log_verify',
    chain?.ok === true ? 'ok' : 'fail',
    chain === undefined
      ? 'the audit log could not be read'
      : chain.ok
        ? `${chain.entries} entries, chain intact`
        : 'the audit chain is broken',
    chain?.ok === true ? undefined : 'run `agentsecrets log verify` for where',
  );

  await teamChecks(ctx, add);
  return out;
}

async function teamChecks(
  ctx: CliContext,
  add: (check: string, level: Finding['level'], detail: string, fix?: string) => void,
): Promise<void> {
  const teams = (await ctx.services().workspaces.readWorkspaces()).workspaces.filter(
    (w) => w.kind === 'team',
  );
  if (teams.length === 0) {
    add('team', 'ok', 'no team workspace');
    return;
  }
  const { maxStalenessMs } = syncSettings(ctx.config.env);
  for (const w of teams) {
    const synced = Date.parse(w.team?.synced_at ?? '') || 0;
    const age = Date.now() - synced;
    add(
      `team:${w.name}`,
      age <= maxStalenessMs ? 'ok' : 'warn',
      synced === 0 ? 'never synced' : `last synced ${Math.round(age / 1000)} s ago`,
      age <= maxStalenessMs ? undefined : '`agentsecrets proxy sync` (is the server reachable?)',
    );
    if (w.team === undefined) continue;
    try {
      const res = await fetch(w.team.server_url, { signal: AbortSignal.timeout(3000) });
      const date = Date.parse(res.headers.get('date') ?? '');
      const skew = Number.isNaN(date) ? null : Math.abs(Date.now() - date);
      add(
        `clock:${w.name}`,
        skew !== null && skew > 60_000 ? 'warn' : 'ok',
        skew === null
          ? 'the server sent no Date'
          : `clock skew against the server ${Math.round(skew / 1000)} s`,
        skew !== null && skew > 60_000
          ? "fix this machine's clock (tokens and freshness use it)"
          : undefined,
      );
    } catch {
      add(`clock:${w.name}`, 'warn', `the server ${w.team.server_url} did not answer`);
    }
  }
}
