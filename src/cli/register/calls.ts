import { type Command, Option } from 'commander';
import type { CommandKit } from './kit.js';

/** Declares call, run, env and ca; handlers load when their command runs. */
export function registerCallsCommands(
  program: Command,
  { ctx, run, sel, examples }: CommandKit,
): void {
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  sel(
    program
      .command('call')
      .description(
        'make one authenticated HTTPS request; the secret is injected, the response scrubbed',
      )
      .requiredOption('--url <url>', 'the URL to call (https://…)')
      .option('--method <method>', 'HTTP method', 'GET')
      .option('--body <body>', 'request body (JSON is sent as application/json)')
      .option('--bearer <KEY>', 'send KEY as Authorization: Bearer')
      .option('--basic <KEY>', 'send KEY (a user:password pair) as Authorization: Basic')
      .option('--header <Name=KEY>', 'send KEY in header Name (repeatable)', collect)
      .option('--query <param=KEY>', 'send KEY as query parameter param (repeatable)', collect)
      .option(
        '--body-field <path=KEY>',
        'put KEY at a dotted path of the JSON body (repeatable)',
        collect,
      )
      .option('--form-field <field=KEY>', 'put KEY in a form field (repeatable)', collect)
      .option(
        '--pass-header <"Name: value">',
        'an ordinary header to send as is (repeatable)',
        collect,
      )
      .option(
        '--agent-id <name>',
        'declare which agent is calling (a claim; 1-64 of A-Z a-z 0-9 . _ -)',
      )
      .option(
        '--token <agt_token>',
        'an issued agent token (a literal agt_… value; or set AGENTSECRETS_AGENT_TOKEN)',
      )
      .addOption(
        new Option('--output <format>', 'text or json').choices(['text', 'json']).default('text'),
      ),
  )
    .addHelpText(
      'after',
      `\nText output is "HTTP <code>", a blank line, then the body. --output json prints
{"status","headers","body","redacted","duration_ms","error"}. Exit code 0 for 2xx/3xx;
1 for another status or a refused call; 2 for a usage error; 4 when the vault cannot be unlocked.
${examples(
  'agentsecrets call --url https://api.stripe.com/v1/balance --bearer STRIPE_KEY',
  'agentsecrets call --url https://api.example.com/items --method POST --body \'{"name":"x"}\' --header X-Api-Key=API_KEY',
  'agentsecrets call --url https://maps.example.com/geo --query key=MAPS_KEY --output json',
)}`,
    )
    .action((opts) => run(async () => (await import('../commands/call.js')).call(ctx, opts)));

  sel(
    program
      .command('run')
      .description(
        'run a command with placeholders for secrets; its HTTPS goes through the intercepting proxy',
      )
      .argument('<command...>', 'the command and its arguments (after --)')
      .option('--only <keys>', 'comma-separated keys to give placeholders for (default: all)')
      .option(
        '--agent-id <name>',
        'declare which agent is running the command (recorded as a claim)',
      )
      .option('--token <agt_token>', "an issued agent token: the run acts with that agent's rights")
      .passThroughOptions(),
  )
    .addHelpText(
      'after',
      `\nThe command gets agentsecrets-ph-<KEY>-<random> in place of each value, HTTPS_PROXY/HTTP_PROXY/
ALL_PROXY (both cases), NO_PROXY, a CA bundle (system roots + the local CA) through
NODE_EXTRA_CA_CERTS, SSL_CERT_FILE, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, GIT_SSL_CAINFO,
AWS_CA_BUNDLE and DENO_CERT, and a Node preload in NODE_OPTIONS. The proxy replaces a placeholder
by its value only in a request to a host that secret may reach (allowlist, binding, policy);
elsewhere the request is refused with 403. Signals and the exit code pass through as with env.
${examples('agentsecrets run -- curl -H "Authorization: Bearer $OPENAI_API_KEY" https://api.openai.com/v1/models', 'agentsecrets run --only STRIPE_KEY -- node billing.js')}`,
    )
    .action((argv, opts) =>
      run(async () => (await import('../commands/run.js')).runCommand(ctx, argv, opts)),
    );

  sel(
    program
      .command('env')
      .description(
        "run a command with the project's secret VALUES in its environment (hands them over; prefer run)",
      )
      .argument('<command...>', 'the command and its arguments (after --)')
      .option('--only <keys>', 'comma-separated keys to inject (default: all)')
      .option('--no-mask', 'do not mask values in output that goes to a pipe or file')
      .option(
        '--real',
        'strict mode: give the command the real values (a human approves the command line with the passphrase)',
      )
      .option(
        '--agent-id <name>',
        'declare which agent is running the command (a claim; 1-64 of A-Z a-z 0-9 . _ -)',
      )
      .passThroughOptions(),
  )
    .addHelpText(
      'after',
      `\nOutput that does not go to a terminal is masked: any value the command prints becomes
[REDACTED_BY_AGENTSECRETS]. Signals (INT, TERM, HUP) are forwarded; the exit code passes
through (128+n for signal n). In strict mode the command gets placeholders, as with run,
unless --real is given and a human approves that exact command line with the passphrase.
${examples('agentsecrets env -- node server.js', 'agentsecrets env --only STRIPE_KEY -- ./deploy.sh --prod', 'agentsecrets env --real --only STRIPE_KEY -- ./deploy.sh')}`,
    )
    .action((argv: string[], opts) =>
      run(async () => {
        const env = await import('../commands/env.js');
        // commander keeps the untouched argv (with its `--`) on the root, untyped.
        const raw = (program as unknown as { rawArgs: string[] }).rawArgs;
        const afterDashes = env.givenAfterDashes(raw, argv[0] ?? '');
        return env.envRun(ctx, argv, { ...opts, afterDashes });
      }),
    );

  program
    .command('ca')
    .description('the local CA of the intercepting proxy behind `run`')
    .command('export')
    .description("print the local CA's public certificate (PEM)")
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nThe CA (ECDSA P-256) is made on first use; its private key stays encrypted in the vault and is
used only by the key holder. It is never installed system-wide: \`run\` gives it to its child
through CA variables. Export it only to trust it somewhere yourself.
${examples('agentsecrets ca export > agentsecrets-ca.pem')}`,
    )
    .action((opts) => run(async () => (await import('../commands/ca.js')).caExport(ctx, opts)));
}
