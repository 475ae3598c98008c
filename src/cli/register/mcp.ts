import { type Command, Option } from 'commander';
import type { CommandKit } from './kit.js';

/** Declares mcp (serve, install, scan); handlers load when their command runs. */
export function registerMcpCommands(program: Command, { ctx, run, examples }: CommandKit): void {
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
    .action((opts) => run(async () => (await import('../commands/mcp.js')).mcpServe(ctx, opts)));
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
      run(async () => (await import('../commands/mcp-install.js')).mcpInstall(ctx, opts)),
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
      run(async () => (await import('../commands/mcp-scan.js')).mcpScan(ctx, opts)),
    );
}
