import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalsStore } from '../../src/policy/approvals.js';
import { canary, findLeaks } from '../helpers/canary.js';
import { type Harness, type Session, startHarness } from './harness.js';

/**
 * The changes the dashboard makes beyond tokens and the allowlist (review of issue 16): secret
 * bindings on the Allowlist page, approval rules and settings on the Approvals page, each by the
 * CLI's own command code; and the approvals stream, which sends changes, not the whole list.
 */

const SECRET = canary('DASHCHANGES');

describe('bindings, approval rules and the approvals stream in the dashboard', () => {
  let h: Harness;
  let s: Session;
  let environment: string;

  beforeAll(async () => {
    // The queue's own caps (5 per caller, 50 in all) are tested in approvals-hostile.test.ts; they
    // are raised here so that the page's cap of 50 cards is what limits the page.
    h = await startHarness({
      workspace: { secrets: { API_KEY: SECRET, OTHER_KEY: SECRET } },
      queueLimits: { perCaller: 100, total: 100 },
    });
    s = await h.login();
    environment = (await h.services.workspaces.resolve()).environment;
  });
  afterAll(async () => {
    await h?.close();
  });

  const binding = async (key: string) =>
    (await h.services.vault.list()).find((r) => r.key === key)!.binding;
  const approvals = () => createApprovalsStore(h.services.config.paths).read();

  it('lists the bindings, binds and unbinds a secret as `secrets bind` does, and refuses a forged change', async () => {
    const page = await s.get('/allowlist');
    expect(page.body).toContain('data-key="API_KEY"');
    expect(page.body).toContain('data-key="OTHER_KEY"');
    expect(findLeaks(page.body, SECRET)).toEqual([]);
    const target = { project: 'default', environment, key: 'API_KEY' };

    // A forged post (no or a wrong CSRF token) changes nothing.
    const forged = await h.services.vault.list();
    for (const csrf of ['', 'A'.repeat(43)]) {
      const r = await s.post('/bindings/set', { ...target, domains: 'evil.example', _csrf: csrf });
      expect(r.status).toBe(403);
    }
    expect(await h.services.vault.list()).toEqual(forged);

    const bound = await s.post('/bindings/set', {
      ...target,
      domains: 'API.example.com, uploads.example.com',
      styles: 'bearer',
    });
    expect(bound.status, bound.body).toBe(303);
    // The CLI's parsing: lower-cased allowlist patterns, the styles kept.
    expect(await binding('API_KEY')).toEqual({
      domains: ['api.example.com', 'uploads.example.com'],
      styles: ['bearer'],
    });
    expect(await binding('OTHER_KEY')).toBeNull();
    expect((await s.get('/allowlist')).body).toContain('api.example.com, uploads.example.com');

    // The same rules as the CLI: a domain it refuses is refused here, and nothing changes.
    const bad = await s.post('/bindings/set', { ...target, domains: 'https://x.example/path' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('usage_error');
    const unknown = await s.post('/bindings/set', {
      ...target,
      key: 'NO_SUCH_KEY',
      domains: 'api.example.com',
    });
    expect(unknown.status).toBe(404);

    const forgedRemove = await s.post('/bindings/remove', { ...target, _csrf: 'wrong' });
    expect(forgedRemove.status).toBe(403);
    expect(await binding('API_KEY')).not.toBeNull();
    const removed = await s.post('/bindings/remove', target);
    expect(removed.status, removed.body).toBe(303);
    expect(await binding('API_KEY')).toBeNull();
  });

  it('adds and removes an approve rule and changes the settings, as `approvals rule add/remove` and `approvals config` do', async () => {
    const forged = await s.post('/approval-rules/add', { agent: 'billing', _csrf: 'wrong' });
    expect(forged.status).toBe(403);
    expect((await approvals()).rules).toEqual([]);

    const empty = await s.post('/approval-rules/add', {});
    expect(empty.status).toBe(400);
    expect(empty.body).toContain('at least one');

    const added = await s.post('/approval-rules/add', {
      agent: 'billing',
      secret: 'API_KEY',
      domain: '*.Stripe.com',
    });
    expect(added.status, added.body).toBe(303);
    const [rule] = (await approvals()).rules;
    expect(rule).toMatchObject({
      agent: 'billing',
      secret: 'API_KEY',
      domain: '*.stripe.com',
      workspace: null,
    });
    expect((await s.get('/approvals')).body).toContain(`data-rule="${rule!.id}"`);

    const config = await s.post('/approval-config', { ask_unlisted: 'on', timeout: '45' });
    expect(config.status, config.body).toBe(303);
    expect(await approvals()).toMatchObject({ ask_unlisted: true, timeout_s: 45 });
    const badTimeout = await s.post('/approval-config', { timeout: '0' });
    expect(badTimeout.status).toBe(400);
    const forgedConfig = await s.post('/approval-config', { ask_unlisted: 'off', _csrf: '' });
    expect(forgedConfig.status).toBe(403);
    expect(await approvals()).toMatchObject({ ask_unlisted: true, timeout_s: 45 });

    const forgedRemove = await s.post('/approval-rules/remove', { rule: rule!.id, _csrf: 'x' });
    expect(forgedRemove.status).toBe(403);
    expect((await approvals()).rules).toHaveLength(1);
    const removed = await s.post('/approval-rules/remove', { rule: rule!.id });
    expect(removed.status, removed.body).toBe(303);
    expect((await approvals()).rules).toEqual([]);
    const gone = await s.post('/approval-rules/remove', { rule: rule!.id });
    expect(gone.status).toBe(404);
  });

  it('streams a snapshot, then one event per held or decided call; a page shows at most 50', async () => {
    const events: { event: string; data: unknown }[] = [];
    let wake: () => void = () => undefined;
    const req = request({
      host: '127.0.0.1',
      port: h.port,
      path: `${s.base}/api/approvals/events`,
      headers: { host: `127.0.0.1:${h.port}`, cookie: s.cookie },
    });
    let buffer = '';
    req.on('response', (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
          const data = /^data: (.*)$/m.exec(block)?.[1] ?? '';
          if (event !== 'ping') events.push({ event, data: data === '' ? null : JSON.parse(data) });
          wake();
        }
      });
    });
    req.on('error', () => undefined);
    req.end();
    const until = async (n: number) => {
      while (events.length < n) await new Promise<void>((r) => (wake = r));
    };
    try {
      await until(1);
      expect(events[0]).toEqual({ event: 'snapshot', data: { total: 0, pending: [] } });

      const held = Array.from({ length: 55 }, (_, i) =>
        h.queue
          .hold(
            {
              request_id: `evt_${i}`,
              workspace: 'local',
              workspace_id: 'ws_1',
              project: 'default',
              environment: 'development',
              agent: 'billing',
              identity_level: 'declared',
              source: 'proxy',
              secret_keys: ['API_KEY'],
              method: 'GET',
              host: 'unlisted.example.com',
              path: `/call-${i}`,
              reason: 'unlisted',
            },
            60_000,
          )
          .catch((err: Error) => err),
      );
      await until(56);
      // One event per held call, each with that call alone: not the whole list again.
      const heldEvents = events.slice(1) as {
        event: string;
        data: { total: number; approval: { path: string } };
      }[];
      expect(heldEvents.every((e) => e.event === 'held')).toBe(true);
      expect(heldEvents.map((e) => e.data.approval.path)).toEqual(
        Array.from({ length: 55 }, (_, i) => `/call-${i}`),
      );

      // The page renders 50 cards and counts the rest.
      const page = (await s.get('/approvals')).body;
      expect(page.match(/<article class="pending"/g)).toHaveLength(50);
      expect(page).toContain('5 more waiting');

      const [first] = h.queue.pending();
      await h.queue.decide(first!.id, 'deny', 'test');
      await until(57);
      expect(events[56]).toEqual({ event: 'decided', data: { total: 54, id: first!.id } });
      // A new stream starts from a snapshot: the first 50 and the count.
      const again = (await s.get('/api/approvals')).body;
      expect(JSON.parse(again)).toHaveLength(50);
      h.queue.close();
      await Promise.all(held);
    } finally {
      req.destroy();
    }
  });
});

describe('a live stream ends with its session', () => {
  it('closes the approvals stream once the session has expired', async () => {
    let now = Date.now();
    const h = await startHarness({ authNow: () => now });
    try {
      const s = await h.login();
      const events: string[] = [];
      const ended = new Promise<void>((resolve, reject) => {
        const req = request(
          {
            host: '127.0.0.1',
            port: h.port,
            path: `${s.base}/api/approvals/events`,
            headers: { host: `127.0.0.1:${h.port}`, cookie: s.cookie },
          },
          (res) => {
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => events.push(...(chunk.match(/^event: .*$/gm) ?? [])));
            res.on('end', () => resolve());
          },
        );
        req.on('error', reject);
        req.end();
      });
      const hold = () =>
        h.queue
          .hold(
            {
              request_id: 'evt_x',
              workspace: 'local',
              workspace_id: 'ws_1',
              project: 'default',
              environment: 'development',
              agent: null,
              identity_level: 'anonymous',
              source: 'proxy',
              secret_keys: [],
              method: 'GET',
              host: 'x.example.com',
              path: '/',
              reason: 'unlisted',
            },
            60_000,
          )
          .catch(() => undefined);
      while (!events.includes('event: snapshot')) await new Promise((r) => setTimeout(r, 10));
      // While the session lives, a held call reaches the page.
      const first = hold();
      while (!events.includes('event: held')) await new Promise((r) => setTimeout(r, 10));
      // An hour and a minute unused: the session is over, and the next change ends the stream
      // instead of reaching the page.
      now += 61 * 60_000;
      const second = hold();
      await ended;
      expect(events.filter((e) => e === 'event: held')).toHaveLength(1);
      expect((await s.get('/approvals')).status).toBe(401);
      h.queue.close();
      await Promise.all([first, second]);
    } finally {
      await h.close();
    }
  });
});
