import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ENVIRONMENTS } from '../../core/config.js';
import { parseDotenv } from '../../core/dotenv.js';
import { AgentSecretsError, UsageError } from '../../core/errors.js';
import { assertKeyName } from '../../core/keys.js';
import { isErrno } from '../../store/fs.js';
import { parseAllowlistEntry } from '../../policy/allowlist.js';
import { INJECTION_STYLES } from '../../proxy/inject.js';
import type { SecretBinding } from '../../vault/format.js';
import { type RecordMeta, secretNotFound } from '../../vault/vault.js';
import { type CliContext, requireHuman } from '../context.js';
import { EXIT } from '../exit.js';
import { noTerminal } from '../tty.js';

import { MIN_INJECT_BYTES, MIN_SHORT_BYTES } from '../../proxy/engine.js';

/** Flags that pick the project and environment. */
export interface SelectionOptions {
  project?: string;
  env?: string;
}

function flags(options: SelectionOptions) {
  return { project: options.project, environment: options.env };
}

/** `secrets set KEY=value…` (argv, warned) or `secrets set KEY` (stdin or hidden prompt). */
export async function secretsSet(
  ctx: CliContext,
  args: string[],
  options: SelectionOptions & {
    json?: boolean;
    domains?: string;
    styles?: string;
    yes?: boolean;
    allowShort?: boolean;
    placeholderPrefix?: string;
  },
): Promise<void> {
  const { out } = ctx;
  if (args.length === 0)
    throw new UsageError(
      'give a key: `agentsecrets secrets set KEY` (value from stdin or a prompt)',
    );
  // A binding decides where a value may go: setting one is a human's decision (DESIGN §6).
  let binding: SecretBinding | undefined;
  if (options.domains !== undefined) {
    binding = {
      domains: options.domains
        .split(',')
        .map((d) => d.trim())
        .filter((d) => d !== '')
        .map((d) => parseAllowlistEntry(d).text),
      styles: parseStyles(options.styles),
    };
    if (binding.domains.length === 0) throw new UsageError('--domains needs at least one domain');
    await requireHuman(ctx, {
      action: `Store ${args.map((a) => a.split('=')[0]).join(', ')} bound to ${binding.domains.join(', ')}`,
      confirm: 'bind',
      yes: options.yes,
    });
  }
  // A short value is guessable, and the redaction marker says when a guess matched: letting
  // one be injected is a human's decision too.
  if (options.allowShort === true) {
    await requireHuman(ctx, {
      action: `Allow ${args.map((a) => a.split('=')[0]).join(', ')} to be injected although shorter than ${MIN_INJECT_BYTES} bytes (an agent can confirm a guess of a short value from the redaction marker)`,
      confirm: 'short',
      yes: options.yes,
    });
  }
  const prefix = options.placeholderPrefix;
  if (prefix !== undefined) {
    if (!/^[A-Za-z0-9_.-]{1,32}$/.test(prefix)) {
      throw new UsageError(
        '--placeholder-prefix takes 1-32 letters, digits, _, . or - (e.g. sk_live_)',
      );
    }
    // What a placeholder reveals is the human's decision: the prefix is shown to the program.
    await requireHuman(ctx, {
      action: `Let the \`run\` placeholder of ${args.map((a) => a.split('=')[0]).join(', ')} start with the public prefix '${prefix}'`,
      confirm: 'prefix',
      yes: options.yes,
    });
  }
  const withValue = args.filter((a) => a.includes('='));
  let entries: { key: string; value: string }[];
  if (withValue.length === 0) {
    if (args.length > 1) {
      throw new UsageError('give one key at a time when the value comes from stdin or a prompt');
    }
    const key = args[0]!;
    assertKeyName(key);
    entries = [{ key, value: await readValue(ctx, key) }];
  } else {
    if (withValue.length !== args.length) {
      throw new UsageError('mix of KEY=value and bare KEY arguments; use one form');
    }
    out.warn(
      'values given as KEY=value are visible to other processes (ps) and may land in shell history; prefer `agentsecrets secrets set KEY` and type or pipe the value',
    );
    entries = args.map((arg, i) => {
      const eq = arg.indexOf('=');
      const key = arg.slice(0, eq);
      assertKeyName(key, `key name in argument ${i + 1}`);
      return { key, value: arg.slice(eq + 1) };
    });
  }
  for (const { key, value } of entries) {
    if (value === '') throw new UsageError(`the value for ${key} is empty; nothing was stored`);
    const bytes = Buffer.byteLength(value, 'utf8');
    if (options.allowShort === true && bytes < MIN_SHORT_BYTES) {
      throw new UsageError(
        `the value for ${key} is shorter than ${MIN_SHORT_BYTES} bytes, too short to be scrubbed from responses; nothing was stored`,
      );
    }
    if (bytes < MIN_INJECT_BYTES && options.allowShort !== true) {
      out.warn(
        `${key} is shorter than ${MIN_INJECT_BYTES} bytes: it is easy to guess, so it will not be injected into calls unless a human allows it with \`agentsecrets secrets set ${key} --allow-short\``,
      );
    }
  }
  const services = ctx.services();
  const current = await services.workspaces.resolve(flags(options));
  const vault = await services.vault.unlock();
  try {
    const results = await vault.set(current.selection, entries);
    if (binding !== undefined) {
      for (const { key } of entries) await vault.setBinding(current.selection, key, binding);
    }
    if (options.allowShort === true) {
      for (const { key } of entries) await vault.setAllowShort(current.selection, key, true);
    }
    if (prefix !== undefined) {
      for (const { key } of entries)
        await vault.setPlaceholderPrefix(current.selection, key, prefix);
    }
    if (options.json) return out.json(results);
    for (const r of results) {
      out.line(
        `${r.action} ${r.key} in ${current.project.name}/${current.environment} (version ${r.version})`,
      );
    }
  } finally {
    vault.close();
  }
}

async function readValue(ctx: CliContext, key: string): Promise<string> {
  if (ctx.prompt.interactive) return ctx.prompt.hidden(`Value for ${key} (hidden): `);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return stripOneNewline(Buffer.concat(chunks).toString('utf8'));
}

/** Values from stdin lose one trailing `\n` or `\r\n`, nothing else (DESIGN §11). */
export function stripOneNewline(text: string): string {
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  if (text.endsWith('\n')) return text.slice(0, -1);
  return text;
}

/** `secrets list`: names and metadata, never values. */
export async function secretsList(
  ctx: CliContext,
  options: SelectionOptions & { json?: boolean; allEnvs?: boolean },
): Promise<void> {
  const { out } = ctx;
  const services = ctx.services();
  const current = await services.workspaces.resolve(flags(options));
  const scope = options.allEnvs
    ? { workspace_id: current.workspace.id, project_id: current.project.id }
    : current.selection;
  // Plain code-unit order: localeCompare goes through ICU and costs milliseconds per 1,000.
  const records = (await services.vault.list(scope)).sort((a, b) =>
    a.key === b.key ? compare(a.environment, b.environment) : compare(a.key, b.key),
  );
  if (options.json) return out.json(records.map(publicMeta));
  if (options.allEnvs) {
    const keys = [...new Set(records.map((r) => r.key))];
    const present = new Set(records.map((r) => `${r.key}\u0000${r.environment}`));
    out.table(
      keys,
      [
        { header: 'KEY', value: (k: string) => k },
        ...ENVIRONMENTS.map((env) => ({
          header: env.toUpperCase(),
          value: (k: string) => (present.has(`${k}\u0000${env}`) ? 'yes' : '-'),
        })),
      ],
      `no secrets in project ${current.project.name}`,
    );
    return;
  }
  out.table(
    records,
    [
      { header: 'KEY', value: (r) => r.key },
      { header: 'VERSION', value: (r) => String(r.version) },
      { header: 'UPDATED', value: (r) => r.updated_at.replace('T', ' ').slice(0, 19) },
      { header: 'BOUND TO', value: (r) => (r.binding ? r.binding.domains.join(',') : '(unbound)') },
      { header: 'NOTE', value: (r) => shortNote(r) },
      { header: 'PLACEHOLDER PREFIX', value: (r) => r.placeholder_prefix ?? '-' },
    ],
    `no secrets in ${current.project.name}/${current.environment}; add one with \`agentsecrets secrets set KEY\``,
  );
}

/** What `list` says of a short value (its length is public: the vault file shows it). */
function shortNote(r: RecordMeta): string {
  if (r.value_bytes >= MIN_INJECT_BYTES) return '';
  return r.allow_short ? 'short, allowed' : 'short: not injected (--allow-short)';
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The metadata `list` prints with --json. */
export function publicMeta(r: RecordMeta) {
  return {
    key: r.key,
    environment: r.environment,
    project_id: r.project_id,
    workspace_id: r.workspace_id,
    version: r.version,
    created_at: r.created_at,
    updated_at: r.updated_at,
    binding: r.binding,
    allow_short: r.allow_short,
    short: r.value_bytes < MIN_INJECT_BYTES,
    placeholder_prefix: r.placeholder_prefix ?? null,
    base_version: r.base_version,
    changed_since_sync: r.changed_since_sync,
  };
}

/** `secrets get KEY`: a human's explicit reveal at a terminal. */
export async function secretsGet(
  ctx: CliContext,
  key: string,
  options: SelectionOptions & { yes?: boolean },
): Promise<void> {
  assertKeyName(key);
  const services = ctx.services();
  const current = await services.workspaces.resolve(flags(options));
  await requireHuman(ctx, {
    action: `Reveal the value of ${key} (${current.project.name}/${current.environment})`,
    confirm: key,
    yes: options.yes,
  });
  const vault = await services.vault.unlock();
  try {
    const value = await vault.get(current.selection, key);
    if (await ctx.strict()) {
      // Strict mode: to the controlling terminal only. stdout and stderr may be captured by
      // the agent that started this command; the human who approved reads the terminal.
      const terminal = ctx.terminal();
      if (terminal === undefined) throw noTerminal(`revealing ${key}`);
      terminal.write(`${key} = ${value}\n`);
      ctx.out.notice(`${key} was written to the terminal (/dev/tty) only (strict mode)`);
      return;
    }
    ctx.out.raw(ctx.out.stdoutIsTTY ? `${value}\n` : value);
  } finally {
    vault.close();
  }
}

/** `secrets delete KEY`. */
export async function secretsDelete(
  ctx: CliContext,
  key: string,
  options: SelectionOptions & { json?: boolean },
): Promise<void> {
  assertKeyName(key);
  const services = ctx.services();
  const current = await services.workspaces.resolve(flags(options));
  const vault = await services.vault.unlock();
  let synced = false;
  try {
    // A team workspace: the signed deletion goes to the server first (issue 12, point 12),
    // once the key is known to exist here.
    if (current.workspace.kind === 'team') {
      if (!(await vault.getMany(current.selection, [key])).has(key)) throw secretNotFound(key);
      const { pushSecretDeletion } = await import('../team-session.js');
      synced = await pushSecretDeletion(ctx, current, key, vault);
    }
    await vault.delete(current.selection, key);
  } finally {
    vault.close();
  }
  if (options.json) return ctx.out.json({ key, deleted: true, synced });
  ctx.out.line(
    `deleted ${key} from ${current.project.name}/${current.environment}${synced ? ' and from the team workspace (other members delete it on their next pull)' : ''}`,
  );
}

/** `secrets import [FILE]`: loads a .env file, reports counts and bad line numbers. */
export async function secretsImport(
  ctx: CliContext,
  file: string | undefined,
  options: SelectionOptions & { json?: boolean; strict?: boolean },
): Promise<number> {
  const { out } = ctx;
  const path = resolve(ctx.config.cwd, file ?? '.env');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new AgentSecretsError('not_found', `${path} does not exist`);
    throw err;
  }
  const parsed = parseDotenv(text);
  const empty = parsed.entries.filter((e) => e.value === '');
  const problems = [
    ...parsed.problems,
    ...empty.map((e) => ({ line: e.line, reason: 'empty value' })),
  ].sort((a, b) => a.line - b.line);
  // Later duplicates win, as in a shell.
  const byKey = new Map(parsed.entries.filter((e) => e.value !== '').map((e) => [e.key, e.value]));
  const entries = [...byKey].map(([key, value]) => ({ key, value }));

  const services = ctx.services();
  const current = await services.workspaces.resolve(flags(options));
  // --strict is all or nothing: one skipped line and nothing is imported.
  const refused = options.strict === true && problems.length > 0;
  let created = 0;
  let updated = 0;
  if (entries.length > 0 && !refused) {
    const vault = await services.vault.unlock();
    try {
      for (const r of await vault.set(current.selection, entries)) {
        if (r.action === 'created') created++;
        else updated++;
      }
    } finally {
      vault.close();
    }
  }
  const summary = {
    file: path,
    project: current.project.name,
    environment: current.environment,
    created,
    updated,
    keys: refused ? [] : entries.map((e) => e.key),
    skipped: problems,
    strict: options.strict === true,
  };
  if (options.json) out.json(summary);
  else if (refused) {
    out.line(
      `imported nothing from ${path}: --strict, and ${problems.length} line(s) cannot be imported`,
    );
  } else {
    out.line(
      `imported ${entries.length} key(s) from ${path} into ${current.project.name}/${current.environment}: ${created} created, ${updated} updated`,
    );
  }
  // Line numbers and reasons only: a skipped line may hold a value.
  for (const p of problems) out.warn(`line ${p.line} skipped: ${p.reason}`);
  if (problems.length > 0 && !options.json) {
    out.notice(
      refused
        ? `fix line(s) ${problems.map((p) => p.line).join(', ')} of ${path} and import again, or drop --strict to import the rest`
        : `skipped line(s) ${problems.map((p) => p.line).join(', ')}; the other keys were imported (--strict makes any skipped line an error)`,
    );
  }
  // What could be imported was: success. Nothing importable, or --strict, is a failure.
  return refused || (problems.length > 0 && entries.length === 0) ? EXIT.failed : EXIT.ok;
}

/** Parses `--styles bearer,header` against the injection styles. */
function parseStyles(text: string | undefined): string[] {
  if (text === undefined) return [];
  const styles = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const style of styles) {
    if (!(INJECTION_STYLES as readonly string[]).includes(style)) {
      throw new UsageError(`unknown style '${style}'; use ${INJECTION_STYLES.join(', ')}`);
    }
  }
  return styles;
}

/** Applies a binding (or removes it) to a key in one or every environment of the project. */
async function bindKey(
  ctx: CliContext,
  key: string,
  binding: SecretBinding | null,
  options: SelectionOptions & { allEnvs?: boolean },
): Promise<string[]> {
  const services = ctx.services();
  const current = await services.workspaces.resolve(flags(options));
  const environments = options.allEnvs
    ? [
        ...new Set(
          (
            await services.vault.list({
              workspace_id: current.workspace.id,
              project_id: current.project.id,
            })
          )
            .filter((r) => r.key === key)
            .map((r) => r.environment),
        ),
      ]
    : [current.environment];
  if (environments.length === 0) throw secretNotFound(key);
  const vault = await services.vault.unlock();
  try {
    for (const environment of environments) {
      await vault.setBinding({ ...current.selection, environment }, key, binding);
    }
  } finally {
    vault.close();
  }
  return environments;
}

/** `secrets bind KEY <domain…> [--styles …]` (human-gated). */
export async function secretsBind(
  ctx: CliContext,
  key: string,
  domains: string[],
  options: SelectionOptions & { styles?: string; allEnvs?: boolean; yes?: boolean; json?: boolean },
): Promise<void> {
  assertKeyName(key);
  const binding: SecretBinding = {
    domains: domains.map((d) => parseAllowlistEntry(d).text),
    styles: parseStyles(options.styles),
  };
  await requireHuman(ctx, {
    action: `Bind ${key} to ${binding.domains.join(', ')}${binding.styles.length ? ` (as ${binding.styles.join(', ')})` : ''}`,
    confirm: key,
    yes: options.yes,
  });
  const environments = await bindKey(ctx, key, binding, options);
  if (options.json) return ctx.out.json({ key, environments, binding });
  ctx.out.line(`${key} is bound to ${binding.domains.join(', ')} in ${environments.join(', ')}`);
}

/** `secrets unbind KEY` (human-gated). */
export async function secretsUnbind(
  ctx: CliContext,
  key: string,
  options: SelectionOptions & { allEnvs?: boolean; yes?: boolean; json?: boolean },
): Promise<void> {
  assertKeyName(key);
  await requireHuman(ctx, {
    action: `Remove the domain binding of ${key}`,
    confirm: key,
    yes: options.yes,
  });
  const environments = await bindKey(ctx, key, null, options);
  if (options.json) return ctx.out.json({ key, environments, binding: null });
  ctx.out.line(`${key} is no longer bound in ${environments.join(', ')}`);
}
