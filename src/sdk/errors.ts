/** Errors the SDK raises, one class per family of proxy error codes (DESIGN §7). */

/** Any refusal or failure reported by the proxy, with its wire code and context. */
export class AgentSecretsCallError extends Error {
  readonly code: string;
  readonly status: number;
  readonly domain: string | undefined;
  readonly secret: string | undefined;
  readonly requestId: string | undefined;

  constructor(
    code: string,
    message: string,
    details: { status: number; domain?: string; secret?: string; requestId?: string },
  ) {
    super(message);
    this.name = 'AgentSecretsCallError';
    this.code = code;
    this.status = details.status;
    this.domain = details.domain;
    this.secret = details.secret;
    this.requestId = details.requestId;
  }
}

/** The domain is not on the workspace allowlist (or the allowlist is empty). A human must add it. */
export class DomainNotAllowedError extends AgentSecretsCallError {
  override readonly name = 'DomainNotAllowedError';
}

/** The named secret does not exist in the selected project and environment. */
export class SecretNotFoundError extends AgentSecretsCallError {
  override readonly name = 'SecretNotFoundError';
}

/** Refused by policy: identity requirement, agent rules, a secret binding, or the rate limit. */
export class PolicyError extends AgentSecretsCallError {
  override readonly name = 'PolicyError';
}

/** The agent token was invalid, expired or revoked. */
export class AgentTokenError extends AgentSecretsCallError {
  override readonly name = 'AgentTokenError';
}

/** The declared agent name (`agentId`) is not 1-64 letters, digits, `.`, `_` or `-`. */
export class InvalidAgentIdError extends AgentSecretsCallError {
  override readonly name = 'InvalidAgentIdError';
}

/** The destination is private, reserved, or not HTTPS. */
export class DestinationBlockedError extends AgentSecretsCallError {
  override readonly name = 'DestinationBlockedError';
}

/** The upstream failed, timed out, or answered too much. */
export class UpstreamError extends AgentSecretsCallError {
  override readonly name = 'UpstreamError';
}

/** No proxy is reachable (and none could be started). */
export class ProxyUnavailableError extends Error {
  override readonly name = 'ProxyUnavailableError';
}

/** Builds the right error class for a proxy error body. */
export function errorFromProxy(
  status: number,
  body: {
    error?: unknown;
    message?: unknown;
    domain?: unknown;
    secret?: unknown;
    request_id?: unknown;
  },
): AgentSecretsCallError {
  const code = typeof body.error === 'string' ? body.error : 'unknown_error';
  const message =
    typeof body.message === 'string' ? body.message : `the proxy refused the call (${code})`;
  const details = {
    status,
    ...(typeof body.domain === 'string' ? { domain: body.domain } : {}),
    ...(typeof body.secret === 'string' ? { secret: body.secret } : {}),
    ...(typeof body.request_id === 'string' ? { requestId: body.request_id } : {}),
  };
  switch (code) {
    case 'domain_not_in_allowlist':
    case 'empty_allowlist':
      return new DomainNotAllowedError(code, message, details);
    case 'secret_not_found':
      return new SecretNotFoundError(code, message, details);
    case 'policy_denied':
    case 'identity_required':
    case 'secret_binding_mismatch':
    case 'rate_limited':
      return new PolicyError(code, message, details);
    case 'invalid_agent_token':
    case 'token_revoked':
      return new AgentTokenError(code, message, details);
    case 'invalid_agent_id':
      return new InvalidAgentIdError(code, message, details);
    case 'ssrf_protection_blocked':
    case 'non_https_blocked':
      return new DestinationBlockedError(code, message, details);
    case 'upstream_error':
    case 'upstream_timeout':
    case 'response_too_large':
      return new UpstreamError(code, message, details);
    default:
      return new AgentSecretsCallError(code, message, details);
  }
}
