import { AgentSecretsError } from '../core/errors.js';
import type { AuditSource } from '../audit/format.js';
import type { Caller } from '../proxy/engine.js';

/** Longest declared agent name accepted. */
export const MAX_AGENT_NAME = 128;

/**
 * The caller for a request that presents at most a name. A name is a claim (`declared`),
 * never an identity; it is logged as such and grants nothing.
 */
export function declaredCaller(agentId: string | undefined, source: AuditSource): Caller {
  if (agentId === undefined || agentId.trim() === '') {
    return { level: 'anonymous', agentId: null, tokenId: null, source };
  }
  const name = agentId.trim();
  // eslint-disable-next-line no-control-regex
  if (name.length > MAX_AGENT_NAME || /[\u0000-\u001f\u007f]/.test(name)) {
    throw new AgentSecretsError(
      'bad_request',
      `an agent name must be 1-${MAX_AGENT_NAME} printable characters`,
    );
  }
  return { level: 'declared', agentId: name, tokenId: null, source };
}
