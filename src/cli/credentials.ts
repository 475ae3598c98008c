import {
  createLocalCredentialService,
  type CredentialService,
} from '../proxy/credential-service.js';
import { createKeyHolderClient } from '../proxy/key-holder.js';
import { findKeyHolder } from '../proxy/state.js';
import type { CliContext } from './context.js';

/**
 * The credential service for a CLI command: the running key holder when there is one (no
 * unlock here), otherwise this process, unlocking the vault itself (DESIGN §5).
 */
export async function credentialService(ctx: CliContext): Promise<CredentialService> {
  const services = ctx.services();
  const holder = await findKeyHolder(ctx.config.paths);
  if (holder !== undefined) return createKeyHolderClient(holder.socket);
  return createLocalCredentialService({
    config: ctx.config,
    workspaces: services.workspaces,
    vault: services.vault,
    unlock: () => services.vault.unlock(),
  });
}
