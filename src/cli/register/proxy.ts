import { type Command } from 'commander';
import type { CommandKit } from './kit.js';

/** Declares proxy; handlers load when their command runs. */
export function registerProxyCommands(program: Command, { ctx, run, examples }: CommandKit): void {
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
    .action((opts) =>
      run(async () => (await import('../commands/proxy.js')).proxyStart(ctx, opts)),
    );
  proxy
    .command('status')
    .description('is the proxy running, where, and does it require a session token')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('../commands/proxy.js')).proxyStatus(ctx, opts)),
    );
  proxy
    .command('stop')
    .description('stop the proxy (SIGTERM, then SIGKILL after 5 s)')
    .option('--json', 'print as JSON')
    .action((opts) => run(async () => (await import('../commands/proxy.js')).proxyStop(ctx, opts)));
  proxy
    .command('sync')
    .description("pull the team workspaces' allowlist, policy, agents and revocations now")
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets proxy sync'))
    .action((opts) => run(async () => (await import('../commands/proxy.js')).proxySync(ctx, opts)));
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
    .action((opts) => run(async () => (await import('../commands/proxy.js')).proxyLogs(ctx, opts)));
}
