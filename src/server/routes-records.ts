import { Hono } from 'hono';
import * as wire from '../sync/wire.js';
import type { Guards } from './guards.js';
import { body, type Ctx, type Env, fail, limit, PUSH, type RouteDeps, SMALL } from './http.js';

/** Projects and encrypted records (`/v1/workspaces/:ws/projects/…`, `…/records`). */
export function recordRoutes(deps: RouteDeps, guards: Guards): Hono<Env> {
  const { store, now } = deps;
  const { membership, acceptManifest } = guards;
  const routes = new Hono<Env>();

  routes.get('/:ws/projects', async (c) => {
    await membership(c);
    const projects = await store.projects(c.req.param('ws'));
    return c.json({
      projects: projects.map((p) => ({ id: p.id, name: p.name, created_at: p.created_at })),
    });
  });

  routes.post('/:ws/projects', limit(SMALL), async (c) => {
    await membership(c);
    const req = await body(c, wire.projectRequest);
    const outcome = await store.putProject({
      workspace_id: c.req.param('ws'),
      id: req.id,
      name: req.name,
      created_by: c.get('userId'),
      created_at: now().toISOString(),
    });
    if (outcome === 'name_taken')
      throw fail('conflict', `a different project named '${req.name}' exists in this workspace`);
    return c.json({ status: outcome }, outcome === 'created' ? 201 : 200);
  });

  const recordsPath = '/:ws/projects/:project/envs/:env';
  const envParam = (c: Ctx) => {
    const parsed = wire.environment.safeParse(c.req.param('env'));
    if (!parsed.success)
      throw fail('bad_request', 'environment must be development, staging or production');
    return parsed.data;
  };

  routes.get(`${recordsPath}/records`, async (c) => {
    await membership(c);
    const place = [c.req.param('ws')!, c.req.param('project')!, envParam(c)] as const;
    // The manifest first: a push landing in between makes records newer than it, which a
    // client reads as "pull again", never as a rollback.
    const manifest = await store.manifest(...place);
    const rows = await store.records(...place);
    const withValues = c.req.query('meta') !== '1';
    return c.json({
      manifest:
        manifest === undefined
          ? null
          : { body: manifest.body, signature: manifest.signature, signer: manifest.signer },
      records: rows.map((r) => ({
        key: r.key,
        version: r.version,
        epoch: r.epoch,
        digest: r.digest,
        updated_at: r.updated_at,
        updated_by: r.updated_by,
        ...(withValues ? { nonce: r.nonce, ciphertext: r.ciphertext } : {}),
      })),
    });
  });

  routes.post(`${recordsPath}/push`, limit(PUSH), async (c) => {
    await membership(c);
    const req = await body(c, wire.pushRequest);
    const workspaceId = c.req.param('ws')!;
    const projectId = c.req.param('project')!;
    if (!(await store.projects(workspaceId)).some((p) => p.id === projectId))
      throw fail('not_found', 'no such project on the server; push creates it first');
    const environment = envParam(c);
    const manifest =
      req.manifest === undefined
        ? undefined
        : await acceptManifest(c, req.manifest, { projectId, environment });
    const outcome = await store.push(workspaceId, projectId, environment, req.changes, {
      force: req.force,
      userId: c.get('userId'),
      now: now(),
      deletions: req.deletions,
      manifest,
    });
    if (outcome.status === 'manifest_conflict')
      throw fail(
        'conflict',
        `the records moved on meanwhile (push manifest ${outcome.seq}); pull, then push again`,
      );
    if (outcome.status === 'stale_epoch')
      throw fail(
        'stale_epoch',
        `the workspace key changed (epoch ${outcome.epoch}); pull, then push again`,
      );
    if (outcome.status === 'conflict')
      return c.json(
        {
          error: 'conflict',
          message: `the remote has newer versions of ${outcome.conflicts.map((x) => x.key).join(', ')}; pull first, or push --force to overwrite`,
          conflicts: outcome.conflicts,
        },
        409,
      );
    return c.json({ records: outcome.records.map((r) => ({ key: r.key, version: r.version })) });
  });

  routes.get('/:ws/records', async (c) => {
    await membership(c, true);
    const manifests = await store.manifests(c.req.param('ws'));
    const rows = await store.allRecords(c.req.param('ws'));
    return c.json({
      manifests: manifests.map((m) => ({ body: m.body, signature: m.signature, signer: m.signer })),
      records: rows.map((r) => ({
        project_id: r.project_id,
        environment: r.environment,
        key: r.key,
        version: r.version,
        epoch: r.epoch,
        nonce: r.nonce,
        ciphertext: r.ciphertext,
        digest: r.digest,
      })),
    });
  });

  return routes;
}
