import { createPublicKey, type KeyObject } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname, basename, join, resolve } from 'node:path';
import { loadAuditSigner, keyIdOf } from '../../audit/checkpoints.js';
import { exportEntries } from '../../audit/export.js';
import type { AuditEntry, AuditStatus, IdentityLevel } from '../../audit/format.js';
import { locateEntry } from '../../audit/locate.js';
import { planPrune, pruneBefore } from '../../audit/prune.js';
import { type AuditFilter, matchesFilter, parseWhen, queryNewest } from '../../audit/query.js';
import { followEntries } from '../../audit/reader.js';
import { summarize } from '../../audit/summary.js';
import { verifyChain } from '../../audit/verify.js';
import { AgentSecretsError, isAgentSecretsError, UsageError } from '../../core/errors.js';
import { type CliContext, requireHuman } from '../context.js';
import { credentialService } from '../credentials.js';
import { EXIT } from '../exit.js';

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
      { header: 'AGENT', value: (e) => identityLabel(e) },
      { header: 'SECRETS', value: (e) => e.secret_keys.join(',') },
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

/** `billing-tool issued`, `claude-ai declared` or `anonymous`: a claim never reads as verified. */
export function identityLabel(e: AuditEntry): string {
  return e.agent_id === null ? 'anonymous' : `${e.agent_id} ${e.identity_level}`;
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
    ['who', identityLabel(e) + (e.token_id ? ` (token ${e.token_id})` : '')],
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
    `top agents:  ${s.topAgents.map((a) => `${a.agent} ${a.level} (${a.count})`).join(', ') || '-'}`,
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
        `${entry.timestamp.replace('T', ' ').slice(0, 19)}  ${identityLabel(entry).padEnd(24)} ${entry.status.padEnd(7)} ${entry.method} ${entry.domain ?? entry.command ?? ''} [${entry.secret_keys.join(',')}]${entry.reason ? ` ${entry.reason}` : ''}`,
      );
    }
  }
}

/** `log verify`: exit 0 only when the log is intact. */
export async function logVerify(ctx: CliContext, options: { json?: boolean }): Promise<number> {
  const publicKey = await auditPublicKey(ctx);
  const report = await verifyChain(
    ctx.config.paths.auditDir,
    publicKey === undefined ? {} : { publicKey },
  );
  const keyId = publicKey === undefined ? null : keyIdOf(publicKey);
  if (options.json) {
    ctx.out.json({ ...report, signing_key: keyId });
    return report.ok ? EXIT.ok : EXIT.failed;
  }
  const out = ctx.out;
  if (report.ok) {
    out.line(
      `intact: ${report.entries} entries in ${report.segments} segment(s), chain head ${report.head.slice(0, 16)}…`,
    );
  } else {
    const b = report.firstBreak!;
    out.line(
      `BROKEN: ${b.problem.replace(/_/g, ' ')} at ${b.segment}, line ${b.line}${b.entryId ? `, entry ${b.entryId}` : ''}`,
    );
    out.line(`  ${report.entries} entries verified before it`);
  }
  out.line(
    `checkpoints: ${report.checkpoints.matched} of ${report.checkpoints.total} matched${report.checkpoints.signaturesChecked ? `, signatures checked (key ${keyId})` : ', signatures NOT checked (the vault is locked: run it where the vault opens, or with the proxy running)'}`,
  );
  if (report.signedThrough !== null)
    out.line(
      `signed through entry ${report.signedThrough.entryId} (${report.signedThrough.segment})`,
    );
  if (report.unsignedTail > 0)
    out.line(
      `unsigned tail: ${report.unsignedTail} entr${report.unsignedTail === 1 ? 'y' : 'ies'} after the last checkpoint (intact, not yet signed)`,
    );
  if (report.base.segment !== null)
    out.line(
      `starts at ${report.base.segment} (older segments pruned: ${report.base.pruned.length})`,
    );
  if (report.checkpoints.total === 0 && keyId !== null && report.entries > 0) {
    out.warn(
      'the vault holds an audit signing key but there are no checkpoints: were they deleted?',
    );
  }
  return report.ok ? EXIT.ok : EXIT.failed;
}

/** The audit public key: from the key holder, or by unlocking here; undefined if neither works. */
async function auditPublicKey(ctx: CliContext): Promise<KeyObject | undefined> {
  try {
    const credentials = await credentialService(ctx);
    try {
      const pem = await credentials.auditPublicKey();
      return pem === undefined ? undefined : createPublicKey(pem);
    } finally {
      await credentials.close();
    }
  } catch (err) {
    if (
      isAgentSecretsError(
        err,
        'vault_locked',
        'unlock_failed',
        'keychain_unavailable',
        'not_initialized',
      )
    )
      return undefined;
    throw err;
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
  if (!options.dryRun && !ctx.prompt.interactive) {
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
