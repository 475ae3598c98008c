import type { AuditEntry } from '../audit/format.js';
import type { Caller } from '../identity/caller.js';
import { type AuditFilter, parseWhen, queryNewest } from '../audit/query.js';
import type {
  CallResult,
  CredentialService,
  PresentedIdentity,
  ServiceCallInput,
} from '../proxy/credential-service.js';
import type { Services } from '../services/index.js';
import { type DiffResult, NO_REMOTE, type PullResult } from '../sync/types.js';
import type { RecordMeta } from '../vault/vault.js';
import type { ResolvedSelection, ResolvedTarget, SelectionFlags } from '../workspace/selection.js';
import { vaultSelection } from '../workspace/selection.js';
import type { WorkspaceService } from '../workspace/service.js';
import { createKeyHolderUseCase, type KeyHolderUseCase } from './key-holder.js';
import { createStatusUseCase, type StatusUseCase } from './status.js';

export type { StatusSnapshot, StatusUseCase } from './status.js';
export type { KeyHolderUseCase } from './key-holder.js';
export type { ResolvedTarget } from '../workspace/selection.js';

/** A call as a face hands it over, before the caller is established. */
export type CallRequest = Omit<ServiceCallInput, 'identity'>;

/** The sync operations behind `diff` and `pull` (absent until a remote exists). */
export interface SyncBackend {
  diff(target: ResolvedTarget): Promise<DiffResult>;
  pull(target: ResolvedTarget): Promise<PullResult>;
}

/** Audit filters as faces take them: `since` as people write it (1h, 7d, an ISO date). */
export type AuditQuery = Omit<AuditFilter, 'since'> & { since?: string | undefined };

/**
 * The use cases every face calls (CLI commands, MCP tools, the SDK host, `run`, the
 * dashboard): parse input, call one of these, render the result.
 */
export interface App {
  readonly services: Services;
  readonly workspaces: WorkspaceService;
  /** The one selection resolver: flags, folder binding, AGENTSECRETS_ENV, global config. */
  resolveSelection(flags?: SelectionFlags): Promise<ResolvedSelection>;
  readonly status: StatusUseCase;
  readonly secrets: {
    /** The records (no values) of a selection, sorted by key. */
    list(target: ResolvedTarget): Promise<RecordMeta[]>;
  };
  readonly calls: {
    /** One authenticated call through the engine, allowlist, policy and audit. */
    execute(request: CallRequest, caller: PresentedIdentity): Promise<CallResult>;
    /** Establishes the caller: a verified token is `issued`, a name is `declared`. */
    identify(caller: PresentedIdentity, workspaceId: string): Promise<Caller>;
  };
  readonly audit: {
    /** The newest `count` entries that match, newest first. */
    query(filter: AuditQuery, count: number): Promise<AuditEntry[]>;
  };
  readonly sync: {
    diff(target: ResolvedTarget): Promise<DiffResult>;
    pull(target: ResolvedTarget): Promise<PullResult>;
  };
  readonly keyHolder: KeyHolderUseCase;
}

export interface AppOptions {
  /** The key holder's socket client or the in-process service; built on first call. */
  credentials: () => Promise<CredentialService> | CredentialService;
  /** Team sync; undefined when no remote is configured. */
  sync?: SyncBackend | undefined;
}

/** The composition root of the use cases: each long-lived object is built once, here. */
export function createApp(services: Services, options: AppOptions): App {
  const keyHolder = createKeyHolderUseCase(services.config.paths);
  let credentials: Promise<CredentialService> | undefined;
  const credentialService = () => (credentials ??= Promise.resolve(options.credentials()));

  return {
    services,
    workspaces: services.workspaces,
    resolveSelection: (flags) => services.workspaces.resolve(flags),
    status: createStatusUseCase(services, keyHolder),
    secrets: {
      async list(target) {
        const records = await services.vault.list(vaultSelection(target));
        return records.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      },
    },
    calls: {
      async execute(request, identity) {
        return (await credentialService()).call({ ...request, identity });
      },
      async identify(identity, workspaceId) {
        return (await credentialService()).identify(identity, workspaceId);
      },
    },
    audit: {
      async query(filter, count) {
        const { since, ...rest } = filter;
        return queryNewest(
          services.config.paths.auditDir,
          since === undefined ? rest : { ...rest, since: parseWhen(since) },
          count,
        );
      },
    },
    sync: {
      diff: (target) =>
        options.sync === undefined
          ? Promise.resolve({ remote_configured: false, message: NO_REMOTE, keys: [] })
          : options.sync.diff(target),
      pull: (target) =>
        options.sync === undefined
          ? Promise.resolve({
              remote_configured: false,
              message: NO_REMOTE,
              pulled: [],
              conflicts: [],
              unchanged: 0,
            })
          : options.sync.pull(target),
    },
    keyHolder,
  };
}
