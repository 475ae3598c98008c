// Calls Stripe's balance endpoint with STRIPE_KEY, through the local agentsecrets proxy.
// The program never sees the key: the proxy injects it and scrubs any echo from the response.
//
// Before: `agentsecrets init`, `agentsecrets secrets set STRIPE_KEY`,
//         `agentsecrets workspace allowlist add api.stripe.com`, `agentsecrets proxy start`.
// Optional: AGENTSECRETS_AGENT_TOKEN=agt_… (from `agentsecrets agent token issue NAME`).
import { AgentSecrets, DomainNotAllowedError, SecretNotFoundError } from 'agentsecrets';

const client = new AgentSecrets({
  agentToken: process.env.AGENTSECRETS_AGENT_TOKEN,
  agentId: 'stripe-example',
});
try {
  const response = await client.call({
    url: 'https://api.stripe.com/v1/balance',
    bearer: 'STRIPE_KEY',
  });
  console.log(
    `HTTP ${response.status} (request ${response.requestId}, redacted: ${response.redacted})`,
  );
  console.log(response.json());
} catch (err) {
  if (err instanceof DomainNotAllowedError) {
    console.error(`Ask a human to run: agentsecrets workspace allowlist add ${err.domain}`);
  } else if (err instanceof SecretNotFoundError) {
    console.error(`Ask a human to run: agentsecrets secrets set ${err.secret ?? 'STRIPE_KEY'}`);
  } else {
    throw err;
  }
  process.exitCode = 1;
} finally {
  client.close();
}
