import { fromBase64 } from '../crypto/aead.js';
import { verifyDocSignature } from '../sync/crypto.js';
import { docHash } from '../sync/chain.js';
import { parseDocBody, type WorkspaceDoc } from '../sync/doc.js';
import * as wire from '../sync/wire.js';
import { verifyManifestSignature } from '../sync/manifest.js';
import { type Ctx, fail, type RouteDeps } from './http.js';
import type { DocRow, GrantRow, ManifestRow, MemberRow } from './store.js';

/** The checks the workspace routes share: membership, signed documents, admins, grants. */
export function createGuards(deps: RouteDeps) {
  const { store, sodium, now } = deps;

  /** The caller's membership; admins only when `admin`. Pending members cannot act. */
  async function membership(c: Ctx, admin = false): Promise<MemberRow> {
    const workspaceId = c.req.param('ws')!;
    const member = await store.member(workspaceId, c.get('userId'));
    if (member === undefined || member.status !== 'active')
      throw fail('not_found', 'no such workspace, or you are not a confirmed member of it');
    // Invited with a code whose one-time secret was never presented: no join (issue 12, 4).
    if (typeof member.invite_hash === 'string')
      throw fail(
        'forbidden',
        'you have not presented the invite code of this workspace yet: run `agentsecrets workspace join CODE` with the code the admin sent you',
      );
    if (admin && member.role !== 'admin')
      throw fail('forbidden', 'only a workspace admin can do this; ask one of the admins');
    return member;
  }

  /** Checks a signed doc an admin sends: signer is the caller, signature valid, next seq. */
  async function acceptDoc(
    c: Ctx,
    signed: wire.SignedDoc,
    expect: { epoch: number; admins?: readonly string[] },
  ): Promise<{ row: DocRow; doc: WorkspaceDoc; expectedSeq: number }> {
    const workspaceId = c.req.param('ws')!;
    const userId = c.get('userId');
    if (signed.signer !== userId) throw fail('signature_invalid', 'sign the document yourself');
    const [signer] = await store.usersById([userId]);
    if (!verifyDocSignature(sodium, fromBase64(signer!.sign_public), signed.body, signed.signature))
      throw fail('signature_invalid', 'the document signature does not verify with your key');
    const doc = parseDocBody(signed.body);
    const current = await store.doc(workspaceId);
    const expectedSeq = current?.seq ?? 0;
    if (doc.workspace_id !== workspaceId)
      throw fail('signature_invalid', 'the document is for another workspace');
    // The log stays one chain: a link must name the head it follows (clients check it too).
    if (
      doc.seq !== expectedSeq + 1 ||
      (current !== undefined && doc.prev_hash !== null && doc.prev_hash !== docHash(current.body))
    )
      throw fail(
        'conflict',
        `the workspace document moved on (now seq ${expectedSeq}); sync and retry`,
      );
    if (doc.epoch !== expect.epoch)
      throw fail(
        'stale_epoch',
        `the document names key epoch ${doc.epoch}, the workspace is at ${expect.epoch}`,
      );
    if (expect.admins !== undefined) {
      const named = doc.admins.map((a) => a.user_id).sort();
      if (named.join() !== [...expect.admins].sort().join())
        throw fail('bad_request', "the document's admins do not match the workspace's admins");
    }
    const row: DocRow = {
      workspace_id: workspaceId,
      seq: doc.seq,
      body: signed.body,
      signature: signed.signature,
      signer: userId,
      updated_at: now().toISOString(),
    };
    return { row, doc, expectedSeq };
  }

  async function adminIds(
    workspaceId: string,
    change?: { userId: string; role: 'admin' | 'member' | null },
  ) {
    const members = await store.members(workspaceId);
    const ids = new Set(
      members.filter((m) => m.status === 'active' && m.role === 'admin').map((m) => m.user_id),
    );
    if (change !== undefined) {
      if (change.role === 'admin') ids.add(change.userId);
      else ids.delete(change.userId);
    }
    return [...ids];
  }

  /** Grants must be signed by the caller, for this workspace, and (for `to`) that user. */
  function checkGrants(
    c: Ctx,
    grants: readonly wire.KeyGrantWire[],
    to?: readonly string[],
  ): GrantRow[] {
    const workspaceId = c.req.param('ws')!;
    for (const g of grants) {
      if (g.workspace_id !== workspaceId || g.granted_by !== c.get('userId'))
        throw fail('bad_request', 'a key grant is for another workspace or granter');
      if (to !== undefined && !to.includes(g.user_id))
        throw fail('bad_request', 'a key grant is for a user this request is not about');
    }
    return grants.map((g) => ({ ...g }));
  }

  /**
   * Checks a push manifest the caller sends (F10): signed by the caller, for `place`. Clients
   * check it again against the signed workspace document; the server only keeps the log
   * honest for honest clients (its seq is checked where it is stored).
   */
  async function acceptManifest(
    c: Ctx,
    signed: wire.SignedManifest,
    place?: { projectId: string; environment: string },
  ): Promise<ManifestRow> {
    const workspaceId = c.req.param('ws')!;
    const userId = c.get('userId');
    const [signer] = await store.usersById([userId]);
    if (
      signed.signer !== userId ||
      !verifyManifestSignature(
        sodium,
        fromBase64(signer!.sign_public),
        signed.body,
        signed.signature,
      )
    )
      throw fail('signature_invalid', 'the push manifest must be signed by you');
    let body: unknown;
    try {
      body = JSON.parse(signed.body);
    } catch {
      body = undefined;
    }
    const parsed = wire.manifestBody.safeParse(body);
    if (
      !parsed.success ||
      parsed.data.signer !== userId ||
      parsed.data.workspace_id !== workspaceId ||
      (place !== undefined &&
        (parsed.data.project_id !== place.projectId ||
          parsed.data.environment !== place.environment))
    )
      throw fail('bad_request', 'the push manifest is malformed or for another place');
    return {
      workspace_id: workspaceId,
      project_id: parsed.data.project_id,
      environment: parsed.data.environment,
      seq: parsed.data.seq,
      body: signed.body,
      signature: signed.signature,
      signer: userId,
    };
  }

  return { membership, acceptDoc, adminIds, checkGrants, acceptManifest };
}

export type Guards = ReturnType<typeof createGuards>;
