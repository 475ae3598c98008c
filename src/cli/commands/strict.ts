import { AgentSecretsError } from '../../core/errors.js';
import { createAgentStore } from '../../identity/agents.js';
import { keyHolderState } from '../../proxy/key-holder.js';
import { findKeyHolder } from '../../proxy/state.js';
import { rightsKeyOf, sealAll, verifyAll } from '../../strict/documents.js';
import { DEFAULT_KDF_COST } from '../../crypto/kdf.js';
import { createPassphraseKeyProvider } from '../../vault/key-providers.js';
import { type CliContext, requireStrictApproval } from '../context.js';
import { approveWithPassphrase } from '../strict-gate.js';
import { noTerminal } from '../tty.js';

/**
 * `strict enable|disable|status|reseal` (issue 14). Strict mode stops an agent that runs as
 * the same OS user, without the passphrase: passphrase-only vault, a non-dumpable key holder
 * that never returns values, passphrase gates at /dev/tty, and sealed rights documents.
 */

/** What strict mode would seal, described for the human who approves it. */
async function describeRights(ctx: CliContext): Promise<string> {
  const services = ctx.services();
  const ws = (await services.workspaces.readWorkspaces()).workspaces.filter(
    (w) => w.kind === 'local',
  );
  const agents = (await createAgentStore(ctx.config.paths).read()).agents.filter(
    (a) => a.tokens.length > 0 || a.rules !== null,
  );
  const bound = (await services.vault.list()).filter((r) => r.binding !== null || r.allow_short);
  const lines = ws.map(
    (w) =>
      `  workspace ${w.name}: allowlist ${w.allowlist.length === 0 ? '(empty)' : w.allowlist.map((e) => e.pattern).join(', ')}`,
  );
  lines.push(
    `  ${agents.length} agent(s) with tokens or rules${agents.length ? `: ${agents.map((a) => a.name).join(', ')}` : ''}`,
  );
  lines.push(`  ${bound.length} secret(s) with a binding or --allow-short`);
  return lines.join('\n');
}

/** Same passphrase, new wrap: the strict flag is bound into the wrapped key's associated data. */
function rewrap(passphrase: string, strict: boolean, cost: { ops: number; mem: number }) {
  return createPassphraseKeyProvider({
    source: { forUnlock: async () => passphrase, forCreate: async () => passphrase },
    cost,
    strict,
  });
}

/** `strict enable`. */
export async function strictEnable(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const services = ctx.services();
  const header = await services.vault.read();
  if (await ctx.strict()) {
    if (options.json) return ctx.out.json({ strict: true, changed: false });
    ctx.out.line('strict mode is already on');
    return;
  }
  const terminal = ctx.terminal();
  if (terminal === undefined) throw noTerminal('turning strict mode on');
  const sealed = await describeRights(ctx);
  let cost: { ops: number; mem: number } = DEFAULT_KDF_COST;
  if (header.key.provider === 'passphrase') {
    cost = { ops: header.key.kdf.ops, mem: header.key.kdf.mem };
    ctx.approvedPassphrase = await approveWithPassphrase(ctx.config, terminal, {
      action: `turn strict mode ON and seal these rights as they are now:\n${sealed}`,
      auditAs: 'strict enable',
      verify: async (passphrase) => {
        ctx.approvedPassphrase = passphrase;
        (await services.vault.unlock()).close();
      },
    });
  } else {
    // A keychain vault has no passphrase yet: the human confirms, then chooses one.
    terminal.write(
      `\nStrict mode moves the vault key out of the ${header.key.provider} into a passphrase that you type at the terminal (to start the key holder and for every human-only operation). It seals these rights as they are now:\n${sealed}\n`,
    );
    const answer = await terminal.prompter.text("Type 'strict' to confirm: ");
    if (answer.trim() !== 'strict')
      throw new AgentSecretsError('cancelled', 'not confirmed; nothing was changed');
  }
  const vault = await services.vault.unlock();
  try {
    let passphrase = ctx.approvedPassphrase;
    if (passphrase === undefined) {
      const first = await terminal.prompter.hidden('New vault passphrase: ');
      const second = await terminal.prompter.hidden('Repeat the passphrase: ');
      if (first !== second)
        throw new AgentSecretsError(
          'usage_error',
          'the two passphrases differ; nothing was changed',
        );
      passphrase = first;
    }
    await vault.rekey(rewrap(passphrase, true, cost));
    await sealAll(
      { paths: ctx.config.paths, workspaces: services.workspaces, vault: services.vault },
      vault,
    );
  } finally {
    vault.close();
  }
  await services.workspaces.updateConfig((c) => ({ ...c, backend: 'passphrase' }));
  const holder = await findKeyHolder(ctx.config.paths);
  if (options.json)
    return ctx.out.json({ strict: true, changed: true, key_holder_restart: holder !== undefined });
  ctx.out.line('strict mode is on');
  if (holder !== undefined) {
    ctx.out.warn(
      `the running key holder (pid ${holder.pid}) was started outside strict mode and still hands out values: restart it now (\`agentsecrets proxy stop\`, then \`agentsecrets proxy start\`)`,
    );
  }
}

/** `strict disable` (passphrase at /dev/tty). */
export async function strictDisable(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  if (!(await ctx.strict())) {
    if (options.json) return ctx.out.json({ strict: false, changed: false });
    ctx.out.line('strict mode is already off');
    return;
  }
  await requireStrictApproval(ctx, {
    action:
      'turn strict mode OFF: the key holder will hand values to programs again, gates will accept any terminal, and hand edits of the allowlist, agents and bindings will be obeyed',
  });
  const services = ctx.services();
  const header = await services.vault.read();
  if (header.key.provider !== 'passphrase')
    throw new AgentSecretsError('internal_error', 'not a passphrase vault');
  const vault = await services.vault.unlock();
  try {
    await vault.rekey(
      rewrap(ctx.approvedPassphrase!, false, { ops: header.key.kdf.ops, mem: header.key.kdf.mem }),
    );
  } finally {
    vault.close();
  }
  if (options.json) return ctx.out.json({ strict: false, changed: true });
  ctx.out.line('strict mode is off; restart a running key holder for it to take effect');
}

/** `strict reseal` (passphrase at /dev/tty): accepts the rights documents as they are now. */
export async function strictReseal(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  if (!(await ctx.strict()))
    throw new AgentSecretsError('usage_error', 'strict mode is off: there is nothing to reseal');
  const sealed = await describeRights(ctx);
  await requireStrictApproval(ctx, {
    action: `accept the rights documents as they are now (including any change made outside agentsecrets):\n${sealed}`,
  });
  const services = ctx.services();
  const deps = { paths: ctx.config.paths, workspaces: services.workspaces, vault: services.vault };
  const vault = await services.vault.unlock();
  let before;
  try {
    before = await verifyAll(deps, rightsKeyOf(vault));
    await sealAll(deps, vault);
  } finally {
    vault.close();
  }
  const resealed = before.filter((c) => !c.ok).map((c) => c.doc);
  if (options.json) return ctx.out.json({ resealed });
  ctx.out.line(
    resealed.length === 0
      ? 'every document already matched its seal'
      : `resealed ${resealed.join(', ')}`,
  );
}

/** `strict status`. */
export async function strictStatus(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const services = ctx.services();
  const exists = await services.vault.exists();
  const header = exists ? await services.vault.read() : undefined;
  const holder = await findKeyHolder(ctx.config.paths);
  const state = holder === undefined ? undefined : await keyHolderState(holder.socket);
  const result = {
    strict: await ctx.strict(),
    backend: header?.key.provider ?? null,
    key_holder: {
      running: holder !== undefined,
      pid: holder?.pid ?? null,
      strict: state?.strict === true,
      dumpable: typeof state?.dumpable === 'number' ? state.dumpable !== 0 : null,
      tampered: Array.isArray(state?.tampered) ? (state.tampered as string[]) : [],
    },
  };
  if (options.json) return ctx.out.json(result);
  ctx.out.line(
    `strict mode: ${result.strict ? 'on' : 'off'} (vault key: ${result.backend ?? 'no vault'})`,
  );
  if (!result.key_holder.running) {
    ctx.out.line('key holder: not running');
    return;
  }
  ctx.out.line(
    `key holder: pid ${result.key_holder.pid}, ${result.key_holder.strict ? 'strict' : 'NOT strict'}${result.key_holder.dumpable === false ? ', not dumpable' : ''}`,
  );
  if (result.strict && !result.key_holder.strict)
    ctx.out.warn('the key holder was started before strict mode: restart it');
  for (const doc of result.key_holder.tampered)
    ctx.out.warn(
      `${doc} does not match its seal (state_tampered): the key holder ignores its changes`,
    );
}
