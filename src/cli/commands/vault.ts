import { AgentSecretsError, isAgentSecretsError } from '../../core/errors.js';
import type { KeyProviderKind } from '../../vault/format.js';
import { type CliContext, requireStrictApproval } from '../context.js';
import { rightsKeyOf, sealAll, verifyAll } from '../../strict/documents.js';
import { tamperedError } from '../../strict/rights.js';

/** `vault rekey [--to keychain|passphrase] [--new-data-key]`. */
export async function vaultRekey(
  ctx: CliContext,
  options: { to?: string; newDataKey?: boolean; json?: boolean },
): Promise<void> {
  const services = ctx.services();
  const header = await services.vault.read();
  const from = header.key.provider;
  const to = (options.to ?? from) as KeyProviderKind;
  if (to !== 'keychain' && to !== 'passphrase') {
    throw new AgentSecretsError('usage_error', '--to must be keychain or passphrase');
  }
  const strict = await ctx.strict();
  if (strict) {
    if (to !== 'passphrase') {
      throw new AgentSecretsError(
        'strict_mode',
        'strict mode keeps the vault key behind a passphrase only: any process of this user can ask the keychain for it. Run `agentsecrets strict disable` first.',
      );
    }
    await requireStrictApproval(ctx, {
      action: `re-key the vault (a new passphrase${options.newDataKey === true ? ', and a new data key for every record' : ''})`,
    });
  } else if (from === 'passphrase' && to === 'passphrase' && ctx.prompt.interactive) {
    ctx.out.notice('First the current passphrase, then the new one.');
  }
  const vault = await services.vault.unlock();
  const deps = { paths: ctx.config.paths, workspaces: services.workspaces, vault: services.vault };
  try {
    if (strict) {
      // A new data key means a new rights key: only documents that verify are re-sealed.
      const bad = (await verifyAll(deps, rightsKeyOf(vault))).filter((c) => !c.ok);
      if (bad.length > 0) throw tamperedError(bad[0]!.doc, bad[0]!.path);
    }
    try {
      await vault.rekey(services.keyProvider(to, 'new', { strict }), {
        newDataKey: options.newDataKey === true,
      });
    } catch (err) {
      // The generic keychain hint suggests a passphrase vault, which this one may be already.
      if (isAgentSecretsError(err, 'keychain_unavailable')) {
        throw new AgentSecretsError(
          'keychain_unavailable',
          `the OS keychain is not available, so the vault key cannot move there; nothing was changed and the vault keeps its ${from} key. Start a keychain service (on Linux: a Secret Service such as gnome-keyring on the D-Bus session bus) and run this again`,
          { cause: err },
        );
      }
      throw err;
    }
    if (strict && options.newDataKey === true) await sealAll(deps, vault);
  } finally {
    vault.close();
  }
  await services.workspaces.updateConfig((c) => ({ ...c, backend: to }));
  const result = { from, to, new_data_key: options.newDataKey === true };
  if (options.json) return ctx.out.json(result);
  ctx.out.line(
    `the vault key moved from ${from} to ${to}${result.new_data_key ? ', and every record was re-encrypted under a new data key' : ''}`,
  );
  if (to === 'passphrase') {
    ctx.out.notice(
      'Keep the passphrase safe: without it (and with no keychain copy) the vault cannot be opened.',
    );
  }
}
