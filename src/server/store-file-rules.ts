import { AgentSecretsError } from '../core/errors.js';
import {
  judgeDeletions,
  judgePush,
  recordFromChange,
  refreshVerdict,
  sameRecordSet,
} from './store-rules.js';
import { type AcceptOutcome, sameHash } from './store.js';
import type {
  ManifestRow,
  PushDeletionRow,
  DocRow,
  GrantRow,
  InviteRow,
  MemberRow,
  ProjectRow,
  PushChangeRow,
  PushOutcome,
  RefreshOutcome,
  RefreshRow,
  RotateInput,
  ServerKeys,
  SignupOutcome,
  UserRow,
  WorkspaceRow,
} from './store.js';
import type { Draft } from './store-file-tables.js';
import { type Tables, scopeKey, find, rowsOf, allRows, allRecordsOf } from './store-file-tables.js';

/** The file store's rules: each change, applied to a draft, in one place. */
// --- the changes, applied to a draft ----------------------------------------------------

export async function ensureServerKeys(
  d: Draft,
  create: () => Promise<ServerKeys>,
): Promise<ServerKeys> {
  const existing = find(d.tables, 'serverKeys', '', '');
  if (existing !== undefined) return structuredClone(existing);
  const keys = await create();
  d.put('serverKeys', structuredClone(keys));
  return keys;
}

export function createUser(d: Draft, user: UserRow, requireInvite: boolean): SignupOutcome {
  const t = d.tables;
  const email = user.email.toLowerCase();
  const invites = allRows(t, 'invites').filter((i) => i.email.toLowerCase() === email);
  const firstUser = t.users.size === 0;
  if (requireInvite && !firstUser && invites.length === 0) return 'invite_required';
  if (find(t, 'emails', '', email) !== undefined) return 'email_taken';
  if (find(t, 'users', '', user.id) !== undefined) {
    throw new AgentSecretsError('internal_error', 'a user with this id exists already');
  }
  const row = structuredClone(user);
  d.put('users', row);
  d.put('emails', row);
  for (const invite of invites) {
    if (find(t, 'members', invite.workspace_id, user.id) === undefined) {
      d.put('members', pendingMember(invite, user.id, user.created_at));
    }
    d.remove('invites', invite);
  }
  return 'created';
}

export function pendingMember(invite: InviteRow, userId: string, at: string): MemberRow {
  return {
    workspace_id: invite.workspace_id,
    user_id: userId,
    role: invite.role,
    status: 'pending',
    added_at: at,
    confirmed_by: null,
    ...(typeof invite.secret_hash === 'string' ? { invite_hash: invite.secret_hash } : {}),
  };
}

export function acceptInvite(
  d: Draft,
  workspaceId: string,
  userId: string,
  secretHash: string,
): AcceptOutcome {
  const member = find(d.tables, 'members', workspaceId, userId);
  if (member === undefined) return 'not_invited';
  if (member.invite_hash === undefined || member.invite_hash === null) return 'used';
  if (!sameHash(member.invite_hash, secretHash)) return 'wrong_secret';
  const { invite_hash: _burnt, ...accepted } = member;
  d.put('members', accepted);
  return 'accepted';
}

export function insertRefresh(d: Draft, row: RefreshRow): void {
  if (find(d.tables, 'refresh', '', row.hash) !== undefined) {
    throw new AgentSecretsError('internal_error', 'this refresh token is stored already');
  }
  d.put('refresh', { ...row });
}

export function consumeRefresh(d: Draft, hash: string, now: Date): RefreshOutcome {
  const row = find(d.tables, 'refresh', '', hash);
  const verdict = refreshVerdict(row, now);
  if (verdict === 'reused') return { status: 'reused', row: { ...row! } };
  if (verdict !== 'ok') return { status: verdict };
  const used = { ...row!, used_at: now.toISOString() };
  d.put('refresh', used);
  return { status: 'ok', row: { ...used } };
}

export function revokeFamily(d: Draft, family: string, at: Date): void {
  for (const row of allRows(d.tables, 'refresh')) {
    if (row.family === family && row.revoked_at === null) {
      d.put('refresh', { ...row, revoked_at: at.toISOString() });
    }
  }
}

export function createWorkspace(
  d: Draft,
  workspace: WorkspaceRow,
  admin: MemberRow,
  grants: GrantRow[],
  doc: DocRow,
): 'created' | 'exists' {
  if (find(d.tables, 'workspaces', '', workspace.id) !== undefined) return 'exists';
  d.put('workspaces', { ...workspace });
  d.put('members', { ...admin });
  for (const grant of grants) d.put('grants', { ...grant });
  d.put('docs', { ...doc });
  return 'created';
}

export function inviteEmail(d: Draft, invite: InviteRow): 'pending' | 'invited' | 'already_member' {
  const t = d.tables;
  requireWorkspace(t, invite.workspace_id);
  const user = find(t, 'emails', '', invite.email.toLowerCase());
  if (user === undefined) {
    d.put('invites', { ...invite });
    return 'invited';
  }
  const existing = find(t, 'members', invite.workspace_id, user.id);
  // Invited again before accepting: the new code replaces the old one.
  if (existing?.status === 'pending' && typeof existing.invite_hash === 'string') {
    const { invite_hash: _old, ...rest } = existing;
    d.put(
      'members',
      typeof invite.secret_hash === 'string' ? { ...rest, invite_hash: invite.secret_hash } : rest,
    );
    return 'pending';
  }
  if (existing !== undefined) return 'already_member';
  d.put('members', pendingMember(invite, user.id, invite.created_at));
  return 'pending';
}

export function confirmMember(
  d: Draft,
  workspaceId: string,
  userId: string,
  confirmedBy: string,
  grants: GrantRow[],
): 'confirmed' | 'not_pending' {
  const member = find(d.tables, 'members', workspaceId, userId);
  if (member?.status !== 'pending') return 'not_pending';
  d.put('members', { ...member, status: 'active', confirmed_by: confirmedBy });
  for (const grant of grants) d.put('grants', { ...grant });
  return 'confirmed';
}

export interface SetRoleInput {
  workspaceId: string;
  userId: string;
  role: MemberRow['role'];
  grants: GrantRow[];
  doc: DocRow;
  expectedSeq: number;
}

export function setRole(d: Draft, input: SetRoleInput): 'ok' | 'conflict' {
  const member = find(d.tables, 'members', input.workspaceId, input.userId);
  const current = find(d.tables, 'docs', '', input.workspaceId);
  if (member === undefined || current?.seq !== input.expectedSeq) return 'conflict';
  d.put('members', { ...member, role: input.role });
  for (const grant of input.grants) d.put('grants', { ...grant });
  d.put('docs', { ...input.doc });
  return 'ok';
}

export function putDoc(d: Draft, doc: DocRow, expectedSeq: number): boolean {
  if (find(d.tables, 'docs', '', doc.workspace_id)?.seq !== expectedSeq) return false;
  d.put('docs', { ...doc });
  return true;
}

export function rotate(d: Draft, input: RotateInput): 'ok' | 'conflict' {
  const t = d.tables;
  const workspace = find(t, 'workspaces', '', input.workspace_id);
  if (
    workspace?.epoch !== input.from_epoch ||
    find(t, 'docs', '', input.workspace_id)?.seq !== input.expected_seq ||
    !sameRecordSet(allRecordsOf(t, input.workspace_id), input.records)
  ) {
    return 'conflict';
  }
  if (input.remove_user_id !== null) removeMember(d, input.workspace_id, input.remove_user_id);
  for (const grant of input.grants) d.put('grants', { ...grant });
  for (const record of input.records) d.put('records', { ...record });
  for (const manifest of input.manifests ?? []) d.put('manifests', { ...manifest });
  d.put('workspaces', { ...workspace, epoch: input.epoch });
  d.put('docs', { ...input.doc });
  return 'ok';
}

export function removeMember(d: Draft, workspaceId: string, userId: string): void {
  const member = find(d.tables, 'members', workspaceId, userId);
  if (member !== undefined) d.remove('members', member);
  for (const grant of rowsOf(d.tables, 'grants', workspaceId)) {
    if (grant.user_id === userId) d.remove('grants', grant);
  }
}

export function putProject(d: Draft, project: ProjectRow): 'created' | 'exists' | 'name_taken' {
  const t = d.tables;
  requireWorkspace(t, project.workspace_id);
  if (find(t, 'projects', project.workspace_id, project.id) !== undefined) return 'exists';
  if (rowsOf(t, 'projects', project.workspace_id).some((p) => p.name === project.name)) {
    return 'name_taken';
  }
  d.put('projects', { ...project });
  return 'created';
}

export interface PushInput {
  workspaceId: string;
  projectId: string;
  environment: string;
  changes: PushChangeRow[];
  force: boolean;
  userId: string;
  now: Date;
  deletions?: readonly PushDeletionRow[];
  manifest?: ManifestRow;
}

export function push(d: Draft, input: PushInput): PushOutcome {
  const t = d.tables;
  const workspace = requireWorkspace(t, input.workspaceId);
  if (find(t, 'projects', input.workspaceId, input.projectId) === undefined) {
    throw new AgentSecretsError('project_not_found', 'no project with this id in the workspace');
  }
  const scope = scopeKey(input.workspaceId, input.projectId, input.environment);
  const current = new Map(rowsOf(t, 'records', scope).map((r) => [r.key, r.version]));
  const stored = find(t, 'manifests', input.workspaceId, scope);
  const refusal =
    judgeDeletions(current, input.changes, input.deletions ?? [], input.force, {
      stored: stored?.seq ?? 0,
      next: input.manifest,
    }) ?? judgePush(workspace.epoch, current, input.changes, input.force);
  if (refusal !== undefined) return refusal;
  const records = input.changes.map((change) => recordFromChange(change, input));
  for (const record of records) d.put('records', record);
  for (const deletion of input.deletions ?? [])
    d.remove('records', find(t, 'records', scope, deletion.key)!);
  if (input.manifest !== undefined) d.put('manifests', { ...input.manifest });
  return { status: 'ok', records: records.map((r) => ({ ...r })) };
}

export function requireWorkspace(t: Tables, workspaceId: string): WorkspaceRow {
  const workspace = find(t, 'workspaces', '', workspaceId);
  if (workspace === undefined) {
    throw new AgentSecretsError('workspace_not_found', 'no workspace with this id');
  }
  return workspace;
}
