import { AgentSecretsError } from '../../core/errors.js';
import type { KeyProviderKind } from '../../vault/format.js';
import type { CliContext } from '../context.js';

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
  if (from === 'passphrase' && to === 'passphrase' && ctx.prompt.interactive) {
    ctx.out.notice('First the current passphrase, then the new one.');
  }
  const vault = await services.vault.unlock();
  try {
    await vault.rekey(services.keyProvider(to, 'new'), { newDataKey: options.newDataKey === true });
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
