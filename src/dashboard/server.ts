import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { createAdaptorServer } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import type { AuditEntry } from '../audit/format.js';
import { locateEntry } from '../audit/locate.js';
import { type AuditFilter, matchesFilter } from '../audit/query.js';
import { listenOn } from '../core/listen.js';
import { AgentSecretsError, toAgentSecretsError } from '../core/errors.js';
import { createAgentStore } from '../identity/agents.js';
import type { Services } from '../services/index.js';
import type { ApprovalsStore } from '../policy/approvals.js';
import type { ApprovalDecision, ApprovalEvent, ApprovalQueue } from '../policy/approvals-queue.js';
import { httpStatusOf } from '../proxy/engine.js';
import { activityPage, decodeCursor } from './activity.js';
import {
  CSP,
  checkHostAndOrigin,
  type DashboardAuth,
  SESSION_COOKIE,
  type Session,
  sessionBase,
} from './auth.js';
import type { DashboardActions } from './actions.js';
import { CLIENT_CSS, CLIENT_JS } from './client.js';
import { teamFreshness } from './freshness.js';
import type { AuditFeed } from './feed.js';
import { html, layout } from './html.js';
import type { OverviewIndex } from './index.js';
import {
  activityBody,
  agentsBody,
  allowlistBody,
  approvalsBody,
  entryBody,
  FILTER_FIELDS,
  overviewBody,
  resultBody,
} from './pages.js';

/** Rows per Activity page. */
export const PAGE_SIZE = 50;
/** Waiting calls one Approvals page shows (the rest are counted, and shown as these go). */
export const PENDING_SHOWN = 50;

export interface DashboardServerOptions {
  services: Services;
  strict: boolean;
  /** The changes the page makes (built by the CLI). */
  actions: DashboardActions;
  auth: DashboardAuth;
  index: OverviewIndex;
  feed: AuditFeed;
  queue: ApprovalQueue;
  approvals: ApprovalsStore;
  chain: () => { text: string; ok: boolean | null };
  /**
   * TESTS ONLY, never set by the key holder: the session as it was before the path secret, a
   * cookie with `Path=/` accepted under any path. It exists so that a test can show the
   * cookie replay it allowed (test/dashboard/cookie-scope.test.ts).
   */
  unsafePortAgnosticCookie?: boolean;
  /** The clock (ms) the freshness of a team workspace is judged by. */
  now?: () => number;
}

type Env = { Variables: { session: Session; base: string } };

/** The dashboard's routes (Hono) and its HTTP server on 127.0.0.1. */
export function createDashboardServer(options: DashboardServerOptions) {
  const { services, actions, auth, index, queue, strict } = options;
  const auditDir = services.config.paths.auditDir;
  const require = createRequire(import.meta.url);
  // uPlot is served from our own node_modules: nothing is fetched from a CDN.
  const uplotJs = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const uplotCss = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  let port = 0;
  const legacy = options.unsafePortAgnosticCookie === true;
  // Not strict: `/s/<secret>/` and `/s/<secret>` are the same page.
  const app = new Hono<Env>({ strict: false });

  app.use('*', async (c, next) => {
    // The login page `agentsecrets dashboard` opens is a file in the state folder (so the token
    // is in no command line): its form posts with `Origin: null`, accepted for that one route.
    const origin = c.req.header('origin');
    const fromLoginFile = c.req.method === 'POST' && c.req.path === '/login' && origin === 'null';
    const refusal = checkHostAndOrigin(
      c.req.header('host'),
      fromLoginFile ? undefined : origin,
      port,
    );
    if (refusal !== undefined) return c.json({ error: 'invalid_session', message: refusal }, 403);
    await next();
    c.header('content-security-policy', CSP);
    c.header('x-frame-options', 'DENY');
    c.header('x-content-type-options', 'nosniff');
    // same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on form posts.
    c.header('referrer-policy', 'same-origin');
    c.header('cache-control', 'no-store');
    return undefined;
  });

  // Forms here are a few fields; nothing larger is read.
  app.use('*', bodyLimit({ maxSize: 64 * 1024 }));

  const asset = (body: string, type: string) => (c: Context) =>
    c.body(body, 200, { 'content-type': type });
  app.get('/static/app.js', asset(CLIENT_JS, 'text/javascript; charset=utf-8'));
  app.get('/static/app.css', asset(CLIENT_CSS, 'text/css; charset=utf-8'));
  app.get('/static/uplot.js', asset(uplotJs, 'text/javascript; charset=utf-8'));
  app.get('/static/uplot.css', asset(uplotCss, 'text/css; charset=utf-8'));

  app.get('/login', (c) => {
    const session = auth.login(c.req.query('token') ?? '');
    return loggedIn(c, session, false);
  });
  app.post('/login', async (c) => {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const token = typeof form.token === 'string' ? form.token : '';
    return loggedIn(c, auth.login(token), true);
  });
  function loggedIn(c: Context, session: Session | undefined, posted: boolean) {
    if (session === undefined)
      return c.html(
        '<!doctype html><title>agentsecrets</title><p>This login link is not valid (each link works once, for 5 minutes). Run <code>agentsecrets dashboard</code> for a new one.</p>',
        401,
      );
    const home = `${sessionBase(session)}/`;
    // The cookie goes only to this session's own pages: not to another local server's.
    setCookie(c, SESSION_COOKIE, session.id, {
      httpOnly: true,
      sameSite: 'Strict',
      path: legacy ? '/' : home,
    });
    // After a post from the login file (another site), a redirect would still count as that
    // site's navigation and the Strict cookie would not be sent: the page moves on itself.
    if (posted)
      return c.html(
        `<!doctype html><title>agentsecrets</title><meta http-equiv="refresh" content="0;url=${home}"><p><a href="${home}">Open the dashboard</a></p>`,
      );
    return c.redirect(home, 303);
  }

  const notLoggedIn = (c: Context) =>
    c.html(
      `<!doctype html><title>agentsecrets</title><p>Not logged in here. The dashboard's pages live under the address a login opened (<code>http://127.0.0.1:${port}/s/…/</code>): use that tab, or run <code>agentsecrets dashboard</code> and open the login URL it prints.</p>`,
      401,
    );

  // Everything behind the login lives under /s/<path secret>/ (see auth.ts).
  const s = new Hono<Env>({ strict: false });
  s.use('*', async (c, next) => {
    const key = c.req.param('key');
    // The cookie's path ends in a slash: without it the browser would not send the cookie.
    const pathname = new URL(c.req.url).pathname;
    if (c.req.method === 'GET' && /^\/s\/[\w-]+$/.test(pathname))
      return c.redirect(`${pathname}/`, 308);
    const session = auth.session(getCookie(c, SESSION_COOKIE));
    // Both halves: the cookie (scoped to this path), and the path secret (constant time).
    if (session === undefined || (!legacy && !auth.checkPath(session, key))) return notLoggedIn(c);
    auth.touch(session);
    c.set('session', session);
    c.set('base', sessionBase(session));
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      // Every change: the page's own origin and the session's CSRF token.
      if (c.req.header('origin') === undefined)
        return c.json(
          { error: 'invalid_session', message: 'a change needs an Origin header' },
          403,
        );
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const presented =
        c.req.header('x-csrf-token') ?? (typeof form._csrf === 'string' ? form._csrf : undefined);
      if (!auth.checkCsrf(session, presented))
        return c.json(
          { error: 'invalid_session', message: 'missing or wrong CSRF token; reload the page' },
          403,
        );
    }
    await next();
    return undefined;
  });

  const page = (
    c: Context<Env>,
    title: string,
    body: ReturnType<typeof html>,
    extra: Partial<Parameters<typeof layout>[0]> = {},
  ) =>
    c.html(
      layout({
        title,
        base: c.get('base'),
        path: new URL(c.req.url).pathname.slice(c.get('base').length).replace(/\/$/, '') || '/',
        csrf: c.get('session').csrf,
        strict,
        body,
        ...extra,
      }),
    );

  const onError = (err: Error, c: Context<Env>) => {
    const error = toAgentSecretsError(err);
    const status =
      error.code === 'usage_error'
        ? 400
        : error.code === 'not_found'
          ? 404
          : httpStatusOf(error.code);
    const session = c.get('session') as Session | undefined;
    if (session === undefined)
      return c.json({ error: error.code, message: error.message }, status as 400);
    const base = sessionBase(session);
    const body = html`<p class="bad">${error.code}: ${error.message}</p>
      <p><a href="${base}/">Back to the dashboard</a></p>`;
    return c.html(
      layout({ title: 'Refused', base, path: '', csrf: session.csrf, strict, body }),
      status as 400,
    );
  };
  app.onError(onError);
  s.onError(onError);

  // A stream outlives the request that opened it: it ends when its session does.
  const alive = (c: Context<Env>) => auth.session(c.get('session').id) !== undefined;

  const filtersOf = (c: Context<Env>) => {
    const raw: Record<string, string> = {};
    for (const name of FILTER_FIELDS) {
      const v = c.req.query(name);
      if (v !== undefined && v !== '') raw[name] = v;
    }
    const query = new URLSearchParams(raw).toString();
    return { raw, query, filter: actions.filterFrom(raw) };
  };

  s.get('/', async (c) =>
    page(
      c,
      'Overview',
      overviewBody(
        options.chain(),
        teamFreshness(await services.workspaces.currentWorkspace(), (options.now ?? Date.now)()),
      ),
      { scripts: ['/static/uplot.js'], styles: ['/static/uplot.css'] },
    ),
  );
  s.get('/api/overview', (c) =>
    c.json({ ...index.overview(), ready: index.ready, chain: options.chain() }),
  );

  s.get('/activity', async (c) => {
    const { raw, query, filter } = filtersOf(c);
    const before = decodeCursor(c.req.query('before'));
    const result = await activityPage(auditDir, filter, PAGE_SIZE, before);
    return page(
      c,
      'Activity',
      activityBody(
        c.get('base'),
        before === undefined ? raw : { ...raw, until: before.timestamp },
        result,
        query,
      ),
    );
  });
  s.get('/api/activity', async (c) => {
    const { filter } = filtersOf(c);
    return c.json(
      await activityPage(auditDir, filter, PAGE_SIZE, decodeCursor(c.req.query('before'))),
    );
  });
  s.get('/activity/:id', async (c) => {
    const id = c.req.param('id');
    if (!/^[\w-]+$/.test(id)) throw new AgentSecretsError('bad_request', 'not an entry id');
    const found = await locateEntry(auditDir, id);
    if (found === undefined)
      throw new AgentSecretsError('not_found', `no entry ${id} in the audit log`);
    return page(c, `Entry ${id}`, entryBody(c.get('base'), found));
  });
  s.get('/api/events', (c) => {
    const { filter } = filtersOf(c);
    return streamSSE(c, async (stream) => {
      const queued: AuditEntry[] = [];
      let wake: (() => void) | undefined;
      const stop = options.feed.subscribe((entry) => {
        if (!matchesFilter(entry, filter as AuditFilter)) return;
        queued.push(entry);
        wake?.();
      });
      stream.onAbort(() => {
        stop();
        wake?.();
      });
      // Tells the page it is subscribed: anything written to the log from now on comes here.
      await stream.writeSSE({ event: 'ready', data: '' });
      while (!stream.aborted && alive(c)) {
        while (queued.length > 0)
          await stream.writeSSE({ event: 'entry', data: JSON.stringify(queued.shift()) });
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 15_000);
        });
        if (queued.length === 0 && !stream.aborted)
          await stream.writeSSE({ event: 'ping', data: '' });
      }
      stop();
    });
  });

  s.get('/approvals', async (c) =>
    page(
      c,
      'Approvals',
      approvalsBody(
        c.get('base'),
        { shown: queue.pending().slice(0, PENDING_SHOWN), total: queue.pending().length },
        await options.approvals.read(),
        c.get('session').csrf,
        strict,
      ),
    ),
  );
  s.get('/api/approvals', (c) => c.json(queue.pending().slice(0, PENDING_SHOWN)));
  // A snapshot (the first PENDING_SHOWN and the count), then one event per change: a page is
  // not sent the whole list again each time a call is held or decided.
  s.get('/api/approvals/events', (c) =>
    streamSSE(c, async (stream) => {
      const queued: ApprovalEvent[] = [];
      let wake: (() => void) | undefined;
      const stop = queue.subscribe((event) => {
        queued.push(event);
        wake?.();
      });
      stream.onAbort(() => {
        stop();
        wake?.();
      });
      const all = queue.pending();
      await stream.writeSSE({
        event: 'snapshot',
        data: JSON.stringify({ total: all.length, pending: all.slice(0, PENDING_SHOWN) }),
      });
      while (!stream.aborted && alive(c)) {
        while (queued.length > 0) {
          const event = queued.shift()!;
          const total = queue.pending().length;
          await stream.writeSSE(
            event.type === 'held'
              ? { event: 'held', data: JSON.stringify({ total, approval: event.approval }) }
              : { event: 'decided', data: JSON.stringify({ total, id: event.approval.id }) },
          );
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 15_000);
        });
        if (queued.length === 0 && !stream.aborted)
          await stream.writeSSE({ event: 'ping', data: '' });
      }
      stop();
    }),
  );
  s.post('/approvals/:id', async (c) => {
    const form = await c.req.parseBody();
    const decision = String(form.decision ?? '');
    if (!['approve_once', 'approve_and_allow', 'approve_and_bind', 'deny'].includes(decision))
      throw new AgentSecretsError(
        'bad_request',
        'decision is approve_once, approve_and_allow, approve_and_bind or deny',
      );
    const id = c.req.param('id');
    const waiting = queue.pending().find((p) => p.id === id);
    if (waiting === undefined)
      throw new AgentSecretsError(
        'not_found',
        `no call ${id} is waiting (it was decided or timed out)`,
      );
    let effective = decision as ApprovalDecision;
    if (decision === 'approve_and_allow') {
      if (waiting.reason !== 'unlisted')
        throw new AgentSecretsError(
          'bad_request',
          `${waiting.host} is in the allowlist already: approve once or deny`,
        );
      // The add comes first, by the CLI's own command (in strict mode with the passphrase typed
      // here, re-sealing the workspace), so the decision below is logged only once it happened.
      // To the call's own workspace, whichever is selected now.
      await actions.allowlistAdd(waiting.host, passphraseOf(form), waiting.workspace_id);
      // The approval gate's own add refuses in strict mode (it has no passphrase); the domain
      // is listed now, so the call is approved once (audited as approval_granted, after the
      // strict gate's entry for the add).
      if (strict) effective = 'approve_once';
    } else
      await actions.approveStrict(
        passphraseOf(form),
        `${decision} ${waiting.method} ${waiting.host}${waiting.path} for ${waiting.agent ?? 'an anonymous caller'}`,
      );
    await queue.decide(id, effective, `dashboard:${c.get('session').id.slice(0, 6)}`);
    return c.redirect(`${c.get('base')}/approvals`, 303);
  });
  s.post('/approval-rules/add', async (c) => {
    const form = await c.req.parseBody();
    const field = (name: string) => {
      const v = typeof form[name] === 'string' ? form[name].trim() : '';
      return v === '' ? {} : { [name]: v };
    };
    await actions.approvalRuleAdd(
      { ...field('workspace'), ...field('agent'), ...field('secret'), ...field('domain') },
      passphraseOf(form),
    );
    return c.redirect(`${c.get('base')}/approvals`, 303);
  });
  s.post('/approval-rules/remove', async (c) => {
    const form = await c.req.parseBody();
    await actions.approvalRuleRemove(String(form.rule ?? ''), passphraseOf(form));
    return c.redirect(`${c.get('base')}/approvals`, 303);
  });
  s.post('/approval-config', async (c) => {
    const form = await c.req.parseBody();
    const ask = String(form.ask_unlisted ?? '');
    const timeout = String(form.timeout ?? '').trim();
    await actions.approvalsConfig(
      {
        ...(ask === '' ? {} : { askUnlisted: ask }),
        ...(timeout === '' ? {} : { timeout }),
      },
      passphraseOf(form),
    );
    return c.redirect(`${c.get('base')}/approvals`, 303);
  });

  s.get('/agents', async (c) => {
    const workspace = await services.workspaces.currentWorkspace();
    const agents = (await createAgentStore(services.config.paths).read()).agents.filter(
      (a) => a.workspace_id === workspace.id,
    );
    return page(
      c,
      'Agents',
      agentsBody(
        c.get('base'),
        workspace,
        agents,
        { token: index.tokenUsage, agent: index.agentUsage },
        c.get('session').csrf,
        strict,
        new Date(),
      ),
    );
  });
  s.post('/agents/issue', async (c) => {
    const form = await c.req.parseBody();
    const agent = String(form.agent ?? '');
    const label = String(form.label ?? '');
    const ttl = String(form.ttl ?? '');
    const out = await actions.tokenIssue(
      agent,
      { ...(label === '' ? {} : { label }), ...(ttl === '' ? {} : { ttl }) },
      passphraseOf(form),
    );
    return page(
      c,
      'Token issued',
      resultBody(`agent ${agent}`, out.notices, `${c.get('base')}/agents`, out.line),
    );
  });
  s.post('/agents/revoke', async (c) => {
    const form = await c.req.parseBody();
    await actions.tokenRevoke(
      String(form.token ?? ''),
      String(form.agent ?? ''),
      passphraseOf(form),
    );
    return c.redirect(`${c.get('base')}/agents`, 303);
  });

  s.get('/allowlist', async (c) => {
    const workspace = await services.workspaces.currentWorkspace();
    const records = await services.vault.list({ workspace_id: workspace.id });
    return page(
      c,
      'Allowlist',
      allowlistBody(c.get('base'), workspace, records, c.get('session').csrf, strict),
    );
  });
  s.post('/allowlist/add', async (c) => {
    const form = await c.req.parseBody();
    await actions.allowlistAdd(String(form.domain ?? ''), passphraseOf(form));
    return c.redirect(`${c.get('base')}/allowlist`, 303);
  });
  s.post('/allowlist/remove', async (c) => {
    const form = await c.req.parseBody();
    await actions.allowlistRemove(String(form.domain ?? ''), passphraseOf(form));
    return c.redirect(`${c.get('base')}/allowlist`, 303);
  });
  s.post('/bindings/set', async (c) => {
    const form = await c.req.parseBody();
    await actions.bindingSet(
      {
        ...bindingTarget(form),
        domains: String(form.domains ?? '')
          .split(/[\s,]+/)
          .filter((d) => d !== ''),
        styles: String(form.styles ?? '').trim(),
      },
      passphraseOf(form),
    );
    return c.redirect(`${c.get('base')}/allowlist`, 303);
  });
  s.post('/bindings/remove', async (c) => {
    const form = await c.req.parseBody();
    await actions.bindingRemove(bindingTarget(form), passphraseOf(form));
    return c.redirect(`${c.get('base')}/allowlist`, 303);
  });

  app.route('/s/:key', s);
  // Anything else (an old bookmark, the address a timeout message names): the login is needed.
  app.all('*', notLoggedIn);

  const server = createAdaptorServer({ fetch: app.fetch, hostname: '127.0.0.1' }) as Server;
  return {
    app,
    server,
    async listen(wanted: number): Promise<number> {
      port = (await listenOn(server, wanted, '127.0.0.1')).port;
      return port;
    },
    async close(): Promise<void> {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function bindingTarget(form: Record<string, unknown>) {
  return {
    key: String(form.key ?? ''),
    project: String(form.project ?? ''),
    environment: String(form.environment ?? ''),
  };
}

function passphraseOf(form: Record<string, unknown>): string | undefined {
  return typeof form.passphrase === 'string' && form.passphrase !== ''
    ? form.passphrase
    : undefined;
}
