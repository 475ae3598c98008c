/**
 * One error base class with a closed union of string codes.
 *
 * The codes are the same snake_case strings that go on the wire, into audit `reason`s and
 * into CLI messages (DESIGN §7): one set, with no mapping table. Edges (HTTP, MCP, CLI)
 * translate a code into a status or an exit code; nothing else does.
 *
 * A message never contains a secret value or a token. Crypto and token failures collapse
 * into one generic message so that nothing is given away.
 */

/** Codes that travel on the wire (DESIGN §7 table). */
export const WIRE_CODES = [
  'bad_request',
  'invalid_session',
  'invalid_agent_token',
  'invalid_agent_id',
  'token_revoked',
  'identity_required',
  'empty_allowlist',
  'domain_not_in_allowlist',
  'non_https_blocked',
  'ssrf_protection_blocked',
  'policy_denied',
  'secret_binding_mismatch',
  'secret_not_found',
  'request_too_large',
  'rate_limited',
  'upstream_error',
  'response_too_large',
  'upstream_timeout',
  'sync_stale',
  'header_not_allowed',
  'invalid_secret_value',
  'undecodable_response',
  'response_withheld',
  'strict_mode',
  'state_tampered',
  'approval_denied',
  'approval_timeout',
  'approval_required',
  'approval_queue_full',
] as const;

/** Codes used locally by the CLI, the vault and the stores. */
export const LOCAL_CODES = [
  'usage_error',
  'needs_terminal',
  'cancelled',
  'not_initialized',
  'already_initialized',
  'vault_locked',
  'unlock_failed',
  'keychain_unavailable',
  'decryption_failed',
  'invalid_key_name',
  'invalid_env_file',
  'project_not_found',
  'project_exists',
  'workspace_not_found',
  'store_busy',
  'corrupt_state',
  'command_not_found',
  'conflict',
  'not_found',
  'internal_error',
  'not_logged_in',
  'unauthorized',
  'forbidden',
  'signature_invalid',
  'remote_unavailable',
  'remote_error',
  'bad_server_response',
  'stale_epoch',
] as const;

export type WireCode = (typeof WIRE_CODES)[number];
export type LocalCode = (typeof LOCAL_CODES)[number];
export type ErrorCode = WireCode | LocalCode;

/**
 * The HTTP status of each code that goes out over HTTP: the wire codes (DESIGN §7) and the team
 * server's. The one table; every HTTP edge answers with `httpStatusOf`.
 */
export const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  bad_request: 400,
  invalid_session: 401,
  invalid_agent_token: 401,
  invalid_agent_id: 400,
  token_revoked: 403,
  identity_required: 403,
  empty_allowlist: 403,
  domain_not_in_allowlist: 403,
  non_https_blocked: 403,
  ssrf_protection_blocked: 403,
  policy_denied: 403,
  secret_binding_mismatch: 403,
  secret_not_found: 404,
  request_too_large: 413,
  rate_limited: 429,
  upstream_error: 502,
  response_too_large: 502,
  upstream_timeout: 504,
  sync_stale: 503,
  header_not_allowed: 400,
  invalid_secret_value: 400,
  undecodable_response: 502,
  response_withheld: 502,
  strict_mode: 403,
  state_tampered: 409,
  approval_denied: 403,
  approval_timeout: 403,
  approval_required: 403,
  approval_queue_full: 429,
  // The team server's codes.
  usage_error: 400,
  unauthorized: 401,
  forbidden: 403,
  signature_invalid: 400,
  not_found: 404,
  conflict: 409,
  stale_epoch: 409,
  store_busy: 503,
};

/** HTTP status for an error code; 500 for codes that never go on the wire. */
export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code] ?? 500;
}

/** Non-secret context that may accompany an error on the wire and in audit entries. */
export interface ErrorContext {
  domain?: string;
  secret?: string;
  agent?: string;
  [key: string]: string | number | boolean | string[] | undefined;
}

export interface AgentSecretsErrorOptions {
  cause?: unknown;
  context?: ErrorContext;
}

/** The base class of every error agentsecrets raises on purpose. */
export class AgentSecretsError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, options: AgentSecretsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AgentSecretsError';
    this.code = code;
    this.context = options.context ?? {};
  }
}

/** True when `err` is an AgentSecretsError, optionally with one of the given codes. */
export function isAgentSecretsError(err: unknown, ...codes: ErrorCode[]): err is AgentSecretsError {
  return err instanceof AgentSecretsError && (codes.length === 0 || codes.includes(err.code));
}

/** The vault could not be unlocked with what was presented. Deliberately says nothing more. */
export class UnlockFailedError extends AgentSecretsError {
  constructor(options: { cause?: unknown } = {}) {
    super(
      'unlock_failed',
      'could not unlock the vault: wrong passphrase or damaged key. Check the passphrase and try again.',
      options,
    );
    this.name = 'UnlockFailedError';
  }
}

/** An authenticated decryption failed. One generic message for every cause. */
export class DecryptionFailedError extends AgentSecretsError {
  constructor(options: { cause?: unknown } = {}) {
    super(
      'decryption_failed',
      'decryption failed: the data was altered or the key is wrong',
      options,
    );
    this.name = 'DecryptionFailedError';
  }
}

/** The command line was wrong. */
export class UsageError extends AgentSecretsError {
  constructor(message: string, options: AgentSecretsErrorOptions = {}) {
    super('usage_error', message, options);
    this.name = 'UsageError';
  }
}

/** Wraps anything that is not an AgentSecretsError, keeping none of its message. */
export function toAgentSecretsError(err: unknown): AgentSecretsError {
  if (err instanceof AgentSecretsError) return err;
  return new AgentSecretsError(
    'internal_error',
    'an unexpected internal error occurred; run with AGENTSECRETS_DEBUG=1 to see details on stderr',
    { cause: err },
  );
}
