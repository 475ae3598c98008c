import { Command, Option } from 'commander';
import type { CliContext } from './context.js';

/** The result of a command handler: an exit code, or nothing for success. */
type Handler = () => Promise<number | void>;

/** Collects the exit code of the action that ran. */
export interface ProgramRun {
  program: Command;
  /** Resolves with the exit code of the command that ran. */
  exitCode(): number;
}

function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

/**
 * Declares every command. Handlers are imported only when their command runs, so that
 * `agentsecrets secrets list` does not load the proxy, the MCP SDK or libsodium.
 */
export function buildProgram(ctx: CliContext): ProgramRun {
  let code = 0;
  const run = async (handler: Handler): Promise<void> => {
    const result = await handler();
    if (typeof result === 'number') code = result;
  };

  const program = new Command('agentsecrets')
    .description(
      'Zero-knowledge secrets for AI agents: agents use credentials by name and never see the values.',
    )
    .version('0.1.0', '-V, --version')
    .enablePositionalOptions()
    // Set before any subcommand exists: subcommands copy it when they are created.
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (text) => ctx.out.raw(text),
      writeErr: (text) => process.stderr.write(text),
    })
    .addHelpText(
      'after',
      examples(
        'agentsecrets init',
        'agentsecrets secrets set STRIPE_KEY',
        'agentsecrets secrets list',
        'agentsecrets env -- node server.js',
      ),
    );

  const sel = (cmd: Command) =>
    cmd
      .option('--project <name>', 'use this project instead of the selected one')
      .option('--env <environment>', 'development, staging or production');

  program
    .command('init')
    .description('create the state folder, the encrypted vault and a local workspace')
    .addOption(
      new Option('--backend <backend>', 'where the vault key lives')
        .choices(['auto', 'keychain', 'passphrase'])
        .default('auto'),
    )
    .option('--project <name>', 'first project (also binds this folder to it)')
    .option('--force', 'rewrite the generated files (never touches the vault)')
    .option('--no-gitignore', 'do not add .env* to an existing ./.gitignore')
    .option(
      '--weak-kdf-for-tests',
      'TESTS ONLY: a deliberately weak passphrase KDF, for fast test vaults',
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets init',
        'agentsecrets init --backend passphrase',
        'agentsecrets init --project billing-api',
      ),
    )
    .action((opts) => run(async () => (await import('./commands/init.js')).init(ctx, opts)));

  program
    .command('demo')
    .description('run the whole flow once with embedded defaults (no keychain, server or account)')
    .option('--keep', 'keep the throw-away state folder for inspection')
    .addHelpText('after', examples('agentsecrets demo'))
    .action((opts) => run(async () => (await import('./commands/demo.js')).demo(ctx, opts)));

  program
    .command('status')
    .description('show workspace, project, environment, vault key, secrets and proxy state')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets status', 'agentsecrets status --json'))
    .action((opts) => run(async () => (await import('./commands/status.js')).status(ctx, opts)));

  const project = program.command('project').description('manage projects in the workspace');
  project
    .command('create <name>')
    .description('create a project')
    .option('--description <text>', 'what the project is for')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets project create billing-api'))
    .action((name, opts) =>
      run(async () => (await import('./commands/project.js')).projectCreate(ctx, name, opts)),
    );
  project
    .command('list')
    .description('list projects; * marks the selected one')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets project list --json'))
    .action((opts) =>
      run(async () => (await import('./commands/project.js')).projectList(ctx, opts)),
    );
  project
    .command('use <name>')
    .alias('link')
    .description('bind this folder to a project (./.agentsecrets/project.json)')
    .option('--global', 'select it for every folder instead of binding this one')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples('agentsecrets project use billing-api', 'agentsecrets project use default --global'),
    )
    .action((name, opts) =>
      run(async () => (await import('./commands/project.js')).projectUse(ctx, name, opts)),
    );
  project
    .command('update <name>')
    .description('rename a project or change its description')
    .option('--name <new-name>', 'new name')
    .option('--description <text>', 'new description')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets project update billing-api --name billing'))
    .action((name, opts) =>
      run(async () => (await import('./commands/project.js')).projectUpdate(ctx, name, opts)),
    );
  project
    .command('delete <name>')
    .description('delete a project (refuses while it holds secrets, unless --force)')
    .option('--force', 'also delete its secrets')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets project delete old-api'))
    .action((name, opts) =>
      run(async () => (await import('./commands/project.js')).projectDelete(ctx, name, opts)),
    );

  const environment = program
    .command('environment')
    .alias('env-switch')
    .description('list or switch environments (development, staging, production)');
  environment
    .command('list')
    .description('list environments; * marks the selected one')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('./commands/environment.js')).environmentList(ctx, opts)),
    );
  environment
    .command('switch <environment>')
    .description('select an environment for this bound folder (or globally)')
    .option('--global', 'change the global selection even in a bound folder')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets environment switch staging'))
    .action((env, opts) =>
      run(async () =>
        (await import('./commands/environment.js')).environmentSwitch(ctx, env, opts),
      ),
    );

  const secrets = program.command('secrets').description('store, list and manage secrets');
  sel(
    secrets
      .command('set <key-or-pairs...>')
      .description('store secrets; `set KEY` reads the value from stdin or a hidden prompt'),
  )
    .option('--domains <list>', 'also bind the key to these domains (human only, at a terminal)')
    .option(
      '--styles <list>',
      'with --domains: the injection styles allowed (bearer,basic,header,query,body,form)',
    )
    .option(
      '--allow-short',
      `let a value under 16 bytes be injected (human only; the redaction marker confirms guesses of it)`,
    )
    .option(
      '--placeholder-prefix <prefix>',
      'the public prefix its `run` placeholder keeps, for SDKs that check it (human only)',
    )
    .option(
      '--yes',
      'with --domains, --allow-short or --placeholder-prefix: skip the typed confirmation (a terminal is still required)',
    )
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets secrets set STRIPE_KEY            # hidden prompt',
        'agentsecrets secrets set DOOR_PIN --allow-short  # a short value a human accepts as guessable',
        'agentsecrets secrets set STRIPE_KEY --placeholder-prefix sk_live_',
        'printf %s "$VALUE" | agentsecrets secrets set STRIPE_KEY',
        'agentsecrets secrets set A=1 B=2               # works, but argv is visible to other processes',
      ),
    )
    .action((args, opts) =>
      run(async () => (await import('./commands/secrets.js')).secretsSet(ctx, args, opts)),
    );
  sel(secrets.command('list').description('list secret names and metadata (never values)'))
    .option('--all-envs', 'show which environments hold each key')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets secrets list',
        'agentsecrets secrets list --all-envs',
        'agentsecrets secrets list --json',
      ),
    )
    .action((opts) =>
      run(async () => (await import('./commands/secrets.js')).secretsList(ctx, opts)),
    );
  sel(secrets.command('get <key>').description('reveal a value (a human, at a terminal only)'))
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .addHelpText('after', examples('agentsecrets secrets get STRIPE_KEY'))
    .action((key, opts) =>
      run(async () => (await import('./commands/secrets.js')).secretsGet(ctx, key, opts)),
    );
  sel(secrets.command('delete <key>').description('delete a secret'))
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets secrets delete OLD_KEY'))
    .action((key, opts) =>
      run(async () => (await import('./commands/secrets.js')).secretsDelete(ctx, key, opts)),
    );
  sel(
    secrets
      .command('import [file]')
      .description('load a .env file (default ./.env); reports counts, never values'),
  )
    .option('--strict', 'import nothing, and exit 1, if any line would be skipped')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nMalformed lines are skipped and reported by number (never by content); the rest is imported
and the exit code is 0. With --strict, any skipped line imports nothing and exits 1.
${examples('agentsecrets secrets import', 'agentsecrets secrets import .env.production --env production', 'agentsecrets secrets import --strict')}`,
    )
    .action((file, opts) =>
      run(async () => (await import('./commands/secrets.js')).secretsImport(ctx, file, opts)),
    );

  for (const [verb, description] of [
    [
      'push',
      'send local changes to the team workspace; refuses to overwrite newer remote versions',
    ],
    ['pull', 'take newer remote versions; keys changed on both sides keep their local value'],
    ['diff', 'compare with the team workspace: local_only, remote_only, out_of_sync, in_sync'],
  ] as const) {
    const cmd = sel(secrets.command(verb).description(description)).option(
      '--json',
      'print as JSON',
    );
    if (verb !== 'diff')
      cmd.option(
        '--force',
        verb === 'push'
          ? 'overwrite newer remote versions'
          : 'take the remote version of conflicting keys',
      );
    cmd
      .addHelpText(
        'after',
        examples(
          `agentsecrets secrets ${verb}`,
          `agentsecrets secrets ${verb} --env production --json`,
        ),
      )
      .action((opts) =>
        run(async () => (await import('./commands/team.js')).secretsSyncCommand(ctx, verb, opts)),
      );
  }

  sel(
    secrets
      .command('bind <key> <domains...>')
      .description('bind a secret to the domains it may be sent to (human only)'),
  )
    .option(
      '--styles <list>',
      'also restrict the injection styles (bearer,basic,header,query,body,form)',
    )
    .option('--all-envs', 'bind the key in every environment of the project')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nA bound secret is never injected toward any other host, even an allowlisted one.
${examples('agentsecrets secrets bind STRIPE_KEY api.stripe.com', 'agentsecrets secrets bind GH_TOKEN api.github.com uploads.github.com --styles bearer')}`,
    )
    .action((key, domains, opts) =>
      run(async () => (await import('./commands/secrets.js')).secretsBind(ctx, key, domains, opts)),
    );
  sel(
    secrets
      .command('unbind <key>')
      .description('remove the domain binding of a secret (human only)'),
  )
    .option('--all-envs', 'unbind the key in every environment of the project')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .action((key, opts) =>
      run(async () => (await import('./commands/secrets.js')).secretsUnbind(ctx, key, opts)),
    );

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
{"status","headers","body","redacted","duration_ms","error"}. Exit code 0 for 2xx/3xx, else 1.
${examples(
  'agentsecrets call --url https://api.stripe.com/v1/balance --bearer STRIPE_KEY',
  'agentsecrets call --url https://api.example.com/items --method POST --body \'{"name":"x"}\' --header X-Api-Key=API_KEY',
  'agentsecrets call --url https://maps.example.com/geo --query key=MAPS_KEY --output json',
)}`,
    )
    .action((opts) => run(async () => (await import('./commands/call.js')).call(ctx, opts)));

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
      run(async () => (await import('./commands/run.js')).runCommand(ctx, argv, opts)),
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
        '--agent-id <name>',
        'declare which agent is running the command (a claim; 1-64 of A-Z a-z 0-9 . _ -)',
      )
      .passThroughOptions(),
  )
    .addHelpText(
      'after',
      `\nOutput that does not go to a terminal is masked: any value the command prints becomes
[REDACTED_BY_AGENTSECRETS]. Signals (INT, TERM, HUP) are forwarded; the exit code passes
through (128+n for signal n).
${examples('agentsecrets env -- node server.js', 'agentsecrets env --only STRIPE_KEY -- ./deploy.sh --prod')}`,
    )
    .action((argv: string[], opts) =>
      run(async () => {
        const env = await import('./commands/env.js');
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
    .action((opts) => run(async () => (await import('./commands/ca.js')).caExport(ctx, opts)));

  program
    .command('dashboard')
    .description(
      'open the local dashboard (served by the key holder on 127.0.0.1): activity, agents, allowlist, approvals',
    )
    .option('--port <port>', 'port for the dashboard (default: any free port)')
    .option('--no-open', 'print the login URL without opening a browser')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nPrints a login URL that works once, for 5 minutes; it becomes a session cookie in that browser.
A browser is opened only when a display exists. The key holder must be running.
${examples('agentsecrets dashboard', 'agentsecrets dashboard --no-open --port 8766')}`,
    )
    .action((opts) =>
      run(async () => (await import('./commands/dashboard.js')).dashboardOpen(ctx, opts)),
    );

  const approvals = program
    .command('approvals')
    .description('calls held for a human: list, watch, and the `approve` rules');
  approvals
    .command('list')
    .description('the calls waiting for approval now')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets approvals list'))
    .action((opts) =>
      run(async () => (await import('./commands/approvals.js')).approvalsList(ctx, opts)),
    );
  approvals
    .command('watch')
    .description('print calls as they start and stop waiting (decide in the dashboard)')
    .option('--json', 'one JSON object per line')
    .addHelpText('after', examples('agentsecrets approvals watch'))
    .action((opts) =>
      run(async () => (await import('./commands/approvals.js')).approvalsWatch(ctx, opts)),
    );
  approvals
    .command('rules')
    .description('the timeout, the unlisted-domain option and the approve rules')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets approvals rules'))
    .action((opts) =>
      run(async () => (await import('./commands/approvals.js')).approvalsRules(ctx, opts)),
    );
  const approvalRule = approvals.command('rule').description('add or remove approve rules');
  approvalRule
    .command('add')
    .description('hold matching calls until a human approves them (fields left out match all)')
    .option('--workspace <name>', 'workspace name or id')
    .option('--agent <name>', 'agent name as the caller presents it')
    .option('--secret <key>', 'secret name')
    .option('--domain <pattern>', 'domain pattern, as in the allowlist')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets approvals rule add --secret STRIPE_KEY',
        'agentsecrets approvals rule add --agent billing --domain api.stripe.com',
      ),
    )
    .action((opts) =>
      run(async () => (await import('./commands/approvals.js')).approvalsRuleAdd(ctx, opts)),
    );
  approvalRule
    .command('remove <id>')
    .description('remove an approve rule (human-gated)')
    .option('-y, --yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets approvals rule remove apr_abc123'))
    .action((id, opts) =>
      run(async () => (await import('./commands/approvals.js')).approvalsRuleRemove(ctx, id, opts)),
    );
  approvals
    .command('config')
    .description('how long calls wait, and whether unlisted domains are asked about (human-gated)')
    .option(
      '--ask-unlisted <on|off>',
      'ask a human instead of refusing a domain outside the allowlist',
    )
    .option('--timeout <seconds>', 'how long a held call waits (default 120)')
    .option('-y, --yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets approvals config --ask-unlisted on',
        'agentsecrets approvals config --timeout 60',
      ),
    )
    .action((opts) =>
      run(async () => (await import('./commands/approvals.js')).approvalsConfig(ctx, opts)),
    );

  const proxy = program
    .command('proxy')
    .description('the localhost credential proxy and key holder');
  proxy
    .command('start')
    .description('run the proxy in the foreground; it unlocks the vault once and holds the key')
    .option('--port <port>', 'TCP port', '8765')
    .option('--host <host>', 'address to listen on (loopback unless you mean it)', '127.0.0.1')
    .option(
      '--no-session-token',
      'accept requests without X-AS-Session-Token (for clients that cannot send it)',
    )
    .option(
      '--intercept-port <port>',
      'loopback port of the intercepting proxy for `run` children (0: any free port)',
      '0',
    )
    .option('--no-intercept-port', 'do not serve the intercepting proxy for `run`')
    .addHelpText(
      'after',
      `\nEndpoints: /proxy (X-AS-* headers), GET /health, POST /sync. A second loopback port serves the
intercepting proxy (CONNECT) that \`agentsecrets run\` children use; proxy.json names it. The session token is in proxy.json
(mode 0600) in the state folder; the CLI and the SDK read it themselves.
${examples('agentsecrets proxy start', 'agentsecrets proxy start --port 9000')}`,
    )
    .action((opts) => run(async () => (await import('./commands/proxy.js')).proxyStart(ctx, opts)));
  proxy
    .command('status')
    .description('is the proxy running, where, and does it require a session token')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('./commands/proxy.js')).proxyStatus(ctx, opts)),
    );
  proxy
    .command('stop')
    .description('stop the proxy (SIGTERM, then SIGKILL after 5 s)')
    .option('--json', 'print as JSON')
    .action((opts) => run(async () => (await import('./commands/proxy.js')).proxyStop(ctx, opts)));
  proxy
    .command('sync')
    .description("pull the team workspaces' allowlist, policy, agents and revocations now")
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets proxy sync'))
    .action((opts) => run(async () => (await import('./commands/proxy.js')).proxySync(ctx, opts)));
  proxy
    .command('logs')
    .description('recent audit entries (calls, blocks, env runs)')
    .option('--last <n>', 'how many entries', '20')
    .option('--secret <KEY>', 'only entries that used this key')
    .option('--watch', 'keep following new entries from every writer')
    .option('--json', 'print as JSON (one document; with --watch, one entry per line)')
    .addHelpText(
      'after',
      examples('agentsecrets proxy logs --last 50', 'agentsecrets proxy logs --watch'),
    )
    .action((opts) => run(async () => (await import('./commands/proxy.js')).proxyLogs(ctx, opts)));

  const workspace = program
    .command('workspace')
    .description('workspaces: team workspaces and members, the allowlist and policy');
  workspace
    .command('create <name>')
    .description('create a team workspace on the sync server (you become its admin)')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets workspace create acme'))
    .action((name, opts) =>
      run(async () => (await import('./commands/team.js')).workspaceCreate(ctx, name, opts)),
    );
  workspace
    .command('list')
    .description('workspaces here and, when signed in, on the server')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('./commands/team.js')).workspaceList(ctx, opts)),
    );
  workspace
    .command('switch <name>')
    .description(
      'select a workspace; a team one is joined on first use (invite code pinned, or you check its admin fingerprint)',
    )
    .option('--json', 'print as JSON')
    .action((name, opts) =>
      run(async () => {
        const result = await (await import('./commands/team.js')).workspaceSwitch(ctx, name, opts);
        await (await import('./selection-hint.js')).warnAfterWorkspaceSwitch(ctx);
        return result;
      }),
    );
  workspace
    .command('join <code>')
    .description("join a team workspace with an admin's invite code (pins that admin's key)")
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets workspace join asinv1.ws_abc12345.3F2A…'))
    .action((code, opts) =>
      run(async () => (await import('./commands/team.js')).workspaceJoin(ctx, code, opts)),
    );
  workspace
    .command('members')
    .description('members with their role, status and key fingerprint')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('./commands/team.js')).workspaceMembers(ctx, opts)),
    );
  workspace
    .command('invite <email>')
    .description('invite someone as a member (admins); they sign up, then you confirm them')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets workspace invite bob@example.com'))
    .action((email, opts) =>
      run(async () => (await import('./commands/team.js')).workspaceInvite(ctx, email, opts)),
    );
  workspace
    .command('confirm <email>')
    .description(
      'give a pending member the workspace key, after checking their fingerprint (human only)',
    )
    .option(
      '--fingerprint <prefix>',
      "the first 8 characters of the member's key fingerprint, as they read it out",
    )
    .option('--yes', 'accepted for compatibility; the fingerprint is still required')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples('agentsecrets workspace confirm bob@example.com --fingerprint 3F2A9C01'),
    )
    .action((email, opts) =>
      run(async () => (await import('./commands/team.js')).workspaceConfirm(ctx, email, opts)),
    );
  workspace
    .command('remove <email>')
    .description('remove a member and rotate the workspace key (human only)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .action((email, opts) =>
      run(async () => (await import('./commands/team.js')).workspaceRemove(ctx, email, opts)),
    );
  for (const [verb, role] of [
    ['promote', 'admin'],
    ['demote', 'member'],
  ] as const) {
    workspace
      .command(`${verb} <email>`)
      .description(`make a member ${role === 'admin' ? 'an admin' : 'a plain member'} (human only)`)
      .option('--yes', 'skip the typed confirmation (a terminal is still required)')
      .option('--json', 'print as JSON')
      .action((email, opts) =>
        run(async () => (await import('./commands/team.js')).workspaceRole(ctx, email, role, opts)),
      );
  }
  const allowlist = workspace
    .command('allowlist')
    .description('domains credentials may be sent to (deny by default)');
  allowlist
    .command('add <domains...>')
    .description('allow domains (human only, at a terminal)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nEntries are exact hosts or *.example.com (exactly one extra label: a.example.com, not
a.b.example.com or example.com itself), with an optional :port. Without a port only the
default port (443 for https) matches.
${examples('agentsecrets workspace allowlist add api.stripe.com', 'agentsecrets workspace allowlist add "*.githubusercontent.com" localhost:8443')}`,
    )
    .action((domains, opts) =>
      run(async () => (await import('./commands/workspace.js')).allowlistAdd(ctx, domains, opts)),
    );
  allowlist
    .command('remove <domain>')
    .description('stop allowing a domain (human only)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .action((domain, opts) =>
      run(async () => (await import('./commands/workspace.js')).allowlistRemove(ctx, domain, opts)),
    );
  allowlist
    .command('list')
    .description('the allowed domains')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('./commands/workspace.js')).allowlistList(ctx, opts)),
    );
  const passthrough = workspace
    .command('passthrough')
    .description('hosts `run` children may reach through an untouched tunnel (no secrets)');
  passthrough
    .command('add <hosts...>')
    .description('tunnel these hosts untouched for `run` (human only, at a terminal)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nA CONNECT from a \`run\` child to a host outside the allowlist is refused with 403, unless the
host is listed here: then the tunnel is passed through untouched (no TLS interception, no
substitution) and audited. Same syntax as the allowlist.
${examples('agentsecrets workspace passthrough add registry.npmjs.org', 'agentsecrets workspace passthrough add "*.pythonhosted.org"')}`,
    )
    .action((hosts, opts) =>
      run(async () => (await import('./commands/passthrough.js')).passthroughAdd(ctx, hosts, opts)),
    );
  passthrough
    .command('remove <host>')
    .description('stop tunnelling a host (human only)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .action((host, opts) =>
      run(async () =>
        (await import('./commands/passthrough.js')).passthroughRemove(ctx, host, opts),
      ),
    );
  passthrough
    .command('list')
    .description('the passthrough hosts')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('./commands/passthrough.js')).passthroughList(ctx, opts)),
    );
  allowlist
    .command('log')
    .description('who changed the allowlist, and when')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('./commands/workspace.js')).allowlistLog(ctx, opts)),
    );
  const policy = workspace.command('policy').description('workspace-wide rules');
  policy
    .command('set')
    .description('change the workspace policy (human only)')
    .option('--require-binding', 'refuse secrets that are not bound to domains')
    .option('--no-require-binding', 'allow unbound secrets (the default)')
    .option('--require-identity <level>', 'minimum caller identity: anonymous, declared or issued')
    .option(
      '--default-allow-secrets <globs>',
      "default rules: secrets that may be used, e.g. 'STRIPE_*' ('none' clears)",
    )
    .option(
      '--default-deny-secrets <globs>',
      'default rules: secrets that may never be used (deny wins)',
    )
    .option('--default-allow-domains <list>', 'default rules: domains, within the allowlist')
    .option('--default-methods <list>', 'default rules: HTTP methods, e.g. GET,POST')
    .option(
      '--default-rate <rate>',
      "default rules: a rate such as 60/min, shared by all non-issued callers ('none' clears)",
    )
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nThe default rules apply to anonymous and declared callers, and to issued agents without rules
of their own. Claiming an agent's name (X-AS-Agent-ID) never grants that agent's rules.
${examples(
  'agentsecrets workspace policy set --require-binding',
  'agentsecrets workspace policy set --require-identity issued',
  "agentsecrets workspace policy set --default-allow-secrets 'PUBLIC_*' --default-rate 30/min",
)}`,
    )
    .action((opts) =>
      run(async () => (await import('./commands/workspace.js')).policySet(ctx, opts)),
    );
  policy
    .command('show')
    .description('the workspace policy')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('./commands/workspace.js')).policyShow(ctx, opts)),
    );

  const agent = program
    .command('agent')
    .description('agents, their issued tokens, and their rules');
  agent
    .command('create <name>')
    .description('register an agent')
    .option('--description <text>', 'what the agent does')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples('agentsecrets agent create billing-bot --description "invoices"'),
    )
    .action((name, opts) =>
      run(async () => (await import('./commands/agent.js')).agentCreate(ctx, name, opts)),
    );
  agent
    .command('list')
    .description('agents with their tokens, call count and last use')
    .option('--json', 'print as JSON')
    .action((opts) => run(async () => (await import('./commands/agent.js')).agentList(ctx, opts)));
  agent
    .command('delete <name>')
    .description('revoke every token of an agent, then delete it (human only)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .action((name, opts) =>
      run(async () => (await import('./commands/agent.js')).agentDelete(ctx, name, opts)),
    );
  const token = agent.command('token').description("an agent's issued tokens");
  token
    .command('issue <name>')
    .description('issue a token; it is printed once on stdout and stored nowhere (human only)')
    .option('--label <label>', 'a note, e.g. where the token is used')
    .option('--ttl <duration>', 'lifetime, e.g. 30d, 12h (default 30d, at most 365d)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .addHelpText(
      'after',
      `\nGive the token to the agent as AGENTSECRETS_AGENT_TOKEN, or have it send X-AS-Agent-Token.
${examples('agentsecrets agent token issue billing-bot --label laptop --ttl 7d')}`,
    )
    .action((name, opts) =>
      run(async () => (await import('./commands/agent.js')).tokenIssue(ctx, name, opts)),
    );
  token
    .command('list <name>')
    .description('token ids, labels, expiry, last use and status')
    .option('--json', 'print as JSON')
    .action((name, opts) =>
      run(async () => (await import('./commands/agent.js')).tokenList(ctx, name, opts)),
    );
  token
    .command('revoke [token-id]')
    .description("revoke one token, or --all of an agent's tokens (human only)")
    .requiredOption('-a, --agent <name>', 'the agent')
    .option('--all', 'revoke every token of the agent')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets agent token revoke tok_abc --agent billing-bot',
        'agentsecrets agent token revoke --all --agent billing-bot',
      ),
    )
    .action((id, opts) =>
      run(async () => (await import('./commands/agent.js')).tokenRevoke(ctx, id, opts)),
    );
  const agentPolicy = agent
    .command('policy')
    .description("an agent's own rules (bind only its issued tokens)");
  agentPolicy
    .command('set <name>')
    .description('set the rules of an agent (human only); deny wins')
    .option('--allow-secrets <globs>', "secrets it may use, e.g. 'STRIPE_*' ('none' clears)")
    .option('--deny-secrets <globs>', 'secrets it may never use')
    .option('--allow-domains <list>', 'domains it may call, within the allowlist')
    .option('--methods <list>', 'HTTP methods, e.g. GET,POST')
    .option('--rate <rate>', "a rate such as 60/min ('none' clears)")
    .option('--clear', 'remove its rules (the workspace default rules apply again)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nRules bind only callers holding a verified token of this agent, and replace the workspace
default rules for them. A caller that merely claims the name (X-AS-Agent-ID) falls under the
workspace default rules.
${examples("agentsecrets agent policy set billing-bot --allow-secrets 'STRIPE_*' --allow-domains api.stripe.com --methods GET,POST --rate 60/min")}`,
    )
    .action((name, opts) =>
      run(async () => (await import('./commands/agent.js')).agentPolicySet(ctx, name, opts)),
    );
  agentPolicy
    .command('show <name>')
    .description('the rules of an agent')
    .option('--json', 'print as JSON')
    .action((name, opts) =>
      run(async () => (await import('./commands/agent.js')).agentPolicyShow(ctx, name, opts)),
    );

  const filters = (cmd: Command) =>
    cmd
      .option('--agent <name>', 'only this agent name, matched exactly (declared or issued)')
      .option('--identity <level>', 'anonymous, declared or issued')
      .option('--token <token-id>', 'only calls made with this token id')
      .option('--secret <KEY>', 'only entries that used this key')
      .option('--domain <host>', 'only calls to this host')
      .option('--method <method>', 'only this HTTP method')
      .option('--status <status>', 'OK, BLOCKED or ERROR')
      .option('--status-class <class>', '2xx, 3xx, 4xx or 5xx')
      .option('--redacted', 'only calls whose response was scrubbed')
      .option('--project <name>', 'only this project')
      .option('--env <environment>', 'only this environment')
      .option('--since <when>', 'from: 1h, 7d, 2026-11-20 or an ISO time')
      .option('--until <when>', 'to: 1h, 7d, 2026-11-20 or an ISO time');
  const log = program
    .command('log')
    .description('the tamper-evident audit log: list, show, summary, export, watch, verify, prune')
    .addHelpText(
      'after',
      '\n`agentsecrets log` alone runs `log list`; its filters are in `agentsecrets log list --help`.',
    );
  filters(
    log
      .command('list', { isDefault: true })
      .description('entries, newest first (the default: `agentsecrets log`)'),
  )
    .option('--limit <n>', 'how many entries', '50')
    .option('--tail', "follow new entries instead (the Go tool's name for `log watch`)")
    .option('--json', 'print as JSON')
    // `log shwo` reaches this default subcommand as an argument: answer it as a typo.
    .allowExcessArguments(true)
    .addHelpText(
      'after',
      examples(
        'agentsecrets log',
        'agentsecrets log --identity anonymous --since 24h',
        'agentsecrets log --agent billing-bot --status BLOCKED',
        'agentsecrets log --domain api.stripe.com --status-class 4xx --json',
      ),
    )
    .action((opts, cmd: Command) =>
      run(async () => {
        if (cmd.args[0] !== undefined)
          (await import('./suggest.js')).unknownSubcommand(log, cmd.args[0]);
        const commands = await import('./commands/log.js');
        return opts.tail ? commands.logWatch(ctx, opts) : commands.logList(ctx, opts);
      }),
    );
  log
    .command('show <id>')
    .alias('detail')
    .description(
      'everything about one entry: who, what, the policy decision, its place in the chain',
    )
    .option('--json', 'print as JSON')
    .action((id, opts) =>
      run(async () => (await import('./commands/log.js')).logShow(ctx, id, opts)),
    );
  log
    .command('summary')
    .description('totals by status and identity, top agents, secrets, domains and block reasons')
    .option('--since <when>', 'from: 1h, 7d, 2026-11-20 or an ISO time')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets log summary --since 7d'))
    .action((opts) => run(async () => (await import('./commands/log.js')).logSummary(ctx, opts)));
  filters(
    log
      .command('export')
      .description('stream entries as JSONL (exactly as stored) or CSV, with no row limit'),
  )
    .addOption(
      new Option('--format <format>', 'jsonl or csv').choices(['jsonl', 'csv']).default('jsonl'),
    )
    .option('--output <file>', 'write to a file (atomically) instead of stdout')
    .addHelpText(
      'after',
      examples('agentsecrets log export --since 30d --format csv --output audit.csv'),
    )
    .action((opts) => run(async () => (await import('./commands/log.js')).logExport(ctx, opts)));
  filters(
    log
      .command('watch')
      .description('follow new entries from every writer (proxy, MCP server, CLI, env)'),
  )
    .option('--json', 'one JSON entry per line')
    .action((opts) => run(async () => (await import('./commands/log.js')).logWatch(ctx, opts)));
  log
    .command('verify')
    .description(
      "check every entry's hash and link, and the signed checkpoints; exit 0 only when intact",
    )
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nReports the first broken place (segment, line, entry id) for an edited, deleted, inserted or
reordered entry and for a truncated segment. Checkpoint signatures are checked with the audit key
from the vault (via a running proxy, or by unlocking here). Entries after the last checkpoint are
an unsigned tail, not damage.
${examples('agentsecrets log verify', 'agentsecrets log verify --json')}`,
    )
    .action((opts) => run(async () => (await import('./commands/log.js')).logVerify(ctx, opts)));
  log
    .command('prune')
    .description('delete whole segments older than a date, with a signed checkpoint (human only)')
    .requiredOption('--before <when>', 'a date or time: 2026-01-01, 90d')
    .option('--dry-run', 'show what would go')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets log prune --before 90d --dry-run',
        'agentsecrets log prune --before 2026-01-01',
      ),
    )
    .action((opts) => run(async () => (await import('./commands/log.js')).logPrune(ctx, opts)));

  const mcp = program
    .command('mcp')
    .description('the MCP server for Claude Desktop, Cursor, VS Code, Claude Code and others');
  mcp
    .command('serve')
    .description(
      'run the MCP server (stdio by default; http serves Streamable HTTP at /mcp and SSE at /sse)',
    )
    .addOption(
      new Option('--transport <transport>', 'stdio or http')
        .choices(['stdio', 'http'])
        .default('stdio'),
    )
    .option('--port <port>', 'port for --transport http', '8766')
    .option('--host <host>', 'address for --transport http', '127.0.0.1')
    .option(
      '--agent-id <name>',
      "the declared agent name (1-64 of A-Z a-z 0-9 . _ -; default: the client's name, sanitised)",
    )
    .option('--allow-anonymous', 'http: accept sessions without an agent token (warns)')
    .option('--allow-origin <origin...>', 'http: browser origins to accept besides loopback ones')
    .addHelpText(
      'after',
      `\nIdentity: AGENTSECRETS_AGENT_TOKEN (stdio) or Authorization: Bearer agt_… (http) gives an issued
identity; otherwise --agent-id or the client's name is a declared one. Over http a token is
required unless --allow-anonymous.
${examples('agentsecrets mcp serve', 'agentsecrets mcp serve --agent-id claude-desktop', 'agentsecrets mcp serve --transport http --port 8766')}`,
    )
    .action((opts) => run(async () => (await import('./commands/mcp.js')).mcpServe(ctx, opts)));
  mcp
    .command('install')
    .description(
      "add agentsecrets to an MCP client's configuration (merged, backed up, written atomically)",
    )
    .addOption(
      new Option('--client <client>', 'which client')
        .choices(['claude-desktop', 'cursor', 'vscode', 'claude-code', 'windsurf', 'zed', 'all'])
        .default('all'),
    )
    .addOption(
      new Option('--scope <scope>', 'user-wide, or this project folder')
        .choices(['user', 'project'])
        .default('user'),
    )
    .option('--agent <name>', 'write --agent-id NAME (a declared name) into the entry')
    .option(
      '--issue-token',
      'with --agent: issue a token and put it in the client config (human only)',
    )
    .option('--dry-run', 'show what would change, change nothing')
    .option('--uninstall', 'remove the agentsecrets entry instead')
    .option('--yes', 'skip the typed confirmation of --issue-token (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples(
        'agentsecrets mcp install --client claude-desktop --agent claude-desktop',
        'agentsecrets mcp install --client cursor --scope project',
        'agentsecrets mcp install --client all --dry-run',
        'agentsecrets mcp install --client vscode --uninstall',
      ),
    )
    .action((opts) =>
      run(async () => (await import('./commands/mcp-install.js')).mcpInstall(ctx, opts)),
    );
  mcp
    .command('scan')
    .description(
      'find plaintext credentials in MCP client configs (reported by client, server and variable name only)',
    )
    .option(
      '--migrate',
      'move them into the vault and run those servers through `agentsecrets env` (human only)',
    )
    .option('--yes', 'skip the typed confirmation of --migrate (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets mcp scan', 'agentsecrets mcp scan --migrate'))
    .action((opts) =>
      run(async () => (await import('./commands/mcp-install.js')).mcpScan(ctx, opts)),
    );

  program
    .command('signup')
    .description('create an account on a sync server (the password never leaves this machine)')
    .option('--server <url>', 'the sync server, e.g. https://sync.example.com')
    .option('--email <email>', 'your email')
    .option('--invite <code>', "an admin's invite code: pins their key for your first join")
    .option('--json', 'print as JSON')
    .addOption(new Option('--weak-kdf-for-tests').hideHelp())
    .addHelpText(
      'after',
      `\nThe password is read at a hidden prompt, or from AGENTSECRETS_PASSWORD for automation.
${examples('agentsecrets signup --server http://127.0.0.1:8780 --email ada@example.com')}`,
    )
    .action((opts) =>
      run(async () => (await import('./commands/team.js')).signupCommand(ctx, opts)),
    );
  program
    .command('login')
    .description('sign in to a sync server')
    .option('--server <url>', 'the sync server (default: the last one)')
    .option('--email <email>', 'your email (default: the last one)')
    .option('--invite <code>', "an admin's invite code: pins their key for your first join")
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples('agentsecrets login --server https://sync.example.com --email ada@example.com'),
    )
    .action((opts) =>
      run(async () => (await import('./commands/team.js')).loginCommand(ctx, opts)),
    );
  program
    .command('logout')
    .description('end the session on the server and forget it here')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('./commands/team.js')).logoutCommand(ctx, opts)),
    );

  const server = program
    .command('server')
    .description('the self-hosted zero-knowledge sync server');
  server
    .command('start')
    .description('run the sync server in the foreground')
    .option('--port <port>', 'port', '8780')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(
      new Option('--store <store>', 'file (embedded, one process) or postgres')
        .choices(['file', 'postgres'])
        .default('file'),
    )
    .option('--database-url <url>', 'for --store postgres (or AGENTSECRETS_DATABASE_URL)')
    .option(
      '--data <dir>',
      'the store (--store file) and the signing key file (default: <state folder>/server)',
    )
    .option(
      '--trust-proxy <cidrs>',
      'reverse proxies whose X-Forwarded-For names the client (for rate limits), e.g. 10.0.0.0/8',
    )
    .addOption(
      new Option('--signup <policy>', 'open, or invite (the first account is free)')
        .choices(['open', 'invite'])
        .default('invite'),
    )
    .addHelpText(
      'after',
      examples(
        'agentsecrets server start',
        'agentsecrets server start --store postgres --database-url postgres://agentsecrets@127.0.0.1:5432/agentsecrets',
      ),
    )
    .action((opts) =>
      run(async () => (await import('./commands/server.js')).serverStart(ctx, opts)),
    );

  const vault = program.command('vault').description('manage the vault key');
  vault
    .command('rekey')
    .description(
      'change the passphrase, or move the vault key between the keychain and a passphrase',
    )
    .addOption(
      new Option('--to <backend>', 'where the key should live').choices(['keychain', 'passphrase']),
    )
    .option('--new-data-key', 'also re-encrypt every record under a new data key')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nAGENTSECRETS_PASSPHRASE opens the current vault; AGENTSECRETS_NEW_PASSPHRASE supplies the new one
without a prompt. Losing both the keychain entry and the passphrase loses the vault.
${examples('agentsecrets vault rekey', 'agentsecrets vault rekey --to passphrase', 'agentsecrets vault rekey --to keychain --new-data-key')}`,
    )
    .action((opts) => run(async () => (await import('./commands/vault.js')).vaultRekey(ctx, opts)));

  const strict = program
    .command('strict')
    .description('strict mode: stop an agent that runs as your own user (see README)');
  strict
    .command('enable')
    .description('turn strict mode on: passphrase-only vault, sealed rights, passphrase gates')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nAsks at the terminal (/dev/tty): the vault passphrase, or for a keychain vault a
confirmation and a new passphrase. --yes does not exist here on purpose.
${examples('agentsecrets strict enable')}`,
    )
    .action((opts) =>
      run(async () => (await import('./commands/strict.js')).strictEnable(ctx, opts)),
    );
  strict
    .command('disable')
    .description('turn strict mode off (the vault passphrase, typed at the terminal)')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets strict disable'))
    .action((opts) =>
      run(async () => (await import('./commands/strict.js')).strictDisable(ctx, opts)),
    );
  strict
    .command('status')
    .description('is strict mode on, and is the key holder strict and non-dumpable')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      examples('agentsecrets strict status', 'agentsecrets strict status --json'),
    )
    .action((opts) =>
      run(async () => (await import('./commands/strict.js')).strictStatus(ctx, opts)),
    );
  strict
    .command('reseal')
    .description('accept the rights documents as they are now (after a state_tampered)')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets strict reseal'))
    .action((opts) =>
      run(async () => (await import('./commands/strict.js')).strictReseal(ctx, opts)),
    );

  program
    .command('doctor')
    .description('check this machine and state folder for what would let an agent in')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nExit code 0 only when no check fails (warnings do not fail).
${examples('agentsecrets doctor', 'agentsecrets doctor --json')}`,
    )
    .action((opts) => run(async () => (await import('./commands/doctor.js')).doctor(ctx, opts)));

  return { program, exitCode: () => code };
}
