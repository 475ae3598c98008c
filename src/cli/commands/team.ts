import { AgentSecretsError, UsageError } from '../../core/errors.js';
import { TEST_KDF_COST } from '../../crypto/kdf.js';
import { login, logout, signup } from '../../sync/account.js';
import * as secretsSync from '../../sync/secrets.js';
import {
  confirm,
  createTeamWorkspace,
  invite,
  joinTeamWorkspace,
  ownFingerprint,
  pendingMember,
  remoteWorkspace,
  remoteWorkspaces,
  removeMember,
  setRole,
  teamContext,
} from '../../sync/team.js';
import type { CliContext } from '../context.js';
import { requireHuman } from '../context.js';
import { withTeam } from '../team-session.js';

/**
 * Accounts, team workspaces and secrets sync (DESIGN §10) at the command line. Everything
 * here unlocks the vault in this process: the account's private keys never leave it.
 */

async function password(ctx: CliContext, options: { confirm: boolean }): Promise<string> {
  const fromEnv = ctx.config.env.AGENTSECRETS_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!ctx.prompt.interactive)
    throw new AgentSecretsError(
      'needs_terminal',
      'a password is needed: run this at a terminal, or set AGENTSECRETS_PASSWORD for automation',
    );
  const first = await ctx.prompt.hidden('Account password: ');
  if (first.length < 10) throw new UsageError('use a password of at least 10 characters');
  if (options.confirm && (await ctx.prompt.hidden('Repeat the password: ')) !== first)
    throw new UsageError('the passwords differ; nothing was created');
  return first;
}

async function email(ctx: CliContext, given: string | undefined): Promise<string> {
  if (given !== undefined && given !== '') return given;
  if (!ctx.prompt.interactive) throw new UsageError('give --email (no terminal to ask at)');
  return ctx.prompt.text('Email: ');
}

function server(ctx: CliContext, given: string | undefined, configured: string | null): string {
  const url = given ?? ctx.config.env.AGENTSECRETS_SERVER ?? configured;
  if (url === undefined || url === null || url === '')
    throw new UsageError('give --server URL (e.g. --server https://sync.example.com)');
  return url;
}

/** `signup`. */
export async function signupCommand(
  ctx: CliContext,
  options: { server?: string; email?: string; json?: boolean; weakKdfForTests?: boolean },
): Promise<void> {
  const services = ctx.services();
  const config = await services.workspaces.readConfig();
  const url = server(ctx, options.server, config?.server_url ?? null);
  const address = await email(ctx, options.email);
  const secret = await password(ctx, { confirm: true });
  const vault = await services.vault.unlock();
  try {
    ctx.out.progress('deriving keys from the password (Argon2id)…');
    const session = await signup(services, vault, {
      server: url,
      email: address,
      password: secret,
      ...(options.weakKdfForTests ? { kdfCost: TEST_KDF_COST } : {}),
    });
    const fingerprint = ownFingerprint(await teamContext(services, vault, session));
    if (options.json)
      return ctx.out.json({
        email: session.account.email,
        user_id: session.account.userId,
        server: url,
        fingerprint,
      });
    ctx.out.line(`signed up as ${session.account.email} on ${url}`);
    ctx.out.line(`your key fingerprint: ${fingerprint} (admins compare it when they confirm you)`);
  } finally {
    vault.close();
  }
}

/** `login`. */
export async function loginCommand(
  ctx: CliContext,
  options: { server?: string; email?: string; json?: boolean },
): Promise<void> {
  const services = ctx.services();
  const config = await services.workspaces.readConfig();
  const url = server(
    ctx,
    options.server,
    config?.account?.server_url ?? config?.server_url ?? null,
  );
  const address = await email(ctx, options.email ?? config?.account?.email);
  const secret = await password(ctx, { confirm: false });
  const vault = await services.vault.unlock();
  try {
    ctx.out.progress('deriving keys from the password (Argon2id)…');
    const session = await login(services, vault, { server: url, email: address, password: secret });
    const team = await teamContext(services, vault, session);
    const workspaces = await remoteWorkspaces(team);
    if (options.json)
      return ctx.out.json({
        email: session.account.email,
        user_id: session.account.userId,
        server: url,
        workspaces,
      });
    ctx.out.line(`signed in as ${session.account.email} on ${url}`);
    for (const w of workspaces)
      ctx.out.line(
        `  workspace ${w.name} (${w.role}${w.status === 'pending' ? ', waiting for an admin to confirm you' : ''})`,
      );
    if (workspaces.some((w) => w.status === 'active'))
      ctx.out.line('use one with: agentsecrets workspace switch NAME');
  } finally {
    vault.close();
  }
}

/** `logout`. */
export async function logoutCommand(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const services = ctx.services();
  const vault = await services.vault.unlock();
  try {
    const result = await logout(services, vault);
    if (options.json) return ctx.out.json(result);
    if (result.email === null) return ctx.out.line('not signed in');
    ctx.out.line(
      `signed out ${result.email}${result.revoked ? '' : ' here (the server could not be reached to end the session)'}`,
    );
  } finally {
    vault.close();
  }
}

/** `workspace create NAME`: a team workspace on the signed-in server. */
export async function workspaceCreate(
  ctx: CliContext,
  name: string,
  options: { json?: boolean },
): Promise<void> {
  await withTeam(ctx, async (team) => {
    const workspace = await createTeamWorkspace(team, name);
    if (options.json)
      return ctx.out.json({ id: workspace.id, name: workspace.name, role: 'admin' });
    ctx.out.line(`created team workspace ${name} and selected it; you are its admin`);
    ctx.out.line(
      'next: agentsecrets project create NAME, then agentsecrets workspace invite EMAIL',
    );
  });
}

/** `workspace list`: local workspaces and, when signed in, the server's. */
export async function workspaceList(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  const services = ctx.services();
  const config = await services.workspaces.readConfig();
  const local = (await services.workspaces.readWorkspaces()).workspaces;
  let remote: Awaited<ReturnType<typeof remoteWorkspaces>> = [];
  let remoteError: string | null = null;
  if (config?.account) {
    try {
      remote = await withTeam(ctx, remoteWorkspaces);
    } catch (err) {
      remoteError =
        err instanceof AgentSecretsError ? err.message : 'the server could not be asked';
    }
  }
  const rows = [
    ...local.map((w) => ({
      name: w.name,
      id: w.id,
      kind: w.kind,
      role: w.team?.role ?? 'owner',
      status: 'here',
      selected: w.id === config?.workspace_id,
    })),
    ...remote
      .filter((r) => !local.some((w) => w.id === r.id))
      .map((r) => ({
        name: r.name,
        id: r.id,
        kind: 'team' as const,
        role: r.role,
        status: r.status === 'active' ? 'not joined here' : 'waiting for confirmation',
        selected: false,
      })),
  ];
  if (options.json) return ctx.out.json({ workspaces: rows, remote_error: remoteError });
  ctx.out.table(rows, [
    { header: '', value: (r) => (r.selected ? '*' : '') },
    { header: 'NAME', value: (r) => r.name },
    { header: 'KIND', value: (r) => r.kind },
    { header: 'ROLE', value: (r) => r.role },
    { header: 'STATUS', value: (r) => r.status },
  ]);
  if (remoteError !== null) ctx.out.warn(remoteError);
}

/** `workspace switch NAME`: selects a workspace, joining a team one on first use. */
export async function workspaceSwitch(
  ctx: CliContext,
  name: string,
  options: { json?: boolean },
): Promise<void> {
  const services = ctx.services();
  const local = (await services.workspaces.readWorkspaces()).workspaces.find(
    (w) => w.name === name || w.id === name,
  );
  if (local !== undefined && local.kind === 'local') {
    await services.workspaces.updateConfig((c) => ({
      ...c,
      workspace_id: local.id,
      project_id: null,
    }));
    if (options.json) return ctx.out.json({ workspace: local.name, kind: 'local' });
    return ctx.out.line(`switched to workspace ${local.name}`);
  }
  await withTeam(ctx, async (team) => {
    const remote = (await remoteWorkspaces(team)).find((w) => w.name === name || w.id === name);
    if (remote === undefined)
      throw new AgentSecretsError(
        'workspace_not_found',
        `no workspace '${name}' here or on the server; see \`agentsecrets workspace list\``,
      );
    if (remote.status !== 'active')
      throw new AgentSecretsError(
        'forbidden',
        `an admin of '${name}' has not confirmed you yet: ask them to run \`agentsecrets workspace confirm ${team.session.account.email}\``,
      );
    const { workspace, newlyTrusted } = await joinTeamWorkspace(team, remote.id);
    const projects = await secretsSync.pullProjects(team, workspace);
    if (options.json)
      return ctx.out.json({
        workspace: workspace.name,
        kind: 'team',
        role: workspace.team!.role,
        projects_added: projects,
        admins_trusted: newlyTrusted.map((m) => ({ email: m.email, fingerprint: m.fingerprint })),
      });
    ctx.out.line(`switched to team workspace ${workspace.name} (${workspace.team!.role})`);
    for (const m of newlyTrusted)
      ctx.out.line(
        `  trusting admin ${m.email}, key fingerprint ${m.fingerprint}: check it with them`,
      );
    if (projects > 0)
      ctx.out.line(
        `  ${projects} project(s) from the server; select one with agentsecrets project use NAME`,
      );
  });
}

/** `workspace members`. */
export async function workspaceMembers(
  ctx: CliContext,
  options: { json?: boolean },
): Promise<void> {
  await withTeam(ctx, async (team) => {
    const workspace = await ctx.services().workspaces.currentWorkspace();
    const remote = await remoteWorkspace(team, workspace.id);
    const pinned = workspace.team?.pinned ?? {};
    const rows = remote.members.map((m) => ({
      email: m.email,
      role: m.role,
      status: m.status,
      fingerprint: m.fingerprint,
      trusted:
        pinned[m.id] === undefined ? 'not yet' : pinned[m.id] === m.fingerprint ? 'yes' : 'CHANGED',
    }));
    if (options.json) return ctx.out.json({ members: rows, invites: remote.invites });
    ctx.out.table(rows, [
      { header: 'EMAIL', value: (r) => r.email },
      { header: 'ROLE', value: (r) => r.role },
      { header: 'STATUS', value: (r) => r.status },
      { header: 'FINGERPRINT', value: (r) => r.fingerprint },
      { header: 'TRUSTED', value: (r) => r.trusted },
    ]);
    for (const i of remote.invites) ctx.out.line(`invited: ${i.email} (${i.role}), no account yet`);
    if (rows.some((r) => r.trusted === 'CHANGED'))
      ctx.out.warn(
        "a member's keys differ from the ones you trusted: check with them before confirming or rotating",
      );
  });
}

/** `workspace invite EMAIL`. */
export async function workspaceInvite(
  ctx: CliContext,
  address: string,
  options: { json?: boolean },
): Promise<void> {
  await withTeam(ctx, async (team) => {
    const workspace = await ctx.services().workspaces.currentWorkspace();
    const result = await invite(team, workspace, address);
    if (options.json)
      return ctx.out.json({
        email: address,
        status: result.status,
        fingerprint: result.user?.fingerprint ?? null,
      });
    if (result.status === 'already_member') return ctx.out.line(`${address} is already a member`);
    if (result.status === 'invited')
      return ctx.out.line(
        `invited ${address}; once they sign up, confirm them with: agentsecrets workspace confirm ${address}`,
      );
    ctx.out.line(`${address} has an account, key fingerprint ${result.user!.fingerprint}`);
    ctx.out.line(`check it with them, then: agentsecrets workspace confirm ${address}`);
  });
}

/** `workspace confirm EMAIL` (human): seals the workspace key to the member's key. */
export async function workspaceConfirm(
  ctx: CliContext,
  address: string,
  options: { yes?: boolean; json?: boolean },
): Promise<void> {
  await withTeam(ctx, async (team) => {
    const workspace = await ctx.services().workspaces.currentWorkspace();
    const member = await pendingMember(team, workspace, address);
    ctx.out.notice(`${member.email}: key fingerprint ${member.fingerprint}`);
    await requireHuman(ctx, {
      action: `Give ${member.email} (fingerprint ${member.fingerprint}) the key of workspace ${workspace.name}; compare the fingerprint with them first`,
      confirm: member.email,
      yes: options.yes,
    });
    await confirm(team, workspace, member);
    if (options.json)
      return ctx.out.json({
        email: member.email,
        fingerprint: member.fingerprint,
        status: 'confirmed',
      });
    ctx.out.line(
      `confirmed ${member.email}; they can now \`agentsecrets workspace switch ${workspace.name}\` and pull`,
    );
  });
}

/** `workspace remove EMAIL` (human): removes a member and rotates the workspace key. */
export async function workspaceRemove(
  ctx: CliContext,
  address: string,
  options: { yes?: boolean; json?: boolean },
): Promise<void> {
  await withTeam(ctx, async (team) => {
    const workspace = await ctx.services().workspaces.currentWorkspace();
    await requireHuman(ctx, {
      action: `Remove ${address} from workspace ${workspace.name} and re-encrypt every secret under a new key`,
      confirm: address,
      yes: options.yes,
    });
    const result = await removeMember(team, workspace, address, {
      onProgress: (t) => ctx.out.progress(t),
    });
    if (options.json)
      return ctx.out.json({
        removed: address,
        epoch: result.epoch,
        records: result.records,
        token_key_replaced: result.tokenKeyReplaced,
      });
    ctx.out.line(
      `removed ${address}; ${result.records} secret(s) re-encrypted under key epoch ${result.epoch}`,
    );
    if (result.tokenKeyReplaced) tokenKeyNotice(ctx);
    ctx.out.notice(
      'values they already pulled stay with them: rotate the credentials themselves at their providers',
    );
  });
}

/** `workspace promote|demote EMAIL` (human). */
export async function workspaceRole(
  ctx: CliContext,
  address: string,
  role: 'admin' | 'member',
  options: { yes?: boolean; json?: boolean },
): Promise<void> {
  await withTeam(ctx, async (team) => {
    const workspace = await ctx.services().workspaces.currentWorkspace();
    await requireHuman(ctx, {
      action: `Make ${address} ${role === 'admin' ? 'an admin' : 'a member (not admin)'} of workspace ${workspace.name}`,
      confirm: address,
      yes: options.yes,
    });
    const member = await setRole(team, workspace, address, role);
    // A demoted admin held the token-signing key: replace it (a rotation) so they cannot mint.
    const rotated =
      role === 'member'
        ? await removeMember(team, await ctx.services().workspaces.currentWorkspace(), null, {
            newTokenKey: true,
            onProgress: (t) => ctx.out.progress(t),
          })
        : undefined;
    if (options.json)
      return ctx.out.json({ email: member.email, role, token_key_replaced: rotated !== undefined });
    ctx.out.line(`${member.email} is now ${role === 'admin' ? 'an admin' : 'a member'}`);
    if (rotated !== undefined) tokenKeyNotice(ctx);
  });
}

function tokenKeyNotice(ctx: CliContext): void {
  ctx.out.notice(
    'the workspace token-signing key was replaced (a former admin held it): agent tokens issued before now no longer verify; issue new ones with `agentsecrets agent token issue NAME`',
  );
}

/** `secrets push|pull|diff`. */
export async function secretsSyncCommand(
  ctx: CliContext,
  action: 'push' | 'pull' | 'diff',
  options: { force?: boolean; json?: boolean; project?: string; env?: string },
): Promise<number> {
  return withTeam(ctx, async (team) => {
    const selection = await ctx
      .services()
      .workspaces.resolve({ project: options.project, environment: options.env });
    const target = {
      workspace: selection.workspace,
      project: selection.project,
      environment: selection.environment,
    };
    const progress = (text: string) => ctx.out.progress(text);
    if (action === 'diff') {
      const result = await secretsSync.diff(team, target);
      if (options.json) {
        ctx.out.json(result);
        return 0;
      }
      ctx.out.table(
        result.keys,
        [
          { header: 'KEY', value: (d) => d.key },
          { header: 'STATE', value: (d) => d.state },
          { header: 'NEWER', value: (d) => d.newer ?? '' },
          {
            header: 'LOCAL',
            value: (d) => (d.local_version === null ? '-' : `v${d.local_version}`),
          },
          {
            header: 'REMOTE',
            value: (d) => (d.remote_version === null ? '-' : `v${d.remote_version}`),
          },
        ],
        'no secrets on either side',
      );
      return 0;
    }
    if (action === 'push') {
      const result = await secretsSync.push(team, target, {
        force: options.force === true,
        onProgress: progress,
      });
      if (options.json) ctx.out.json(result);
      else
        ctx.out.line(
          result.pushed.length === 0
            ? 'nothing to push'
            : `pushed ${result.pushed.length} secret(s): ${result.pushed.join(', ')}`,
        );
      return 0;
    }
    const result = await secretsSync.pull(team, target, {
      force: options.force === true,
      onProgress: progress,
    });
    if (options.json) ctx.out.json(result);
    else {
      ctx.out.line(result.message);
      for (const key of result.conflicts)
        ctx.out.warn(`${key} changed here and on the server: kept the local value`);
    }
    return result.conflicts.length > 0 ? 1 : 0;
  });
}
