import { type Command } from 'commander';
import type { CommandKit } from './kit.js';

/** Declares workspace (allowlist, passthrough, policy, team membership); handlers load when their command runs. */
export function registerWorkspaceCommands(
  program: Command,
  { ctx, run, examples }: CommandKit,
): void {
  const workspace = program
    .command('workspace')
    .description('workspaces: team workspaces and members, the allowlist and policy');
  workspace
    .command('create <name>')
    .description('create a team workspace on the sync server (you become its admin)')
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets workspace create acme'))
    .action((name, opts) =>
      run(async () => (await import('../commands/team.js')).workspaceCreate(ctx, name, opts)),
    );
  workspace
    .command('list')
    .description('workspaces here and, when signed in, on the server')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('../commands/team.js')).workspaceList(ctx, opts)),
    );
  workspace
    .command('switch <name>')
    .description(
      'select a workspace; a team one is joined on first use (invite code pinned, or you check its admin fingerprint)',
    )
    .option('--json', 'print as JSON')
    .action((name, opts) =>
      run(async () => {
        const result = await (await import('../commands/team.js')).workspaceSwitch(ctx, name, opts);
        await (await import('../selection-hint.js')).warnAfterWorkspaceSwitch(ctx);
        return result;
      }),
    );
  workspace
    .command('join <code>')
    .description(
      "join a team workspace with an admin's invite code (presents its one-time secret, pins that admin's key)",
    )
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets workspace join asinv2.ws_abc12345.3F2A….9c1e…'))
    .action((code, opts) =>
      run(async () => (await import('../commands/team.js')).workspaceJoin(ctx, code, opts)),
    );
  workspace
    .command('members')
    .description('members with their role, status and key fingerprint')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('../commands/team.js')).workspaceMembers(ctx, opts)),
    );
  workspace
    .command('invite <email>')
    .description(
      'invite someone as a member (admins): prints a code with a one-time secret; they join with it, then you confirm them',
    )
    .option('--json', 'print as JSON')
    .addHelpText('after', examples('agentsecrets workspace invite bob@example.com'))
    .action((email, opts) =>
      run(async () => (await import('../commands/team.js')).workspaceInvite(ctx, email, opts)),
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
      run(async () => (await import('../commands/team.js')).workspaceConfirm(ctx, email, opts)),
    );
  workspace
    .command('remove <email>')
    .description('remove a member and rotate the workspace key (human only)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .action((email, opts) =>
      run(async () => (await import('../commands/team.js')).workspaceRemove(ctx, email, opts)),
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
        run(async () =>
          (await import('../commands/team.js')).workspaceRole(ctx, email, role, opts),
        ),
      );
  }
  workspace
    .command('staleness [duration]')
    .description(
      "show or set how long agent tokens keep working without an admin's signed word (team; admins, human only)",
    )
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `\nMembers' key holders fail closed (sync_stale) when the newest document or heartbeat an
admin signed is older than this (default 24h). The value is signed into the workspace
document. At least one admin machine must run a key holder within every window.
${examples('agentsecrets workspace staleness', 'agentsecrets workspace staleness 12h')}`,
    )
    .action((duration, opts) =>
      run(async () =>
        (await import('../commands/team.js')).workspaceStaleness(ctx, duration, opts),
      ),
    );
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
      run(async () => (await import('../commands/workspace.js')).allowlistAdd(ctx, domains, opts)),
    );
  allowlist
    .command('remove <domain>')
    .description('stop allowing a domain (human only)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .action((domain, opts) =>
      run(async () =>
        (await import('../commands/workspace.js')).allowlistRemove(ctx, domain, opts),
      ),
    );
  allowlist
    .command('list')
    .description('the allowed domains')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('../commands/workspace.js')).allowlistList(ctx, opts)),
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
      run(async () =>
        (await import('../commands/passthrough.js')).passthroughAdd(ctx, hosts, opts),
      ),
    );
  passthrough
    .command('remove <host>')
    .description('stop tunnelling a host (human only)')
    .option('--yes', 'skip the typed confirmation (a terminal is still required)')
    .option('--json', 'print as JSON')
    .action((host, opts) =>
      run(async () =>
        (await import('../commands/passthrough.js')).passthroughRemove(ctx, host, opts),
      ),
    );
  passthrough
    .command('list')
    .description('the passthrough hosts')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('../commands/passthrough.js')).passthroughList(ctx, opts)),
    );
  allowlist
    .command('log')
    .description('who changed the allowlist, and when')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('../commands/workspace.js')).allowlistLog(ctx, opts)),
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
      run(async () => (await import('../commands/workspace.js')).policySet(ctx, opts)),
    );
  policy
    .command('show')
    .description('the workspace policy')
    .option('--json', 'print as JSON')
    .action((opts) =>
      run(async () => (await import('../commands/workspace.js')).policyShow(ctx, opts)),
    );
}
