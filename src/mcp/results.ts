import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { type AgentSecretsError, toAgentSecretsError } from '../core/errors.js';

export { displayAgentName } from '../identity/caller.js';
import { encodeBody } from '../app/call-request.js';

/** A tool result: structured content plus a short text for clients that show only text. */
export function result<T extends Record<string, unknown>>(
  structured: T,
  text: string,
): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent: structured };
}

/** What a human can do about each refusal, in words a model can pass on. */
const HUMAN_ACTION: Partial<Record<AgentSecretsError['code'], string>> = {
  empty_allowlist:
    'Ask the human to allow the domain (the command is in the message above). Do not try another route.',
  domain_not_in_allowlist:
    'Ask the human to allow the domain if they want this call (the command is above). Do not try another route.',
  secret_not_found:
    'Ask the human to store the secret in their own terminal; never ask for the value in chat.',
  secret_binding_mismatch:
    'This secret may not be sent to this host. Only the human can change its binding.',
  policy_denied: 'The rules for this agent forbid this call. Only the human can change them.',
  identity_required:
    'This workspace needs an identified agent. The human issues a token and configures this client with it.',
  invalid_agent_token: "This session's agent token is not valid. The human must issue a new one.",
  token_revoked: "This session's agent token was revoked. The human must issue a new one.",
  ssrf_protection_blocked: 'Credentials are never sent to private or internal addresses.',
  non_https_blocked: 'Only https:// URLs can be called.',
  rate_limited: 'The rate limit is reached; wait before calling again.',
};

/**
 * A refusal or failure as a tool error the model can act on. The message is the same
 * value-free message every edge uses; a thrown error would reach the model anyway, so no
 * error escapes a tool unshaped.
 */
export function errorResult(err: unknown): CallToolResult {
  const error = toAgentSecretsError(err);
  const advice = HUMAN_ACTION[error.code];
  return {
    isError: true,
    content: [
      { type: 'text', text: `${error.code}: ${error.message}${advice ? `\n${advice}` : ''}` },
    ],
  };
}

/** A response body for a model: text if it is UTF-8, else base64; cut past `max` characters. */
export function bodyForModel(
  body: Buffer,
  max: number,
): { body: string; encoding: 'utf8' | 'base64'; truncated: boolean } {
  const { text: full, encoding } = encodeBody(body);
  return {
    body: full.length > max ? full.slice(0, max) : full,
    encoding,
    truncated: full.length > max,
  };
}
