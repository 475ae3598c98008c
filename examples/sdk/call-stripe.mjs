// Calls Stripe's balance endpoint with STRIPE_KEY, through the local agentsecrets proxy.
// The program never sees the key: the proxy injects it and scrubs any echo from the response.
//
// Before: `agentsecrets init`, `agentsecrets secrets set STRIPE_KEY`,
//         `agentsecrets workspace allowlist add api.stripe.com`, `agentsecrets proxy start`.
// Optional: AGENTSECRETS_AGENT_TOKEN=agt_… (from `agentsecrets agent token issue NAME`).
import {
  AgentSecrets,
  AgentSecretsCallError,
  DomainNotAllowedError,
  ProxyUnavailableError,
  SecretNotFoundError,
} from 'agentsecrets';

// STRIPE_BALANCE_URL points the example elsewhere (the repository's tests use a local server).
const url = process.env.STRIPE_BALANCE_URL ?? 'https://api.stripe.com/v1/balance';

const client = new AgentSecrets({
  agentToken: process.env.AGENTSECRETS_AGENT_TOKEN,
  agentId: 'stripe-example',
});
try {
  const response = await client.call({
    url,
    bearer: 'STRIPE_KEY',
  });
  console.log(
    `HTTP ${response.status} (request ${response.requestId}, redacted: ${response.redacted})`,
  );
  console.log(response.json());
  if (response.status >= 400) process.exitCode = 1;
} catch (err) {
  // One line that says what to do, never a stack trace.
  if (err instanceof DomainNotAllowedError) {
    console.error(`Ask a human to run: agentsecrets workspace allowlist add ${err.domain}`);
  } else if (err instanceof SecretNotFoundError) {
    console.error(`Ask a human to run: agentsecrets secrets set ${err.secret ?? 'STRIPE_KEY'}`);
  } else if (err instanceof ProxyUnavailableError) {
    console.error(`No agentsecrets proxy is running: start one with \`agentsecrets proxy start\``);
  } else if (err instanceof AgentSecretsCallError) {
    console.error(`agentsecrets refused the call (${err.code}): ${err.message}`);
  } else {
    console.error(`The call failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  process.exitCode = 1;
} finally {
  client.close();
}
