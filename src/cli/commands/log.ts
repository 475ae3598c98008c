import { createPublicKey } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname, basename, join, resolve } from 'node:path';
import { keyIdOf, loadAuditSigner, vaultHeadStore } from '../../audit/checkpoints.js';
import { exportEntries } from '../../audit/export.js';
import type { AuditEntry, AuditStatus, IdentityLevel } from '../../audit/format.js';
import { locateEntry } from '../../audit/locate.js';
import { planPrune, pruneBefore } from '../../audit/prune.js';
import { type AuditFilter, matchesFilter, parseWhen, queryNewest } from '../../audit/query.js';
import { followEntries } from '../../audit/reader.js';
import { summarize } from '../../audit/summary.js';
import { type ChainReport, verifyChain, type VerifyOptions } from '../../audit/verify.js';
import { AgentSecretsError, isAgentSecretsError, UsageError } from '../../core/errors.js';
import { displayAgentName } from '../../identity/caller.js';
import { createKeyHolderClient } from '../../proxy/key-holder.js';
import { findKeyHolder } from '../../proxy/state.js';
import { type CliContext, requireHuman } from '../context.js';
import { EXIT } from '../exit.js';
import { keyList } from '../output.js';

/** The filter flags shared by `log`, `log export` and `log watch`. */
export interface FilterOptions {
  agent?: string;
  identity?: string;
  token?: string;
  secret?: string;
  domain?: string;
  method?: string;
  status?: string;
  statusClass?: string;
  redacted?: boolean;
  project?: string;
  env?: string;
  since?: string;
  until?: string;
}

/** Turns the flags into a filter, with clear errors for bad values. */
export function filterFrom(options: FilterOptions, now: Date = new Date()): AuditFilter {
  const oneOf = <T extends string>(
    value: string | undefined,
    choices: readonly T[],
    flag: string,
  ): T | undefined => {
    if (value === undefined) return undefined;
    if (!(choices as readonly string[]).includes(value))
      throw new UsageError(`${flag} takes ${choices.join(', ')}`);
    return value as T;
  };
  const status = oneOf<AuditStatus>(
    options.status?.toUpperCase(),
    ['OK', 'BLOCKED', 'ERROR'],
    '--status',
  );
  const filter: AuditFilter = {
    ...(options.agent === undefined ? {} : { agent: options.agent }),
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.secret === undefined ? {} : { secret: options.secret }),
    ...(options.domain === undefined ? {} : { domain: options.domain }),
    ...(options.method === undefined ? {} : { method: options.method }),
    ...(options.redacted === undefined ? {} : { redacted: options.redacted }),
    ...(options.project === undefined ? {} : { project: options.project }),
    ...(options.env === undefined ? {} : { environment: options.env }),
    ...(options.since === undefined ? {} : { since: parseWhen(options.since, now) }),
    ...(options.until === undefined ? {} : { until: parseWhen(options.until, now) }),
  };
  const identity = oneOf<IdentityLevel>(
    options.identity,
    ['anonymous', 'declared', 'issued'],
    '--identity',
  );
  if (identity !== undefined) filter.identity = identity;
  if (status !== undefined) filter.status = status;
  const statusClass = oneOf(
    options.statusClass,
    ['2xx', '3xx', '4xx', '5xx'] as const,
    '--status-class',
  );
  if (statusClass !== undefined) filter.statusClass = statusClass;
  return filter;
}

/** `log`: entries, newest first. */
export async function logList(
  ctx: CliContext,
  options: FilterOptions & { limit: string; json?: boolean },
): Promise<void> {
  const limit = Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError('--limit must be a positive whole number');
  const entries = await queryNewest(ctx.config.paths.auditDir, filterFrom(options), limit);
  if (options.json) return ctx.out.json(entries);
  ctx.out.table(
    entries,
    [
      { header: 'TIME', value: (e) => e.timestamp.replace('T', ' ').slice(0, 19) },
      { header: 'ENV', value: (e) => e.environment ?? '' },
      { header: 'AGENT', value: (e) => agentCell(e) },
      { header: 'IDENTITY', value: (e) => e.identity_level },
      { header: 'SECRETS', value: (e) => keyList(e.secret_keys) },
      { header: 'DOMAIN', value: (e) => e.domain ?? e.command ?? '' },
      {
        header: 'STATUS',
        value: (e) =>
          `${e.status}${e.status_code === null ? '' : ` ${e.status_code}`}${e.reason ? ` ${e.reason}` : ''}${e.redacted ? ' (redacted)' : ''}`,
      },
      { header: 'DUR', value: (e) => `${Math.round(e.duration_ms)}ms` },
      { header: 'ID', value: (e) => e.id },
    ],
    'no matching entries',
  );
}

/**
 * The agent name of an entry for display: `-` when anonymous; a name outside the declared-name
 * pattern (only entries written before it was enforced) is quoted and escaped, so it reads as
 * one value and can never imitate a level or another column.
 */
export function agentCell(e: AuditEntry): string {
  return e.agent_id === null ? '-' : displayAgentName(e.agent_id);
}

/** `log show <id>`: everything about one entry, with its place in the chain. */
export async function logShow(
  ctx: CliContext,
  id: string,
  options: { json?: boolean },
): Promise<number> {
  const found = await locateEntry(ctx.config.paths.auditDir, id);
  if (found === undefined)
    throw new AgentSecretsError(
      'not_found',
      `no audit entry ${id}; ids are in \`agentsecrets log\``,
    );
  if (options.json) {
    ctx.out.json(found);
    return found.hashValid ? EXIT.ok : EXIT.failed;
  }
  const e = found.entry;
  const rows: [string, string][] = [
    ['id', e.id],
    ['time', e.timestamp],
    ['agent', agentCell(e)],
    ['identity', e.identity_level + (e.token_id ? ` (token ${e.token_id})` : '')],
    ['source', e.source],
    ['where', `${e.workspace ?? '-'}/${e.project ?? '-'}/${e.environment ?? '-'}`],
    ['request', `${e.method} ${e.target_url ?? e.command ?? ''}`],
    ['secrets', `${e.secret_keys.join(', ') || '-'} (${e.auth_styles.join(', ') || '-'})`],
    [
      'outcome',
      `${e.status}${e.status_code === null ? '' : ` ${e.status_code}`}${e.reason ? ` ${e.reason}` : ''}`,
    ],
    ['policy', e.policy ?? '(no rule applied)'],
    ['redacted', String(e.redacted)],
    ['duration', `${e.duration_ms} ms`],
    ['private net', e.private_override ?? '-'],
    ['position', `${found.segment}, line ${found.line}`],
    ['hash', `${e.hash} (${found.hashValid ? 'matches the entry' : 'DOES NOT MATCH the entry'})`],
    ['prev_hash', `${e.prev_hash}${found.previousId ? ` (entry ${found.previousId})` : ''}`],
    [
      'next',
      found.next === null
        ? '(last in its segment)'
        : `${found.next.id} (${found.next.linksBack ? 'links back' : 'DOES NOT link back'})`,
    ],
    [
      'checkpoint',
      found.checkpointed
        ? 'a signed checkpoint names this entry'
        : 'not itself checkpointed (run `agentsecrets log verify`)',
    ],
  ];
  for (const [label, value] of rows) ctx.out.line(`${label.padEnd(12)} ${value}`);
  return found.hashValid ? EXIT.ok : EXIT.failed;
}

/** `log summary [--since]`. */
export async function logSummary(
  ctx: CliContext,
  options: { since?: string; json?: boolean },
): Promise<void> {
  const filter = options.since === undefined ? {} : { since: parseWhen(options.since) };
  const s = await summarize(ctx.config.paths.auditDir, filter);
  if (options.json) return ctx.out.json(s);
  const out = ctx.out;
  out.line(
    `${s.entries} entries${s.first ? ` from ${s.first} to ${s.last}` : ''}${options.since ? ` (since ${options.since})` : ''}`,
  );
  out.line(`  status:    ${fmt(s.byStatus)}`);
  out.line(`  identity:  ${fmt(s.byIdentity)}`);
  out.line(`  source:    ${fmt(s.bySource)}`);
  out.line(`  redacted:  ${s.redacted}`);
  out.line(
    `top agents:  ${s.topAgents.map((a) => `${displayAgentName(a.agent)} (${a.level}, ${a.count})`).join(', ') || '-'}`,
  );
  out.line(`top secrets: ${s.topSecrets.map((x) => `${x.secret} (${x.count})`).join(', ') || '-'}`);
  out.line(`top domains: ${s.topDomains.map((x) => `${x.domain} (${x.count})`).join(', ') || '-'}`);
  out.line(
    `top blocks:  ${s.topBlockReasons.map((x) => `${x.reason} (${x.count})`).join(', ') || '-'}`,
  );
  if ((s.byIdentity.anonymous ?? 0) > 0) {
    out.notice(
      `${s.byIdentity.anonymous} call(s) were anonymous: \`agentsecrets log --identity anonymous\` lists them`,
    );
  }
}

function fmt(counts: Record<string, number>): string {
  const parts = Object.entries(counts).map(([k, v]) => `${k} ${v}`);
  return parts.length === 0 ? '-' : parts.join(', ');
}

/** `log export --format jsonl|csv [--output FILE]`: streams every matching entry. */
export async function logExport(
  ctx: CliContext,
  options: FilterOptions & { format: string; output?: string },
): Promise<void> {
  if (options.format !== 'jsonl' && options.format !== 'csv')
    throw new UsageError('--format takes jsonl or csv');
  const filter = filterFrom(options);
  const progress = (count: number) => ctx.out.progress(`exported ${count} entries…`);
  if (options.output === undefined) {
    const count = await exportEntries(ctx.config.paths.auditDir, process.stdout, {
      format: options.format,
      filter,
      onProgress: progress,
    });
    ctx.out.notice(`exported ${count} entries`);
    return;
  }
  // Into a temporary file beside the target, renamed at the end: no half-written export.
  const target = resolve(ctx.config.cwd, options.output);
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  const stream = createWriteStream(temp, { mode: 0o600 });
  try {
    const count = await exportEntries(ctx.config.paths.auditDir, stream, {
      format: options.format,
      filter,
      onProgress: progress,
    });
    await new Promise<void>((resolveEnd, reject) => {
      stream.once('error', reject);
      stream.end(() => resolveEnd());
    });
    await rename(temp, target);
    ctx.out.notice(`exported ${count} entries to ${target}`);
  } catch (err) {
    stream.destroy();
    await rm(temp, { force: true });
    throw err;
  }
}

/** `log watch`: follows new entries from every writer until interrupted. */
export async function logWatch(
  ctx: CliContext,
  options: FilterOptions & { json?: boolean },
): Promise<void> {
  const filter = filterFrom(options);
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  process.once('SIGTERM', () => controller.abort());
  ctx.out.notice('watching the audit log (Ctrl-C to stop)…');
  for await (const entry of followEntries(ctx.config.paths.auditDir, {
    signal: controller.signal,
  })) {
    if (!matchesFilter(entry, filter)) continue;
    if (options.json) ctx.out.line(JSON.stringify(entry));
    else {
      ctx.out.line(
        `${entry.timestamp.replace('T', ' ').slice(0, 19)}  ${agentCell(entry).padEnd(20)} ${entry.identity_level.padEnd(9)} ${entry.status.padEnd(7)} ${entry.method} ${entry.domain ?? entry.command ?? ''} [${keyList(entry.secret_keys)}]${entry.reason ? ` ${entry.reason}` : ''}`,
      );
    }
  }
}

/**
 * `log verify`: exit 0 only when the log is intact and every check could be made; 1 when it
 * is damaged; 4 when the vault could not be opened to check the signatures or the
 * checkpoint head.
 */
export async function logVerify(ctx: CliContext, options: { json?: boolean }): Promise<number> {
  const trust = await auditTrust(ctx);
  const report = await verifyChain(ctx.config.paths.auditDir, trust);
  const keyId = trust.publicKey === undefined ? null : keyIdOf(trust.publicKey);
  const code = !report.ok ? EXIT.failed : report.unchecked.length > 0 ? EXIT.locked : EXIT.ok;
  if (options.json) {
    ctx.out.json({
      ...report,
      intact: code === EXIT.ok,
      signatures_checked: report.checkpoints.signaturesChecked,
      head_checked: report.checkpoints.headChecked,
      signing_key: keyId,
    });
    return code;
  }
  const out = ctx.out;
  if (!report.ok) {
    const b = report.firstBreak!;
    out.line(
      `BROKEN: ${b.problem.replace(/_/g, ' ')} at ${b.segment}, line ${b.line}${b.entryId ? `, entry ${b.entryId}` : ''}`,
    );
    out.line(`  ${report.entries} entries verified before it`);
  } else {
    out.line(
      `${code === EXIT.ok ? 'intact' : 'NOT VERIFIED'}: ${report.entries} entries in ${report.segments} segment(s), chain head ${report.head.slice(0, 16)}…`,
    );
  }
  for (const line of verifyDetails(report, keyId)) out.line(line);
  if (report.ok && report.unchecked.length > 0) out.warn(uncheckedAdvice(report));
  return code;
}

/** The lines under the verdict: checkpoints, signed range, unsigned tail, prune base. */
function verifyDetails(report: ChainReport, keyId: string | null): string[] {
  const { checkpoints } = report;
  const signatures = checkpoints.signaturesChecked ? `checked (key ${keyId})` : 'NOT checked';
  const head = !checkpoints.headChecked
    ? 'NOT checked'
    : checkpoints.recordedHead === null
      ? 'checked (none recorded)'
      : `checked (the vault records number ${checkpoints.recordedHead})`;
  const lines = [
    `checkpoints: ${checkpoints.matched} of ${checkpoints.total} matched, signatures ${signatures}, head ${head}`,
  ];
  if (report.signedThrough !== null)
    lines.push(
      `signed through entry ${report.signedThrough.entryId} (${report.signedThrough.segment})`,
    );
  if (report.unsignedTail > 0)
    lines.push(
      `unsigned tail: ${report.unsignedTail} entr${report.unsignedTail === 1 ? 'y' : 'ies'} after the last checkpoint (intact, not yet signed)`,
    );
  if (report.inProgress) lines.push('the newest entry was still being written: left for next time');
  if (report.base.segment !== null)
    lines.push(
      `starts at ${report.base.segment} (older segments pruned: ${report.base.pruned.length})`,
    );
  return lines;
}

/** Why the log is not reported intact, and what makes it checkable. */
function uncheckedAdvice(report: ChainReport): string {
  const what = report.unchecked.includes('signatures')
    ? 'the checkpoint signatures were not checked and deleted checkpoints cannot be detected'
    : 'deleted checkpoints cannot be detected (only the vault records the newest checkpoint)';
  const how =
    'start the key holder (`agentsecrets proxy start`), or set AGENTSECRETS_PASSPHRASE or run this at a terminal';
  return `the vault could not be opened, so ${what}: ${how}, then run \`agentsecrets log verify\` again`;
}

/**
 * What the vault vouches for: the signing key's public half and the recorded checkpoint head,
 * read here when the vault opens; else the key holder's public key alone; else nothing.
 */
async function auditTrust(ctx: CliContext): Promise<VerifyOptions> {
  // A running key holder holds the vault: it vouches without a passphrase prompt here.
  const held = await keyHolderTrust(ctx);
  if (held !== undefined) return held;
  try {
    const vault = await ctx.services().vault.unlock();
    try {
      const signer = await loadAuditSigner(vault, { create: false });
      const recordedHead = (await vaultHeadStore(vault).read()) ?? null;
      return signer === undefined
        ? { recordedHead }
        : { publicKey: signer.publicKey, recordedHead };
    } finally {
      vault.close();
    }
  } catch (err) {
    // No vault at all: no signing key, so nothing can have been signed.
    if (isAgentSecretsError(err, 'not_initialized')) return { recordedHead: null };
    if (!isAgentSecretsError(err, 'vault_locked', 'unlock_failed', 'keychain_unavailable'))
      throw err;
  }
  return {};
}

/** The audit key and recorded head as a running key holder has them, if one runs. */
async function keyHolderTrust(ctx: CliContext): Promise<VerifyOptions | undefined> {
  const holder = await findKeyHolder(ctx.config.paths);
  if (holder === undefined) return undefined;
  const client = createKeyHolderClient(holder.socket);
  try {
    const trust = await client.auditTrust();
    return trust.publicKey === undefined
      ? { recordedHead: trust.head }
      : { publicKey: createPublicKey(trust.publicKey), recordedHead: trust.head };
  } finally {
    await client.close();
  }
}

/** `log prune --before DATE` (human-gated): removes whole old segments, signs where the rest starts. */
export async function logPrune(
  ctx: CliContext,
  options: { before: string; dryRun?: boolean; yes?: boolean; json?: boolean },
): Promise<void> {
  const before = parseWhen(options.before);
  const dir = ctx.config.paths.auditDir;
  // Deleting audit history is a human's decision, whatever there is to delete.
  if (!options.dryRun && !ctx.prompt.interactive && !(await ctx.strict())) {
    await requireHuman(ctx, {
      action: `Prune the audit log before ${before}`,
      confirm: 'prune',
      yes: true,
    });
  }
  const preview = await planPrune(dir, before);
  if (options.dryRun || preview.removed.length === 0) {
    if (options.json) return ctx.out.json({ ...preview, dry_run: true });
    ctx.out.line(
      preview.removed.length === 0
        ? `nothing to prune: no whole segment is older than ${before}`
        : `would remove ${preview.removed.length} segment(s), ${preview.entriesRemoved} entries: ${preview.removed.join(', ')}`,
    );
    return;
  }
  await requireHuman(ctx, {
    action: `Delete ${preview.entriesRemoved} audit entries older than ${before} (${preview.removed.length} segment(s))`,
    confirm: 'prune',
    yes: options.yes,
  });
  // A prune must be signed, or what remains could not be told from a truncated log.
  const vault = await ctx.services().vault.unlock();
  let result;
  try {
    const signer = (await loadAuditSigner(vault, { create: true }))!;
    result = await pruneBefore(dir, before, signer);
  } finally {
    vault.close();
  }
  if (options.json) return ctx.out.json(result);
  ctx.out.line(
    `removed ${result.removed.length} segment(s), ${result.entriesRemoved} entries; the log now starts at ${result.keptFrom} (a signed checkpoint records it)`,
  );
}
