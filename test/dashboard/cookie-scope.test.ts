import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, http, startHarness } from './harness.js';

/**
 * Review finding of issue 16 (HIGH): browsers isolate cookies neither by port nor, for
 * SameSite, between ports of 127.0.0.1. A session cookie with `Path=/` goes to every local
 * server the browser visits, such as a dev server an agent started; that server replays it
 * (curl with the dashboard's Host and Origin, the CSRF token read from a page) and owns the
 * session. The fix: pages live under a per-session path secret and the cookie is scoped to it.
 *
 * Real Chromium logs in, then visits a second server on another 127.0.0.1 port that records the
 * Cookie header it gets. First with the old session (an injected test-only option), where the
 * attack works end to end; then with the real one, where no cookie arrives and neither half of
 * the session works alone.
 */

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'dashboard');

/** The other local server: records the Cookie header of every request. */
async function startSnoop(): Promise<{ port: number; cookies: string[]; server: Server }> {
  const cookies: string[] = [];
  const server = createServer((req, res) => {
    cookies.push(req.headers.cookie ?? '');
    res.writeHead(200, { 'content-type': 'text/html' }).end('<p>a dev server</p>');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, cookies, server };
}

/** What the snooping server does with a cookie: read a page's CSRF token, then post a change. */
async function replay(dashboard: Harness, cookie: string, base: string, domain: string) {
  const headers = { cookie, host: `127.0.0.1:${dashboard.port}` };
  const page = await http(dashboard.port, `${base}/allowlist`, { headers });
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(page.body)?.[1] ?? 'none';
  const post = await http(dashboard.port, `${base}/allowlist/add`, {
    method: 'POST',
    headers: {
      ...headers,
      origin: dashboard.url,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ _csrf: csrf, domain }).toString(),
  });
  const listed = (await dashboard.services.workspaces.currentWorkspace()).allowlist.some(
    (e) => e.pattern === domain,
  );
  return { page: page.status, post: post.status, listed };
}

describe.skipIf(!existsSync(CHROMIUM) && process.env.CI !== 'true')(
  'the session cookie reaches no other local server',
  () => {
    let browser: Browser;
    let snoop: Awaited<ReturnType<typeof startSnoop>>;
    const harnesses: Harness[] = [];

    beforeAll(async () => {
      await mkdir(ARTIFACTS, { recursive: true });
      snoop = await startSnoop();
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox'],
      });
    });
    afterAll(async () => {
      await browser?.close();
      await new Promise((r) => snoop?.server.close(r));
      for (const h of harnesses) await h.close();
    });

    /** Logs in with Chromium, then visits the other server; what that server received. */
    async function visit(dashboard: Harness, shot: string) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(dashboard.loginUrl());
      expect(await page.textContent('h1')).toBe('Overview');
      const base = new URL(page.url()).pathname.replace(/\/$/, '');
      const cookie = (await context.cookies()).find((c) => c.name === 'as_dashboard')!;
      const before = snoop.cookies.length;
      await page.goto(`http://127.0.0.1:${snoop.port}/`);
      await page.screenshot({ path: join(ARTIFACTS, `${shot}.png`) });
      await context.close();
      // Every request the visit made (the page, perhaps a favicon).
      const received = snoop.cookies.slice(before);
      expect(received.length).toBeGreaterThan(0);
      return { received: received.join('; '), base, cookie: `as_dashboard=${cookie.value}` };
    }

    it('with the old session (Path=/, no path secret) the cookie leaks and its replay owns the session', async () => {
      const dashboard = await startHarness({ unsafePortAgnosticCookie: true });
      harnesses.push(dashboard);
      const { received, cookie } = await visit(dashboard, 'cookie-scope-old');
      expect(received).toContain('as_dashboard=');
      // The snooping server knows no path secret: any path will do under the old session.
      const stolen = received.split('; ').find((c) => c.startsWith('as_dashboard='))!;
      expect(stolen).toBe(cookie);
      const attack = await replay(dashboard, stolen, '/s/anything', 'stolen.example.com');
      expect(attack).toEqual({ page: 200, post: 303, listed: true });
    });

    it('with the session scoped to its path secret no cookie arrives, and neither half works alone', async () => {
      const dashboard = await startHarness();
      harnesses.push(dashboard);
      const { received, base, cookie } = await visit(dashboard, 'cookie-scope-fixed');
      expect(received).not.toContain('as_dashboard');
      // Say the cookie got out anyway: without the path secret it opens nothing.
      const noPath = await replay(dashboard, cookie, '/s/anything', 'no-path.example.com');
      expect(noPath).toEqual({ page: 401, post: 401, listed: false });
      const root = await http(dashboard.port, '/allowlist', { headers: { cookie } });
      expect(root.status).toBe(401);
      // And the path secret (from history, a screenshot) without the cookie opens nothing.
      const noCookie = await replay(dashboard, '', base, 'no-cookie.example.com');
      expect(noCookie).toEqual({ page: 401, post: 401, listed: false });
      // The replay itself is sound: with both halves it makes the change. So each refusal
      // above is the defence at work.
      const both = await replay(dashboard, cookie, base, 'both.example.com');
      expect(both).toEqual({ page: 200, post: 303, listed: true });
    });

    it('a session ends after an hour unused, and after 12 hours whatever its use', async () => {
      const { createDashboardAuth, SESSION_IDLE_MS, SESSION_MAX_MS } =
        await import('../../src/dashboard/auth.js');
      expect(SESSION_IDLE_MS).toBe(3600_000);
      expect(SESSION_MAX_MS).toBe(12 * 3600_000);
      let now = 0;
      const auth = createDashboardAuth(() => now);
      const idle = auth.login(auth.issueLogin())!;
      now += SESSION_IDLE_MS + 1;
      expect(auth.session(idle.id)).toBeUndefined();
      const busy = auth.login(auth.issueLogin())!;
      for (let hour = 0; hour < 12; hour++) {
        now += SESSION_IDLE_MS - 1;
        const s = auth.session(busy.id);
        expect(s, `hour ${hour}`).toBeDefined();
        auth.touch(s!);
      }
      now += 13 * 60_000;
      expect(auth.session(busy.id)).toBeUndefined();
    });
  },
);
