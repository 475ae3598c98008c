import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import { fromBase64 } from '../crypto/aead.js';
import { verifyDocSignature } from '../sync/crypto.js';
import { parseDocBody } from '../sync/doc.js';
import * as wire from '../sync/wire.js';
import type { Guards } from './guards.js';
import { body, type Env, fail, limit, ROTATE, type RouteDeps, SMALL } from './http.js';

/** Workspaces and their members (`/v1/workspaces`): create, list, invite, confirm, roles, rotate. */
export function workspaceRoutes(deps: RouteDeps, guards: Guards): Hono<Env> {
  const { store, sodium, now, publicUser } = deps;
  const { membership, acceptDoc, adminIds, checkGrants, acceptManifest } = guards;
  const routes = new Hono<Env>();

  routes.post('/', limit(SMALL), async (c) => {
    const req = await body(c, wire.createWorkspaceRequest);
    const userId = c.get('userId');
    const [user] = await store.usersById([userId]);
    const doc = parseDocBody(req.doc.body);
    if (
      req.doc.signer !== userId ||
      !verifyDocSignature(sodium, fromBase64(user!.sign_public), req.doc.body, req.doc.signature) ||
      doc.workspace_id !== req.id ||
      doc.seq !== 1 ||
      doc.epoch !== 1 ||
      doc.admins.length !== 1 ||
      doc.admins[0]!.user_id !== userId
    )
      throw fail(
        'signature_invalid',
        'the first workspace document must be seq 1, epoch 1, signed by you as its only admin',
      );
    const at = now().toISOString();
    const grants = req.grants.map((g) => ({ ...g }));
    if (
      grants.some(
        (g) =>
          g.workspace_id !== req.id ||
          g.user_id !== userId ||
          g.granted_by !== userId ||
          g.epoch !== 1,
      )
    )
      throw fail('bad_request', 'the key grants must be yours, for this workspace, epoch 1');
    const outcome = await store.createWorkspace(
      { id: req.id, name: req.name, created_by: userId, created_at: at, epoch: 1 },
      {
        workspace_id: req.id,
        user_id: userId,
        role: 'admin',
        status: 'active',
        added_at: at,
        confirmed_by: userId,
      },
      grants,
      {
        workspace_id: req.id,
        seq: 1,
        body: req.doc.body,
        signature: req.doc.signature,
        signer: userId,
        updated_at: at,
      },
    );
    if (outcome === 'exists') throw fail('conflict', 'a workspace with this id exists');
    return c.json({ id: req.id, name: req.name, epoch: 1 }, 201);
  });

  routes.get('/', async (c) => {
    const rows = await store.workspacesOf(c.get('userId'));
    return c.json({
      workspaces: rows.map(({ workspace, member }) => ({
        id: workspace.id,
        name: workspace.name,
        epoch: workspace.epoch,
        role: member.role,
        status: member.status,
      })),
    });
  });

  routes.get('/:ws', async (c) => {
    const me = await membership(c);
    const workspaceId = c.req.param('ws');
    const [workspace, members, invites, grants, doc] = await Promise.all([
      store.workspace(workspaceId),
      store.members(workspaceId),
      store.invites(workspaceId),
      store.grants(workspaceId, me.user_id),
      store.doc(workspaceId),
    ]);
    const users = new Map(
      (await store.usersById(members.map((m) => m.user_id))).map((u) => [u.id, u]),
    );
    return c.json({
      workspace: { id: workspace!.id, name: workspace!.name, epoch: workspace!.epoch },
      role: me.role,
      members: members.map((m) => ({
        ...publicUser(users.get(m.user_id)!),
        role: m.role,
        status: m.status,
      })),
      invites:
        me.role === 'admin'
          ? invites.map((i) => ({ email: i.email, role: i.role, created_at: i.created_at }))
          : [],
      grants,
      doc:
        doc === undefined ? null : { body: doc.body, signature: doc.signature, signer: doc.signer },
    });
  });

  routes.post('/:ws/invites', limit(SMALL), async (c) => {
    await membership(c, true);
    const req = await body(c, wire.inviteRequest);
    const outcome = await store.invite({
      workspace_id: c.req.param('ws'),
      email: req.email,
      role: 'member',
      invited_by: c.get('userId'),
      created_at: now().toISOString(),
      secret_hash: req.secret_hash ?? null,
    });
    const user = outcome === 'invited' ? undefined : await store.userByEmail(req.email);
    return c.json({ status: outcome, user: user === undefined ? null : publicUser(user) }, 201);
  });

  // Accepting an invitation with its code's one-time secret; the stored hash is burnt.
  routes.post('/:ws/accept', limit(SMALL), async (c) => {
    const req = await body(c, wire.acceptRequest);
    const hash = createHash('sha256').update(req.secret, 'utf8').digest('hex');
    const outcome = await store.acceptInvite(c.req.param('ws'), c.get('userId'), hash);
    if (outcome === 'not_invited')
      throw fail('not_found', 'no invitation to this workspace for your account');
    if (outcome === 'wrong_secret')
      throw fail(
        'forbidden',
        'this invite code does not match your invitation: ask the admin for the code again (`agentsecrets workspace invite EMAIL` makes a fresh one)',
      );
    if (outcome === 'used')
      throw fail('conflict', 'this invitation has no unused code: it was accepted already');
    return c.json({ status: 'accepted' });
  });

  routes.post('/:ws/members/:user/confirm', limit(SMALL), async (c) => {
    await membership(c, true);
    const req = await body(c, wire.confirmRequest);
    const target = c.req.param('user');
    const grants = checkGrants(c, req.grants, [target]);
    const workspace = await store.workspace(c.req.param('ws'));
    if (!grants.some((g) => g.kind === 'workspace' && g.epoch === workspace!.epoch))
      throw fail(
        'stale_epoch',
        `confirm with a grant of the current key (epoch ${workspace!.epoch})`,
      );
    const outcome = await store.confirmMember(c.req.param('ws'), target, c.get('userId'), grants);
    if (outcome === 'not_pending')
      throw fail('conflict', 'that user is not waiting for confirmation');
    return c.json({ status: 'confirmed' });
  });

  routes.post('/:ws/members/:user/role', limit(SMALL), async (c) => {
    await membership(c, true);
    const req = await body(c, wire.roleRequest);
    const workspaceId = c.req.param('ws');
    const target = c.req.param('user');
    const member = await store.member(workspaceId, target);
    if (member === undefined || member.status !== 'active')
      throw fail('not_found', 'that user is not an active member');
    const admins = await adminIds(workspaceId, { userId: target, role: req.role });
    if (admins.length === 0) throw fail('conflict', 'a workspace needs at least one admin');
    const workspace = await store.workspace(workspaceId);
    const { row, expectedSeq } = await acceptDoc(c, req.doc, { epoch: workspace!.epoch, admins });
    const grants = checkGrants(c, req.grants, [target]);
    const outcome = await store.setRole(workspaceId, target, req.role, grants, row, expectedSeq);
    if (outcome === 'conflict')
      throw fail('conflict', 'the workspace changed meanwhile; sync and retry');
    return c.json({ status: 'ok', role: req.role });
  });

  routes.post('/:ws/rotate', limit(ROTATE), async (c) => {
    await membership(c, true);
    const req = await body(
      c,
      wire.rotateRequest.extend({ remove_user_id: wire.userId.nullable().default(null) }),
    );
    const workspaceId = c.req.param('ws');
    const workspace = await store.workspace(workspaceId);
    if (req.from_epoch !== workspace!.epoch || req.epoch !== workspace!.epoch + 1)
      throw fail(
        'stale_epoch',
        `the workspace is at key epoch ${workspace!.epoch}; sync and retry`,
      );
    if (req.remove_user_id === c.get('userId'))
      throw fail('bad_request', 'you cannot remove yourself; ask another admin');
    const removing =
      req.remove_user_id === null ? undefined : { userId: req.remove_user_id, role: null };
    if (removing !== undefined && (await store.member(workspaceId, removing.userId)) === undefined)
      throw fail('not_found', 'that user is not a member');
    const admins = await adminIds(workspaceId, removing);
    const { row, expectedSeq } = await acceptDoc(c, req.doc, { epoch: req.epoch, admins });
    const remaining = (await store.members(workspaceId))
      .filter((m) => m.status === 'active' && m.user_id !== req.remove_user_id)
      .map((m) => m.user_id);
    const grants = checkGrants(c, req.grants, remaining);
    const covered = new Set(
      grants.filter((g) => g.kind === 'workspace' && g.epoch === req.epoch).map((g) => g.user_id),
    );
    if (remaining.some((id) => !covered.has(id)))
      throw fail('bad_request', 'every remaining member needs a grant of the new key');
    const manifests = [];
    for (const m of req.manifests) manifests.push(await acceptManifest(c, m));
    const at = now().toISOString();
    const outcome = await store.rotate({
      manifests,
      workspace_id: workspaceId,
      remove_user_id: req.remove_user_id,
      from_epoch: req.from_epoch,
      epoch: req.epoch,
      grants,
      records: req.records.map((r) => ({
        ...r,
        workspace_id: workspaceId,
        epoch: req.epoch,
        updated_at: at,
        updated_by: c.get('userId'),
      })),
      doc: row,
      expected_seq: expectedSeq,
    });
    if (outcome === 'conflict')
      throw fail(
        'conflict',
        'the workspace changed during the rotation (a push, or another admin); retry',
      );
    return c.json({ status: 'rotated', epoch: req.epoch });
  });

  return routes;
}
