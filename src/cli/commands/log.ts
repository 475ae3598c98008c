import type { AuditEntry } from '../../audit/format.js';
import { newestEntries } from '../../audit/reader.js';
import { UsageError } from '../../core/errors.js';
import type { CliContext } from '../context.js';

export interface LogOptions {
  agent?: string;
  identity?: string;
  limit: string;
  json?: boolean;
}

/** `agentsecrets log`: audit entries, newest first, with identity filters. */
export async function log(ctx: CliContext, options: LogOptions): Promise<void> {
  const limit = Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError('--limit must be a positive whole number');
  if (
    options.identity !== undefined &&
    !['anonymous', 'declared', 'issued'].includes(options.identity)
  ) {
    throw new UsageError('--identity takes anonymous, declared or issued');
  }
  const filter = (e: AuditEntry) =>
    (options.agent === undefined || e.agent_id === options.agent) &&
    (options.identity === undefined || e.identity_level === options.identity);
  const entries = await newestEntries(ctx.config.paths.auditDir, limit, filter);
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
          `${e.status}${e.status_code === null ? '' : ` ${e.status_code}`}${e.reason ? ` ${e.reason}` : ''}`,
      },
      { header: 'DUR', value: (e) => `${Math.round(e.duration_ms)}ms` },
    ],
    'no matching entries',
  );
}

/** `billing-tool issued`, `claude-ai declared` or `anonymous`: a claim never reads as verified. */
export function identityLabel(e: AuditEntry): string {
  return e.agent_id === null ? 'anonymous' : `${e.agent_id} ${e.identity_level}`;
}
