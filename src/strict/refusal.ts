import { AgentSecretsError } from '../core/errors.js';

/** What a strict key holder answers to anyone asking for values. */
export function strictEnvRefusal(): AgentSecretsError {
  return new AgentSecretsError(
    'strict_mode',
    'strict mode: the key holder never hands out values. Programs get credentials through calls (`agentsecrets call`, the proxy, MCP); to run one program with real values, a human approves that exact command line with the passphrase: run `agentsecrets env -- CMD` at your terminal.',
  );
}
