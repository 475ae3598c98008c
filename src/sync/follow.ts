import { type AgentSecretsError, toAgentSecretsError } from '../core/errors.js';
import { loadSodium } from '../crypto/sodium.js';
import type { Services } from '../services/index.js';
import type { UnlockedVault } from '../vault/vault.js';
import { type AccountSession, openAccount } from './account.js';
import { HEARTBEAT_EVERY_MS, signHeartbeat } from './chain.js';
import { parseDocBody } from './doc.js';
import { ownKeys, syncDoc } from './team.js';
import type { Workspace } from '../workspace/model.js';
import * as wire from './wire.js';

/**
 * Keeps a key holder's copy of every team workspace's signed document current (DESIGN §10):
 * a short poll (`GET …/doc?since=seq`, a few bytes when nothing changed), so a revocation or
 * an allowlist change reaches a running proxy within seconds. It records when each workspace
 * last synced successfully; callers refuse issued-token calls once that is too old.
 */

export interface TeamFollower {
  /** When `workspaceId` last synced successfully (ms since the epoch), if ever. */
  lastSync(workspaceId: string): number | undefined;
  /** Syncs every team workspace now; the outcome per workspace. */
  syncNow(): Promise<SyncReport[]>;
  stop(): void;
}

export interface SyncReport {
  workspace: string;
  ok: boolean;
  changed: boolean;
  error?: string;
}

const PERSIST_EVERY_MS = 60_000;

export function startTeamFollower(options: {
  services: Services;
  vault: UnlockedVault;
  intervalMs: number;
  onError?: (workspace: string, error: AgentSecretsError) => void;
  /** The clock (ms); tests inject one. */
  now?: () => number;
}): TeamFollower {
  const { services } = options;
  const now = options.now ?? Date.now;
  const beaten = new Map<string, number>();
  const last = new Map<string, number>();
  const persisted = new Map<string, number>();
  let session: AccountSession | undefined;
  let running: Promise<SyncReport[]> | undefined;
  let stopped = false;

  async function once(): Promise<SyncReport[]> {
    const teams = (await services.workspaces.readWorkspaces()).workspaces.filter(
      (w) => w.kind === 'team',
    );
    if (teams.length === 0) return [];
    session ??= await openAccount(services, options.vault);
    const sodium = await loadSodium();
    const reports: SyncReport[] = [];
    for (const workspace of teams) {
      try {
        const synced = await syncDoc(
          services,
          session.api,
          sodium,
          workspace,
          ownKeys({ session }),
          options.vault,
        );
        const { changed } = synced;
        await beat(synced.workspace);
        const at = now();
        last.set(workspace.id, at);
        // Other processes (a CLI `call` without the key holder) read freshness from disk.
        if (at - (persisted.get(workspace.id) ?? 0) >= PERSIST_EVERY_MS && !changed) {
          persisted.set(workspace.id, at);
          await services.workspaces.updateWorkspace(workspace.id, (w) => {
            if (w.team !== undefined) w.team.synced_at = new Date(at).toISOString();
          });
        }
        if (changed) persisted.set(workspace.id, at);
        reports.push({ workspace: workspace.name, ok: true, changed });
      } catch (err) {
        const error = toAgentSecretsError(err);
        options.onError?.(workspace.name, error);
        reports.push({
          workspace: workspace.name,
          ok: false,
          changed: false,
          error: error.message,
        });
      }
    }
    return reports;
  }

  /**
   * An admin's key holder signs that the document it holds is current (F6), at least every
   * 10 minutes and four times per `max_staleness`, so members can tell a withheld document.
   */
  async function beat(workspace: Workspace): Promise<void> {
    const team = workspace.team;
    if (team?.role !== 'admin' || session === undefined) return;
    const doc = parseDocBody(team.doc.body);
    const every = Math.min(HEARTBEAT_EVERY_MS, (doc.max_staleness_s * 1000) / 4);
    const t = now();
    if (t - (beaten.get(workspace.id) ?? 0) < every) return;
    const sodium = await loadSodium();
    const hb = signHeartbeat(
      sodium,
      { userId: session.account.userId, sign: session.keys.sign },
      { workspace_id: workspace.id, seq: team.doc_seq, body: team.doc.body },
      new Date(t),
    );
    await session.api.call(
      'POST',
      `/v1/workspaces/${encodeURIComponent(workspace.id)}/heartbeat`,
      wire.statusResponse,
      {
        body: hb.body,
        signature: hb.signature,
      },
    );
    beaten.set(workspace.id, t);
  }

  async function syncNow(): Promise<SyncReport[]> {
    running ??= once().finally(() => {
      running = undefined;
    });
    return running;
  }

  const timer = setInterval(() => {
    if (!stopped) void syncNow().catch(() => undefined);
  }, options.intervalMs);
  timer.unref();
  void syncNow().catch(() => undefined);

  return {
    lastSync: (id) => last.get(id),
    syncNow,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
