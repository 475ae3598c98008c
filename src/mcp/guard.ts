import { AgentSecretsError, type ErrorCode, toAgentSecretsError } from '../core/errors.js';
import type { IdentityLevel } from '../audit/format.js';
import { decideForProgram } from '../policy/rules.js';
import type { PresentedIdentity } from '../proxy/credential-service.js';
import type { Caller } from '../identity/caller.js';
import type { WorkspacePolicy } from '../workspace/model.js';
import type { McpDeps, ResolvedTarget, ToolContext } from './context.js';
import { errorResult } from './results.js';

/** Codes that say the session's token itself no longer verifies. */
const TOKEN_REFUSED = new Set<ErrorCode>(['invalid_agent_token', 'token_revoked']);

/** One session, as its guard sees it. */
export interface GuardedSession {
  deps: McpDeps;
  identity(): PresentedIdentity;
  /** The session's default selection: its workspace sets the minimum identity level. */
  target(): Promise<ResolvedTarget>;
  onTokenRefused?: (() => void) | undefined;
}

/** Builds `ToolContext.guard` for one session. */
export function createGuard(session: GuardedSession): ToolContext['guard'] {
  return (handler, options = {}) =>
    (...args) =>
      session.deps.inflight.run(async () => {
        try {
          if (options.identityCheckedByCall !== true) await authorize(session);
          return await handler(...args);
        } catch (err) {
          const error = toAgentSecretsError(err);
          if (TOKEN_REFUSED.has(error.code)) session.onTokenRefused?.();
          return errorResult(error);
        }
      });
}

/**
 * Establishes the session's caller now, as the engine does for every call (DESIGN §6: token
 * signature, expiry, revocation, generation, agent), and applies the workspace's minimum
 * identity level.
 */
export async function authorize(session: GuardedSession): Promise<Caller> {
  const target = await session.target();
  const caller = await session.deps.app.calls.identify(session.identity(), target.workspaceId);
  const workspace = await session.deps.app.workspaces.require(target.workspaceId);
  requireLevel(caller.level, workspace.policy);
  return caller;
}

/**
 * Throws `identity_required` when `level` is below the workspace's minimum. The policy
 * decision is the one place that words it; a tool that sends no secret anywhere is subject to
 * that check only (rules on secrets, domains and methods bind each call, in the engine).
 */
function requireLevel(level: IdentityLevel, policy: WorkspacePolicy): void {
  try {
    decideForProgram({ level, agent: undefined, workspace: policy, keys: [] });
  } catch (err) {
    if (err instanceof AgentSecretsError && err.code === 'identity_required') throw err;
  }
}
