import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, findLeaks, scanTree } from '../helpers/canary.js';
import { baseEnv, CLI, runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js';

/**
 * The dashboard end to end (issue 16): the spawned key holder, real upstreams on 127.0.0.1,
 * and Debian's Chromium driven headless by playwright-core.
 */

const CHROMIUM = '/usr/bin/chromium';
const PASSPHRASE = 'dashboard-e2e-passphrase';
const SECRET = canary('DASHE2E');
const ARTIFACTS = join(process.cwd(), 'test-artifacts', 'dashboard');

interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

describe.skipIf(!existsSync(CHROMIUM) && process.env.CI !== 'true')(
  'the dashboard in Chromium, served by the spawned key holder',
  () => {
    let home: string;
    let listed: Upstream;
    let unlisted: Upstream;
    let proxy: ChildProcess;
    let proxyPort: number;
    let session: string;
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    /** The session's base URL: http://127.0.0.1:PORT/s/<path secret> */
    let dashboard: string;
    /** The dashboard's origin: http://127.0.0.1:PORT */
    let origin: string;
    const seen: string[] = [];
    const env = {
      AGENTSECRETS_PASSPHRASE: PASSPHRASE,
      AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
    };
    const cli = async (args: string[], input?: string) => {
      const r = await runCli(args, { home, env, input });
      seen.push(r.stdout, r.stderr);
      return r;
    };
    const proxied = async (url: string, headers: Record<string, string> = {}) => {
      const r = await http(proxyPort, '/proxy', {
        headers: {
          'X-AS-Session-Token': session,
          'X-AS-Target-URL': url,
          'X-AS-Inject-Bearer': 'API_KEY',
          ...headers,
        },
      });
      seen.push(r.body, JSON.stringify(r.headers));
      return r;
    };
    const setApprovals = async (file: object) => {
      // Written by rename, as the store writes: the key holder's cache sees a new inode.
      const path = join(home, 'approvals.json');
      await writeFile(`${path}.tmp`, JSON.stringify({ format: 1, rules: [], ...file }));
      await rename(`${path}.tmp`, path);
      // The key holder's document cache sees a change on its watch event, and by a stat at
      // least once a second when an event is late (a loaded machine): wait that second out, so
      // the next call is judged by this file and not the previous one.
      await new Promise((resolve) => setTimeout(resolve, 1_200));
    };
    const login = async () => {
      const r = await cli(['dashboard', '--no-open', '--json']);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { url: string; login_url: string };
    };
    const snap = async (name: string) => {
      seen.push(await page.content());
      await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
    };

    beforeAll(async () => {
      await mkdir(ARTIFACTS, { recursive: true });
      listed = await startUpstream(echo);
      unlisted = await startUpstream(echo);
      home = join(await tempDir(), 'state');
      expect((await cli(['init', '--backend', 'passphrase', '--weak-kdf-for-tests'])).code).toBe(0);
      expect((await cli(['secrets', 'set', 'API_KEY'], SECRET)).code).toBe(0);
      expect((await cli(['agent', 'create', 'billing'])).code).toBe(0);
      const add = await runCliInPty(
        ['workspace', 'allowlist', 'add', `127.0.0.1:${listed.port}`, '--yes'],
        { home, env },
      );
      expect(add.code, add.stdout).toBe(0);
      await setApprovals({ ask_unlisted: true, timeout_s: 30 });
      proxy = spawn(process.execPath, [CLI, 'proxy', 'start', '--port', '0'], {
        env: baseEnv(home, env),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let proxyErr = '';
      proxy.stderr!.on('data', (c: Buffer) => (proxyErr += c.toString()));
      for (let i = 0; i < 400 && proxyPort === undefined; i++) {
        const state = await readFile(join(home, 'proxy.json'), 'utf8').catch(() => undefined);
        if (state !== undefined) {
          const parsed = JSON.parse(state) as { port: number; session_token: string };
          proxyPort = parsed.port;
          session = parsed.session_token;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(proxyPort, proxyErr).toBeGreaterThan(0);
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox'],
      });
      context = await browser.newContext();
      page = await context.newPage();
    });

    afterAll(async () => {
      await browser?.close();
      if (proxy !== undefined && proxy.exitCode === null && proxy.signalCode === null) {
        proxy.kill('SIGTERM');
        await new Promise((r) => proxy.once('exit', r));
      }
      await Promise.all([listed?.close(), unlisted?.close()]);
    });

    it('refuses a browser without the login URL, and lets one in with it (once)', async () => {
      const { url, login_url } = await login();
      origin = url;
      const before = await page.goto(`${url}/activity`);
      expect(before!.status()).toBe(401);
      expect(await page.textContent('body')).toContain('Not logged in');
      // A made-up token gets nothing either.
      const forged = await page.goto(`${url}/login?token=${'A'.repeat(43)}`);
      expect(forged!.status()).toBe(401);

      await page.goto(login_url);
      // Everything behind the login lives under a per-session path secret (review of issue 16).
      const home = new URL(page.url()).pathname;
      expect(home).toMatch(/^\/s\/[\w-]{43}\/$/);
      dashboard = `${url}${home.slice(0, -1)}`;
      expect(await page.textContent('h1')).toBe('Overview');
      const cookie = (await context.cookies()).find((c) => c.name === 'as_dashboard')!;
      expect(cookie.httpOnly).toBe(true);
      expect(cookie.sameSite).toBe('Strict');
      expect(cookie.path).toBe(home);
      await page.waitForSelector('#cards .card');
      await snap('overview');

      // Another server on 127.0.0.1 (a dev server an agent started) gets no dashboard cookie
      // when the browser visits it: the cookie is scoped to the session's path secret.
      const received: string[] = [];
      const other = await startUpstream((req, res) => {
        received.push(req.headers.cookie ?? '');
        res.writeHead(200, { 'content-type': 'text/html' }).end('<p>a dev server</p>');
      });
      await page.goto(`${other.url}/`);
      await other.close();
      expect(received.length).toBeGreaterThan(0);
      expect(received.join('; ')).not.toContain('as_dashboard');
      await page.goto(`${dashboard}/`);

      // The same login URL does not work a second time (another browser tries it).
      const another = await browser.newContext();
      const second = await (await another.newPage()).goto(login_url);
      expect(second!.status()).toBe(401);
      await another.close();
    });

    it('shows a proxied call live, and filters by agent', async () => {
      await page.goto(`${dashboard}/activity`);
      // The live stream is open once the page's script ran; a call made now appears.
      await page.waitForSelector('#activity-rows[data-connected="yes"]', { state: 'attached' });
      const r = await proxied(`http://127.0.0.1:${listed.port}/v1/items`, {
        'X-AS-Agent-ID': 'alpha',
      });
      expect(r.status).toBe(200);
      const row = page.locator('#activity-rows tr.live', { hasText: 'alpha' });
      await row.first().waitFor();
      expect(await row.first().textContent()).toContain(`127.0.0.1`);
      await snap('activity-live');

      expect(
        (await proxied(`http://127.0.0.1:${listed.port}/b`, { 'X-AS-Agent-ID': 'beta' })).status,
      ).toBe(200);
      await page.goto(`${dashboard}/activity`);
      await page.fill('input[name="agent"]', 'beta');
      await page.click('form.filters button[type="submit"]');
      await page.waitForURL(/agent=beta/);
      const agents = await page.$$eval('#activity-rows tr td:nth-child(2)', (tds) =>
        tds.map((td) => td.textContent),
      );
      expect(agents.length).toBeGreaterThan(0);
      expect(new Set(agents)).toEqual(new Set(['beta']));
      await snap('activity-filtered');

      // One entry's detail.
      await page.click('#activity-rows tr a');
      expect(await page.textContent('h1')).toMatch(/^Entry evt_/);
      expect(await page.textContent('table.detail')).toContain('matches its bytes');
      await snap('entry');
    });

    it('holds a call to an unlisted domain until a human approves it, then it reaches the upstream', async () => {
      await page.goto(`${dashboard}/approvals`);
      const before = unlisted.seen.length;
      const call = proxied(`http://127.0.0.1:${unlisted.port}/approve-me`, {
        'X-AS-Agent-ID': 'alpha',
      });
      const card = page.locator('article.pending', { hasText: '/approve-me' });
      await card.waitFor();
      await snap('approvals');
      expect(unlisted.seen.length).toBe(before);
      await card.locator('button[data-decision="approve_once"]').click();
      const r = await call;
      expect(r.status, r.body).toBe(200);
      expect(unlisted.seen.length).toBe(before + 1);
      expect(unlisted.seen.at(-1)!.url).toBe('/approve-me');
    });

    it('fails a denied call with approval_denied, and one nobody answers with approval_timeout', async () => {
      await page.goto(`${dashboard}/approvals`);
      const call = proxied(`http://127.0.0.1:${unlisted.port}/deny-me`, {
        'X-AS-Agent-ID': 'alpha',
      });
      const card = page.locator('article.pending', { hasText: '/deny-me' });
      await card.waitFor();
      // A second tab sees the decision live (the stream's `decided` event removes the card).
      const watcher = await context.newPage();
      await watcher.goto(`${dashboard}/approvals`);
      const watched = watcher.locator('article.pending', { hasText: '/deny-me' });
      await watched.waitFor();
      expect(await watcher.textContent('#pending-badge')).toBe('1 waiting');
      await card.locator('button[data-decision="deny"]').click();
      await watched.waitFor({ state: 'detached' });
      expect(await watcher.isHidden('#pending-badge')).toBe(true);
      await watcher.close();
      const denied = await call;
      expect(denied.status).toBe(403);
      expect(JSON.parse(denied.body).error).toBe('approval_denied');
      expect(unlisted.seen.some((q) => q.url === '/deny-me')).toBe(false);

      await setApprovals({ ask_unlisted: true, timeout_s: 1 });
      const late = await proxied(`http://127.0.0.1:${unlisted.port}/late`, {
        'X-AS-Agent-ID': 'alpha',
      });
      expect(late.status).toBe(403);
      expect(JSON.parse(late.body).error).toBe('approval_timeout');
      expect(JSON.parse(late.body).message).toContain(`${origin}/approvals`);
      // That address holds no path secret (an agent reads it): it asks for the login.
      expect(JSON.parse(late.body).message).not.toContain(dashboard);
      await setApprovals({ ask_unlisted: true, timeout_s: 30 });

      // Every step is in the audit log.
      const log = await cli(['log', '--json', '--limit', '50']);
      const reasons = (JSON.parse(log.stdout) as { reason: string | null }[]).map((e) => e.reason);
      for (const reason of [
        'approval_pending',
        'approval_granted',
        'approval_denied',
        'approval_timeout',
      ])
        expect(reasons).toContain(reason);
    });

    it('"approve and add to the allowlist" adds the domain, then the call reaches the upstream', async () => {
      const third = await startUpstream(echo);
      try {
        const hostPort = `127.0.0.1:${third.port}`;
        await page.goto(`${dashboard}/approvals`);
        const call = proxied(`http://${hostPort}/allow-me`, { 'X-AS-Agent-ID': 'alpha' });
        const card = page.locator('article.pending', { hasText: '/allow-me' });
        await card.waitFor();
        await card.locator('button[data-decision="approve_and_allow"]').click();
        const r = await call;
        expect(r.status, r.body).toBe(200);
        expect(third.seen.at(-1)!.url).toBe('/allow-me');
        expect((await cli(['workspace', 'allowlist', 'list', '--json'])).stdout).toContain(
          hostPort,
        );
        const log = await cli(['log', '--json', '--limit', '10']);
        expect(
          (JSON.parse(log.stdout) as { reason: string | null }[]).map((e) => e.reason),
        ).toContain('approval_granted_allowlisted');
      } finally {
        await third.close();
      }
    });

    it('issues a token, sees it work, revokes it, and the next call is refused', async () => {
      await page.goto(`${dashboard}/agents`);
      const agent = page.locator('section.agent[data-agent="billing"]');
      await agent.locator('input[name="label"]').fill('from-dashboard');
      await agent.locator('button', { hasText: 'Issue a token' }).click();
      const token = (await page.textContent('#new-token'))!.trim();
      expect(token).toMatch(/^agt_/);
      const ok = await proxied(`http://127.0.0.1:${listed.port}/t`, { 'X-AS-Agent-Token': token });
      expect(ok.status).toBe(200);
      await page.goto(`${dashboard}/agents`);
      await snap('agents');
      await page.locator('section.agent[data-agent="billing"] button.danger').first().click();
      await page.waitForURL(/\/agents$/);
      expect(await page.textContent('section.agent[data-agent="billing"]')).toContain('revoked');
      const refused = await proxied(`http://127.0.0.1:${listed.port}/t`, {
        'X-AS-Agent-Token': token,
      });
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body).error).toBe('token_revoked');
    });

    it('binds a secret on the Allowlist page, and the key holder enforces it; unbinding lifts it', async () => {
      const other = await startUpstream(echo);
      try {
        const add = await runCliInPty(
          ['workspace', 'allowlist', 'add', `127.0.0.1:${other.port}`, '--yes'],
          { home, env },
        );
        expect(add.code, add.stdout).toBe(0);
        expect((await proxied(`http://127.0.0.1:${other.port}/before`)).status).toBe(200);
        await page.goto(`${dashboard}/allowlist`);
        const row = page.locator('#bindings tr[data-key="API_KEY"]');
        await row.locator('form.bind input[name="domains"]').fill(`127.0.0.1:${listed.port}`);
        await row.locator('form.bind button').click();
        await page.waitForURL(/\/allowlist$/);
        expect((await row.locator('td.bound').textContent())!.trim()).toBe(
          `127.0.0.1:${listed.port}`,
        );
        await snap('bindings');
        // Bound: still sent to its own host, no longer to the other allowlisted one.
        expect((await proxied(`http://127.0.0.1:${listed.port}/bound`)).status).toBe(200);
        const refused = await proxied(`http://127.0.0.1:${other.port}/after`);
        expect(refused.status).toBe(403);
        expect(other.seen.some((q) => q.url === '/after')).toBe(false);
        await row.locator('form.unbind button').click();
        await page.waitForURL(/\/allowlist$/);
        expect((await row.locator('td.bound').textContent())!.trim()).toBe('not bound');
        expect((await proxied(`http://127.0.0.1:${other.port}/unbound`)).status).toBe(200);
      } finally {
        await other.close();
      }
    });

    it('adds an approve rule on the Approvals page; a matching call then waits for a human', async () => {
      await page.goto(`${dashboard}/approvals`);
      await page.fill('#approval-rule-add input[name="agent"]', 'ruled');
      await page.click('#approval-rule-add button');
      await page.waitForURL(/\/approvals$/);
      const rule = page.locator('#approval-rules tr', { hasText: 'ruled' });
      await rule.waitFor();
      // A listed domain, held by the rule, until approved here.
      const call = proxied(`http://127.0.0.1:${listed.port}/ruled`, { 'X-AS-Agent-ID': 'ruled' });
      const card = page.locator('article.pending', { hasText: '/ruled' });
      await card.waitFor();
      expect(await card.textContent()).toContain('asks for approval');
      await snap('approvals-rule');
      await card.locator('button[data-decision="approve_once"]').click();
      expect((await call).status).toBe(200);
      await page.waitForURL(/\/approvals$/);
      await rule.locator('button', { hasText: 'Remove' }).click();
      await page.waitForURL(/\/approvals$/);
      expect(await page.locator('#approval-rules tr', { hasText: 'ruled' }).count()).toBe(0);
      // Without the rule the same call goes straight through.
      expect(
        (await proxied(`http://127.0.0.1:${listed.port}/ruled`, { 'X-AS-Agent-ID': 'ruled' }))
          .status,
      ).toBe(200);
    });

    it('refuses a forged change: no CSRF token, another Origin, another Host', async () => {
      const cookie = (await context.cookies()).find((c) => c.name === 'as_dashboard')!;
      const port = Number(new URL(dashboard).port);
      const base = new URL(dashboard).pathname;
      await page.goto(`${dashboard}/allowlist`);
      const csrf = (await page.getAttribute('meta[name="csrf-token"]', 'content'))!;
      const post = (domain: string, headers: Record<string, string>, withCsrf: boolean) =>
        http(port, `${base}/allowlist/add`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            cookie: `as_dashboard=${cookie.value}`,
            host: `127.0.0.1:${port}`,
            origin: `http://127.0.0.1:${port}`,
            ...headers,
          },
          body: new URLSearchParams({ domain, ...(withCsrf ? { _csrf: csrf } : {}) }).toString(),
        });
      const listedNow = async () =>
        (await cli(['workspace', 'allowlist', 'list', '--json'])).stdout;
      // With the defences satisfied the same request does change the allowlist: the attack
      // shape is real, so each refusal below is the defence at work.
      expect((await post('ok.example.com', {}, true)).status).toBe(303);
      expect(await listedNow()).toContain('ok.example.com');
      const attacks: [string, Record<string, string>, boolean][] = [
        ['no-csrf.example.com', {}, false],
        ['origin.example.com', { origin: 'http://evil.example' }, true],
        ['host.example.com', { host: `rebind.evil.example:${port}` }, true],
      ];
      for (const [domain, headers, withCsrf] of attacks) {
        const r = await post(domain, headers, withCsrf);
        expect(r.status, domain).toBe(403);
        expect(await listedNow()).not.toContain(domain);
      }
      await snap('allowlist');
      const headers = (
        await http(port, '/static/app.js', { headers: { host: `127.0.0.1:${port}` } })
      ).headers;
      expect(headers['content-security-policy']).toContain("script-src 'self'");
      expect(headers['content-security-policy']).not.toContain('unsafe-inline');
    });

    it('never shows the secret: every page, every API answer and the state folder', async () => {
      for (const path of ['/', '/activity', '/approvals', '/agents', '/allowlist']) {
        await page.goto(`${dashboard}${path}`);
        seen.push(await page.content());
      }
      for (const path of ['/api/overview', '/api/activity', '/api/approvals']) {
        const r = await page.goto(`${dashboard}${path}`);
        seen.push(await r!.text());
      }
      for (const text of seen) expect(findLeaks(text, SECRET)).toEqual([]);
      expect(await scanTree(home, SECRET, { except: (p) => p.endsWith('vault.json') })).toEqual([]);
    });
  },
);
