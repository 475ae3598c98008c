import { AgentSecretsError, toAgentSecretsError } from '../core/errors.js';
import { loadSodium } from '../crypto/sodium.js';
import type { Services } from '../services/index.js';
import type { UnlockedVault } from '../vault/vault.js';
import { openAccount } from './account.js';
import { checkSignedFreshness } from './chain.js';
import { syncDoc } from './team-documents.js';
import { ownKeys } from './team-context.js';

/**
 * Team call freshness (issue 12, point 11). A call served in this process (a one-shot `call`,
 * `env`, an MCP server without a key holder) has nobody following the workspace's signed
 * document, so before it runs it fetches the document when the copy here was last synced more
 * than 30 s ago, and applies it: an admin's new allowlist entry, policy or revocation reaches
 * the next call without a `pull`. A running key holder follows teams itself; its calls need
 * none of this.
 *
 * When the fetch fails (server unreachable, or answering something that does not verify), the
 * copy here stays in force, so the call is judged by exactly what it allowed before: a failure
 * never makes a refused call pass. That copy is used only while what an admin signed (the
 * document's time, their newest heartbeat) is within the workspace's `max_staleness_s`; past
 * it, the call fails with `sync_stale`, naming why the fetch failed.
 */

/** How old the copy here may be before a call served in this process fetches it again. */
export const CALL_FRESHNESS_MS = 30_000;

export type DocFreshener = (workspaceId: string) => Promise<void>;

export function createDocFreshener(options: {
  services: Services;
  /** The vault, unlocked once and shared with the credential service that makes the call. */
  unlock: () => Promise<UnlockedVault>;
  /** The clock (ms). */
  now?: () => number;
}): DocFreshener {
  const { services } = options;
  const now = options.now ?? Date.now;
  return async (workspaceId) => {
    const workspace = (await services.workspaces.readWorkspaces()).workspaces.find(
      (w) => w.id === workspaceId,
    );
    if (workspace?.kind !== 'team' || workspace.team === undefined) return;
    const synced = Date.parse(workspace.team.synced_at ?? '') || 0;
    if (now() - synced <= CALL_FRESHNESS_MS) return;
    const vault = await options.unlock();
    try {
      const session = await openAccount(services, vault);
      const sodium = await loadSodium();
      // The vault goes along so that the applied document is re-sealed (strict mode reads the
      // sealed copy only).
      const fetched = await syncDoc(
        services,
        session.api,
        sodium,
        workspace,
        ownKeys({ session }),
        vault,
      );
      // Unchanged is a successful sync too: the next call within 30 s need not ask again.
      if (!fetched.changed) {
        const at = new Date(now()).toISOString();
        await services.workspaces.updateWorkspace(workspaceId, (w) => {
          if (w.team !== undefined) w.team.synced_at = at;
        });
      }
    } catch (err) {
      const cause = toAgentSecretsError(err);
      try {
        checkSignedFreshness(workspace.name, workspace.team, now());
      } catch (stale) {
        if (stale instanceof AgentSecretsError)
          throw new AgentSecretsError(
            'sync_stale',
            `${stale.message}; fetching the current document failed: ${cause.message}`,
            { cause },
          );
        throw stale;
      }
    }
  };
}
