import { Hono } from 'hono';
import { fromBase64 } from '../crypto/aead.js';
import { verifyHeartbeatSignature } from '../sync/chain.js';
import * as wire from '../sync/wire.js';
import type { Guards } from './guards.js';
import { body, CHAIN_PAGE, type Env, fail, limit, type RouteDeps, SMALL } from './http.js';

/** The signed workspace document, its log, admins' heartbeats and key grants (`/v1/workspaces/:ws/…`). */
export function documentRoutes(deps: RouteDeps, guards: Guards): Hono<Env> {
  const { store, sodium } = deps;
  const { membership, acceptDoc, adminIds } = guards;
  const routes = new Hono<Env>();

  routes.get('/:ws/doc', async (c) => {
    await membership(c);
    const since = Number(c.req.query('since') ?? -1);
    // Heartbeats first: one for seq N is signed after N was stored, so the doc read next is
    // never older than a heartbeat sent with it.
    const beats = await store.heartbeats(c.req.param('ws'));
    const doc = await store.doc(c.req.param('ws'));
    if (doc === undefined) throw fail('not_found', 'this workspace has no document');
    // Admins' signed heartbeats travel with every poll: members judge freshness by them.
    const heartbeats = beats.map((h) => ({
      signer: h.signer,
      body: h.body,
      signature: h.signature,
    }));
    if (doc.seq === since) return c.json({ unchanged: true, seq: doc.seq, heartbeats });
    return c.json({
      doc: { body: doc.body, signature: doc.signature, signer: doc.signer },
      seq: doc.seq,
      heartbeats,
    });
  });

  /** The document log from a seq: the links a client walks to the head (F6). */
  routes.get('/:ws/docs', async (c) => {
    await membership(c);
    const after = Number(c.req.query('after') ?? 0);
    if (!Number.isInteger(after) || after < 0)
      throw fail('bad_request', 'after must be a document seq (0 or more)');
    const links = await store.docChain(c.req.param('ws'), after, CHAIN_PAGE);
    return c.json({
      docs: links.map((d) => ({ body: d.body, signature: d.signature, signer: d.signer })),
      more: links.length === CHAIN_PAGE,
    });
  });

  /** An admin's heartbeat: signed (seq, head hash, time); the newest per admin is kept. */
  routes.post('/:ws/heartbeat', limit(SMALL), async (c) => {
    const me = await membership(c, true);
    const req = await body(c, wire.heartbeatRequest);
    const [user] = await store.usersById([me.user_id]);
    if (!verifyHeartbeatSignature(sodium, fromBase64(user!.sign_public), req.body, req.signature))
      throw fail('signature_invalid', 'the heartbeat signature does not verify with your key');
    await store.putHeartbeat({
      workspace_id: c.req.param('ws'),
      signer: me.user_id,
      body: req.body,
      signature: req.signature,
    });
    return c.json({ status: 'ok' });
  });

  routes.put('/:ws/doc', limit(4 * 1024 * 1024), async (c) => {
    await membership(c, true);
    const req = await body(c, wire.putDocRequest);
    const workspaceId = c.req.param('ws');
    const workspace = await store.workspace(workspaceId);
    const { row, expectedSeq } = await acceptDoc(c, req.doc, {
      epoch: workspace!.epoch,
      admins: await adminIds(workspaceId),
    });
    if (!(await store.putDoc(row, expectedSeq)))
      throw fail('conflict', 'the workspace document moved on; sync and retry');
    return c.json({ status: 'ok', seq: row.seq });
  });

  routes.get('/:ws/grants', async (c) => {
    const me = await membership(c);
    return c.json({ grants: await store.grants(c.req.param('ws'), me.user_id) });
  });

  return routes;
}
