import type { Config } from '../core/config.js';
import type { CredentialService, PresentedIdentity } from '../proxy/credential-service.js';
import type { Target } from '../proxy/engine.js';
import type { Services } from '../services.js';
import type { DiffResult, PullResult } from '../sync/types.js';

/** The sync operations the `diff` and `pull` tools need (absent until a remote exists). */
export interface SyncOperations {
  diff(target: ResolvedTarget): Promise<DiffResult>;
  pull(target: ResolvedTarget): Promise<PullResult>;
}

/** What every MCP session shares: state, the credential service, and limits. */
export interface McpDeps {
  config: Config;
  services: Services;
  /** The running key holder's socket client, or the in-process service. */
  credentials: CredentialService;
  /** Response bodies longer than this many characters are cut in tool results. */
  maxBodyChars: number;
  version: string;
  /** Team sync; undefined means no remote is configured. */
  sync?: SyncOperations | undefined;
}

/** What a session presents about itself (DESIGN §9). */
export interface SessionIdentity {
  /** An issued token (stdio: AGENTSECRETS_AGENT_TOKEN; http: Authorization: Bearer). */
  token?: string | undefined;
  /** `--agent-id`; falls back to the client's `clientInfo.name`. */
  agentId?: string | undefined;
}

/** A resolved selection: ids for the engine, names for people. */
export interface ResolvedTarget extends Target {
  workspaceName: string;
  projectName: string;
}

/** What a tool handler receives. */
export interface ToolContext extends McpDeps {
  /** The identity to present on each call: re-verified every time (revocation). */
  identity(): PresentedIdentity;
  /** The session's project and environment, or the ones a tool call names. */
  target(names?: {
    project?: string | undefined;
    environment?: string | undefined;
  }): Promise<ResolvedTarget>;
}
