/**
 * The agentsecrets library surface: the TypeScript SDK. Explicit named exports only; anything
 * added here is public API.
 */
export {
  AgentSecrets,
  type AgentSecretsOptions,
  type CallOptions,
  type CallResponse,
  AgentSecretsCallError,
  AgentTokenError,
  DestinationBlockedError,
  DomainNotAllowedError,
  InvalidAgentIdError,
  PolicyError,
  ProxyUnavailableError,
  SecretNotFoundError,
  UpstreamError,
} from './sdk/index.js';
