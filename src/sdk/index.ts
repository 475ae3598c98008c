export {
  AgentSecrets,
  type AgentSecretsOptions,
  type CallOptions,
  type CallResponse,
  type SpawnOptions,
} from './client.js';
export {
  AgentSecretsCallError,
  AgentTokenError,
  DestinationBlockedError,
  DomainNotAllowedError,
  InvalidAgentIdError,
  PolicyError,
  ProxyUnavailableError,
  SecretNotFoundError,
  UpstreamError,
} from './errors.js';
