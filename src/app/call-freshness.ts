import type { CredentialService } from '../proxy/credential-service.js';
import type { Services } from '../services/index.js';
import { createDocFreshener } from '../sync/call-freshness.js';
import type { UnlockedVault } from '../vault/vault.js';

/**
 * Team call freshness (issue 12, point 11) for a credential service that works in this
 * process: before each call or `env` release in a team workspace, the signed document is
 * fetched when the copy here is older than 30 s (`src/sync/call-freshness.ts`), so the call is
 * judged by the admins' current allowlist, policy and revocations. A key holder's socket
 * client is returned as it is: the holder follows every team itself.
 *
 * `unlock` must be the one the service unlocks with (memoised), so the vault is unlocked once.
 */
export function withCallFreshness(
  service: CredentialService,
  options: { services: Services; unlock: () => Promise<UnlockedVault>; now?: () => number },
): CredentialService {
  if (service.mode !== 'in-process') return service;
  const freshen = createDocFreshener(options);
  return {
    mode: service.mode,
    async call(input) {
      await freshen(input.target.workspaceId);
      return service.call(input);
    },
    async envValues(request) {
      await freshen(request.target.workspaceId);
      return service.envValues(request);
    },
    identify: (identity, workspaceId) => service.identify(identity, workspaceId),
    auditTrust: () => service.auditTrust(),
    close: () => service.close(),
  };
}
