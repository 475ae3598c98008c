import { AgentSecretsError } from '../core/errors.js';
import type { AuditSource } from '../audit/format.js';
import { assertDeclaredName } from '../identity/caller.js';
import { TOKEN_PREFIX } from '../identity/tokens.js';
import {
  createLocalCredentialService,
  type CredentialService,
  type PresentedIdentity,
} from '../proxy/credential-service.js';
import { createKeyHolderClient } from '../proxy/key-holder.js';
import { findKeyHolder } from '../proxy/state.js';
import type { CliContext } from './context.js';
import { withCallFreshness } from '../app/call-freshness.js';
import type { UnlockedVault } from '../vault/vault.js';

/**
 * The credential service for a CLI command: the running key holder when there is one (no
 * unlock here), otherwise this process, unlocking the vault itself (DESIGN §5).
 */
export async function credentialService(
  ctx: CliContext,
  options: { signAudit?: boolean; inProcess?: boolean } = {},
): Promise<CredentialService> {
  const services = ctx.services();
  const holder = options.inProcess ? undefined : await findKeyHolder(ctx.config.paths);
  if (holder !== undefined) return createKeyHolderClient(holder.socket);
  // One unlock, shared by the calls and the team document fetch before them (issue 12, 11).
  let unlocked: Promise<UnlockedVault> | undefined;
  const unlock = () => (unlocked ??= services.vault.unlock());
  const local = await createLocalCredentialService({
    config: ctx.config,
    workspaces: services.workspaces,
    vault: services.vault,
    unlock,
    signAudit: options.signAudit === true,
  });
  const fresh = withCallFreshness(local, { services, unlock });
  return {
    ...fresh,
    async close() {
      await fresh.close();
      // Unlocked for the document fetch alone (a call refused before it read a value).
      (await unlocked?.catch(() => undefined))?.close();
    },
  };
}

/**
 * What this CLI process presents as its identity: `--token`, else AGENTSECRETS_AGENT_TOKEN
 * (or the Go tool's AS_AGENT_TOKEN), and `--agent-id`, else AGENTSECRETS_AGENT_ID. A
 * `--token` that is not a literal agt_ token is refused: names are never looked up. A name
 * outside `[A-Za-z0-9._-]{1,64}` is refused (`invalid_agent_id`) before anything runs.
 */
export function presentedIdentity(
  ctx: CliContext,
  options: { agentId?: string; token?: string },
  source: AuditSource,
): PresentedIdentity {
  const env = ctx.config.env;
  if (options.token !== undefined && !options.token.startsWith(TOKEN_PREFIX)) {
    throw new AgentSecretsError(
      'invalid_agent_token',
      `--token takes an issued token (${TOKEN_PREFIX}…), not a name: agentsecrets never looks tokens up by name, because that would let any local process act as any agent. A human issues one with \`agentsecrets agent token issue NAME\``,
    );
  }
  const token =
    options.token ?? nonEmpty(env.AGENTSECRETS_AGENT_TOKEN) ?? nonEmpty(env.AS_AGENT_TOKEN);
  if (options.agentId !== undefined) assertDeclaredName(options.agentId, '--agent-id');
  const fromEnv = options.agentId === undefined ? nonEmpty(env.AGENTSECRETS_AGENT_ID) : undefined;
  if (fromEnv !== undefined) assertDeclaredName(fromEnv, 'AGENTSECRETS_AGENT_ID');
  return { agentId: options.agentId ?? fromEnv, token, source };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
