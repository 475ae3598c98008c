import { AgentSecretsError } from '../core/errors.js';
import type { AuditSource, IdentityLevel } from '../audit/format.js';

/** Who is calling, as far as the edge could establish. */
export interface Caller {
  level: IdentityLevel;
  agentId: string | null;
  tokenId: string | null;
  source: AuditSource;
}

/**
 * Declared agent names: 1-64 letters, digits, `.`, `_` or `-`. No spaces, so a name can never
 * read as a name followed by an identity level (`alpha issued`), and no control or non-ASCII
 * characters, so it cannot move a terminal's cursor or imitate another name.
 */
export const DECLARED_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** What a declared name may hold, in words (used by every refusal). */
export const DECLARED_NAME_RULE = '1-64 letters, digits, ".", "_" or "-" (e.g. billing-bot)';

/** True when `name` is a valid declared agent name. */
export function isDeclaredName(name: string): boolean {
  return DECLARED_NAME_PATTERN.test(name);
}

/**
 * Throws `invalid_agent_id` unless `name` is a valid declared name. `where` names what
 * carried it (`X-AS-Agent-ID`, `--agent-id` …) so the message says what to fix. The name
 * itself is not echoed: it is whatever the caller sent.
 */
export function assertDeclaredName(name: string, where: string): void {
  if (!isDeclaredName(name)) {
    throw new AgentSecretsError(
      'invalid_agent_id',
      `invalid agent name in ${where}: use ${DECLARED_NAME_RULE}; or leave it out (the caller is then anonymous)`,
    );
  }
}

/**
 * The caller for a request that presents at most a name. A name is a claim (`declared`),
 * never an identity; it is logged as such and grants nothing. An empty name is no name.
 */
export function declaredCaller(
  agentId: string | undefined,
  source: AuditSource,
  where = 'X-AS-Agent-ID',
): Caller {
  if (agentId === undefined || agentId === '') {
    return { level: 'anonymous', agentId: null, tokenId: null, source };
  }
  assertDeclaredName(agentId, where);
  return { level: 'declared', agentId, tokenId: null, source };
}

/**
 * An MCP client's self-reported `clientInfo.name` as a declared name. Clients choose it freely
 * ("Claude Desktop", "Cursor (1.2)"), so it is sanitised rather than refused: every run of
 * other characters becomes one `-`, leading and trailing `-` are dropped, and the result is cut
 * at 64. A name with nothing usable left gives undefined (the session is anonymous).
 */
export function declaredNameFromClient(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const cleaned = name
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/, '');
  return isDeclaredName(cleaned) ? cleaned : undefined;
}

/** How a stored agent name is shown: as is when valid, else quoted and escaped (older entries). */
export function displayAgentName(name: string): string {
  return isDeclaredName(name) ? name : JSON.stringify(name);
}
