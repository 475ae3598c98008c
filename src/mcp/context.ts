import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { App } from '../app/index.js';
import type { PresentedIdentity } from '../proxy/credential-service.js';
import type { ResolvedTarget } from '../workspace/selection.js';
import type { Inflight } from './inflight.js';

export type { ResolvedTarget } from '../workspace/selection.js';

/** What every MCP session shares: the use cases, limits, and the tools to register. */
export interface McpDeps {
  app: App;
  /** Response bodies longer than this many characters are cut in tool results. */
  maxBodyChars: number;
  version: string;
  /** Tool calls still running, across sessions: shutdown waits for them (and their audit). */
  inflight: Inflight;
  /**
   * Registers the tools and prompts on a session's server. Passed in by whoever assembles the
   * server (the CLI), so src/mcp never imports tools/ (which imports src/mcp).
   */
  register(server: McpServer, ctx: ToolContext): void;
}

/** What a session presents about itself (DESIGN §9). */
export interface SessionIdentity {
  /** An issued token (stdio: AGENTSECRETS_AGENT_TOKEN; http: Authorization: Bearer). */
  token?: string | undefined;
  /** `--agent-id`; falls back to the client's `clientInfo.name`. */
  agentId?: string | undefined;
  /** Told when the session's token no longer verifies (revoked, expired): HTTP ends the session. */
  onTokenRefused?: (() => void) | undefined;
}

/** A tool's handler, as `registerTool` takes it. */
export type ToolHandler<A extends unknown[]> = (...args: A) => Promise<CallToolResult>;

/** How `ToolContext.guard` treats one tool. */
export interface GuardOptions {
  /**
   * The handler's work goes through `app.calls.execute`, which establishes the caller and
   * applies policy itself on every call, and audits a refusal: the guard leaves the identity
   * check to it, so that a refused call is still audited.
   */
  identityCheckedByCall?: boolean;
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
  /**
   * Every tool's handler goes through this. Before any work, the session's identity is
   * established again (a revoked or expired token stops working on the next call) and the
   * workspace's minimum identity level applied; a refusal, like any failure, becomes an
   * error result. The call counts as in flight until it ends.
   */
  guard<A extends unknown[]>(handler: ToolHandler<A>, options?: GuardOptions): ToolHandler<A>;
}
