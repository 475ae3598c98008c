import { AgentSecretsError, UsageError } from '../../core/errors.js';
import { TEST_KDF_COST } from '../../crypto/kdf.js';
import { login, logout, signup, storedSecretKey } from '../../sync/account.js';
import type { UnlockedVault } from '../../vault/vault.js';
import * as secretsSync from '../../sync/secrets.js';
import {
  acceptInvite,
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
  type TeamContext,
  teamContext,
  ADMIN_PIN_NAME,
  updateDoc,
} from '../../sync/team.js';
import { parseDocBody } from '../../sync/doc.js';
import {
  checkTypedFingerprint,
  type DocAdmin,
  FINGERPRINT_PREFIX,
  formatInviteCode,
  type InviteCode,
  newInviteSecret,
  parseInviteCode,
} from '../../sync/trust.js';
import type { CliContext } from '../context.js';
import { requireHuman } from '../context.js';
import { withTeam } from '../team-session.js';

/**
 * Accounts, team workspaces and secrets sync (DESIGN §10) at the command line. Everything
 * here unlocks the vault in this process: the account's private keys never leave it.
 */

async function password(ctx: CliContext, options: { confirm: boolean }): Promise<string> {
  const fromEnv = ctx.config.env.AGENTSECRETS_PASSWORD;
  if (fromEnv !== undefined && fromEnv !== '')
    return checkedPassword(fromEnv, 'AGENTSECRETS_PASSWORD');
  if (!ctx.prompt.interactive)
    throw new AgentSecretsError(
      'needs_terminal',
      'a password is needed: run this at a terminal, or set AGENTSECRETS_PASSWORD for automation',
    );
  const first = checkedPassword(await ctx.prompt.hidden('Account password: '), 'the password');
  if (options.confirm && (await ctx.prompt.hidden('Repeat the password: ')) !== first)
    throw new UsageError('the passwords differ; nothing was created');
  return first;
}

/**
 * The account secret key for a login: the one this machine keeps for the email, else
 * AGENTSECRETS_SECRET_KEY, else asked at the terminal (a new device).
 */
async function accountSecretKey(
  ctx: CliContext,
  vault: UnlockedVault,
  address: string,
): Promise<string> {
  const stored = await storedSecretKey(vault, address);
  if (stored !== undefined) return stored;
  const fromEnv = ctx.config.env.AGENTSECRETS_SECRET_KEY;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (!ctx.prompt.interactive)
    throw new AgentSecretsError(
      'needs_terminal',
      'this device has no account secret key: run this at a terminal, or set AGENTSECRETS_SECRET_KEY (it is in the emergency kit printed at sign-up)',
    );
  return ctx.prompt.hidden('Account secret key (from your emergency kit): ');
}

/** The account password minimum, on every way a password comes in (F5). */
export const MIN_PASSWORD_LENGTH = 10;

function checkedPassword(text: string, what: string): string {
  if ([...text].length < MIN_PASSWORD_LENGTH)
    throw new UsageError(
      `${what} is too short: use a password of at least ${MIN_PASSWORD_LENGTH} characters`,
    );
  return text;
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
  options: {
    server?: string;
    email?: string;
    json?: boolean;
    weakKdfForTests?: boolean;
    invite?: string;
  },
): Promise<void> {
  if (options.invite !== undefined) parseInviteCode(options.invite);
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
    const team = await teamContext(services, vault, session);
    const fingerprint = ownFingerprint(team);
    const code = await savePin(team, options.invite);
    if (options.json)
      return ctx.out.json({
        email: session.account.email,
        user_id: session.account.userId,
        server: url,
        fingerprint,
        secret_key: session.secretKey,
        invite_workspace: code?.workspaceId ?? null,
      });
    ctx.out.line(`signed up as ${session.account.email} on ${url}`);
    ctx.out.line('');
    ctx.out.line('EMERGENCY KIT (shown once: write it down and keep it apart from this machine)');
    ctx.out.line(`  server:      ${url}`);
    ctx.out.line(`  email:       ${session.account.email}`);
    ctx.out.line(`  secret key:  ${session.secretKey}`);
    ctx.out.line(
      '  Signing in on a new device needs your password and this secret key; nobody can recover either.',
    );
    ctx.out.line('');
    ctx.out.line(
      `your key fingerprint: ${fingerprint}; read its first ${FINGERPRINT_PREFIX} characters to the admin who confirms you (also in \`agentsecrets status\`)`,
    );
    if (code !== null)
      ctx.out.line(
        `once confirmed, join with: agentsecrets workspace switch ${code.workspaceId} (the inviting admin's key is pinned)`,
      );
  } finally {
    vault.close();
  }
}

/** `login`. */
export async function loginCommand(
  ctx: CliContext,
  options: { server?: string; email?: string; json?: boolean; invite?: string },
): Promise<void> {
  if (options.invite !== undefined) parseInviteCode(options.invite);
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
    const secretKey = await accountSecretKey(ctx, vault, address);
    const session = await login(services, vault, {
      server: url,
      email: address,
      password: secret,
      secretKey,
    });
    const team = await teamContext(services, vault, session);
    await savePin(team, options.invite);
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
  code?: InviteCode,
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
    const { workspace, newlyTrusted } = await joinTeamWorkspace(team, remote.id, {
      ...(code !== undefined ? { pin: code.fingerprint } : {}),
      vouch: (admin) => vouchAtTerminal(ctx, admin),
    });
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
      ctx.out.line(`  admin ${m.email}, key fingerprint ${m.fingerprint}`);
    if (projects > 0)
      ctx.out.line(
        `  ${projects} project(s) from the server; select one with agentsecrets project use NAME`,
      );
  });
}

/**
 * The human check of a first join without an invite code (F3): the signing admin's
 * fingerprint is shown, and the human types its first characters after comparing it with
 * the admin out of band. No terminal, no join.
 */
async function vouchAtTerminal(ctx: CliContext, admin: DocAdmin): Promise<void> {
  if (!ctx.prompt.interactive)
    throw new AgentSecretsError(
      'needs_terminal',
      `joining needs the invite code from the admin (\`agentsecrets workspace join CODE\`), or a human at a terminal to check the admin's key fingerprint`,
    );
  ctx.out.notice(
    `the workspace document is signed by ${admin.email}, key fingerprint ${admin.fingerprint}`,
  );
  const typed = await ctx.prompt.text(
    `Compare it with ${admin.email} (not through the server), then type its first ${FINGERPRINT_PREFIX} characters: `,
  );
  checkTypedFingerprint(typed, admin.fingerprint, admin.email);
}

/** `workspace join CODE`: pins the inviting admin's key, and joins once confirmed. */
export async function workspaceJoin(
  ctx: CliContext,
  text: string,
  options: { json?: boolean },
): Promise<void> {
  const code = parseInviteCode(text);
  await withTeam(ctx, (team) => savePin(team, text));
  await workspaceSwitch(ctx, code.workspaceId, options, code);
}

/** Saves the admin key an invite code pins, for the first join (`signup|login --invite`). */
async function savePin(team: TeamContext, text: string | undefined): Promise<InviteCode | null> {
  if (text === undefined) return null;
  const code = parseInviteCode(text);
  await team.vault.setReserved(code.workspaceId, ADMIN_PIN_NAME, code.fingerprint);
  // The code's one-time secret accepts the invitation (the server burns it).
  if (code.secret !== undefined) {
    try {
      await acceptInvite(team, code.workspaceId, code.secret);
    } catch (err) {
      if (err instanceof AgentSecretsError && err.code === 'forbidden')
        throw new AgentSecretsError(
          'forbidden',
          `${err.message}. You are signed in; once you have the right code, join with \`agentsecrets workspace join CODE\``,
        );
      throw err;
    }
  }
  return code;
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

/** `workspace invite EMAIL`: also prints the invite code that pins this admin's key. */
export async function workspaceInvite(
  ctx: CliContext,
  address: string,
  options: { json?: boolean },
): Promise<void> {
  await withTeam(ctx, async (team) => {
    const workspace = await ctx.services().workspaces.currentWorkspace();
    // A one-time secret in the code; the server keeps only its hash and burns it on use.
    const { secret, hash } = newInviteSecret();
    const result = await invite(team, workspace, address, hash);
    const code = formatInviteCode({
      workspaceId: workspace.id,
      fingerprint: ownFingerprint(team),
      secret,
    });
    if (options.json)
      return ctx.out.json({
        email: address,
        status: result.status,
        invite_code: code,
        fingerprint: result.user?.fingerprint ?? null,
      });
    if (result.status === 'already_member') return ctx.out.line(`${address} is already a member`);
    ctx.out.line(`invite code for ${address}: ${code}`);
    ctx.out.line(
      '  send it to them yourself (not through the server); they join with: agentsecrets workspace join CODE (or signup --invite CODE)',
    );
    ctx.out.line(
      `then confirm them with the first ${FINGERPRINT_PREFIX} characters of the fingerprint they read out: agentsecrets workspace confirm ${address} --fingerprint XXXXXXXX`,
    );
  });
}

/**
 * `workspace confirm EMAIL` (human): seals the workspace key to the member's keys, once the
 * admin has typed the first characters of the fingerprint the invitee reads on their own
 * machine (`--fingerprint`, or at the prompt). `--yes` does not skip this.
 */
export async function workspaceConfirm(
  ctx: CliContext,
  address: string,
  options: { yes?: boolean; json?: boolean; fingerprint?: string },
): Promise<void> {
  await withTeam(ctx, async (team) => {
    const workspace = await ctx.services().workspaces.currentWorkspace();
    const member = await pendingMember(team, workspace, address);
    if (!ctx.prompt.interactive)
      throw new AgentSecretsError(
        'needs_terminal',
        `giving ${member.email} the key of workspace ${workspace.name} needs a human at an interactive terminal: run it yourself in a shell`,
      );
    // The server's fingerprint is not shown first: the admin must type the invitee's own.
    const typed =
      options.fingerprint ??
      (await ctx.prompt.text(
        `Type the first ${FINGERPRINT_PREFIX} characters of ${member.email}'s key fingerprint, as they read it from \`agentsecrets status\` on their machine: `,
      ));
    await confirm(team, workspace, member, typed);
    if (options.json)
      return ctx.out.json({
        email: member.email,
        fingerprint: member.fingerprint,
        status: 'confirmed',
      });
    ctx.out.line(
      `confirmed ${member.email} (key fingerprint ${member.fingerprint}); they can now \`agentsecrets workspace switch ${workspace.name}\` and pull`,
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
          {
            header: 'STATE',
            value: (d) => (d.remote_deleted === true ? 'deleted_remote' : d.state),
          },
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
      for (const r of result.refused ?? []) ctx.out.warn(`${r.key} was not pulled: ${r.reason}`);
    }
    return result.conflicts.length > 0 || (result.refused ?? []).length > 0 ? 1 : 0;
  });
}

/** Parses `90s`, `30m`, `24h`, `7d` or plain seconds into seconds. */
export function parseStaleness(text: string): number {
  const match = /^(\d+)\s*(s|m|h|d)?$/.exec(text.trim());
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 } as const;
  const seconds = match === null ? NaN : Number(match[1]) * unit[(match[2] ?? 's') as 's'];
  if (!Number.isInteger(seconds) || seconds < 60 || seconds > 366 * 86_400)
    throw new UsageError(
      `max staleness must be between 1 minute and 366 days, such as 12h, 30m or 7d (got '${text}')`,
    );
  return seconds;
}

function formatStaleness(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400}d`;
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/**
 * `workspace staleness [DURATION]`: shows, or (an admin, human only) changes, how long members'
 * agent tokens keep working without a newer admin-signed document or heartbeat. The value is
 * part of the signed workspace document, so the server cannot change it.
 */
export async function workspaceStaleness(
  ctx: CliContext,
  value: string | undefined,
  options: { yes?: boolean; json?: boolean },
): Promise<void> {
  const workspace = await ctx.services().workspaces.currentWorkspace();
  if (workspace.kind !== 'team' || workspace.team === undefined)
    throw new UsageError(
      `workspace '${workspace.name}' is not a team workspace: max staleness applies to team workspaces only`,
    );
  const current = parseDocBody(workspace.team.doc.body).max_staleness_s;
  if (value === undefined) {
    if (options.json) return ctx.out.json({ max_staleness_s: current });
    ctx.out.line(
      `max staleness of ${workspace.name}: ${formatStaleness(current)} (agent tokens fail closed when no admin has signed a document or heartbeat for that long)`,
    );
    return;
  }
  const seconds = parseStaleness(value);
  await requireHuman(ctx, {
    action: `Set the max staleness of workspace ${workspace.name} to ${formatStaleness(seconds)} (from ${formatStaleness(current)})`,
    confirm: workspace.name,
    yes: options.yes,
  });
  await withTeam(ctx, async (team) => {
    await updateDoc(team, workspace, (doc) => {
      doc.max_staleness_s = seconds;
    });
  });
  if (options.json) return ctx.out.json({ max_staleness_s: seconds, previous_s: current });
  ctx.out.line(
    `max staleness of ${workspace.name} is now ${formatStaleness(seconds)} (signed into the workspace document; members pick it up on their next sync)`,
  );
  if (seconds > current)
    ctx.out.notice(
      'a longer window also lets a server that withholds a revocation do so for longer',
    );
}
