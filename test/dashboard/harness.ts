import { request } from 'node:http';
import { createAuditWriter } from '../../src/audit/writer.js';
import { createDashboardActions } from '../../src/cli/dashboard-actions.js';
import { createDashboardAuth } from '../../src/dashboard/auth.js';
import { startAuditFeed } from '../../src/dashboard/feed.js';
import { createOverviewIndex } from '../../src/dashboard/index.js';
import { createDashboardServer } from '../../src/dashboard/server.js';
import { createApprovalsStore } from '../../src/policy/approvals.js';
import {
  type ApprovalLimits,
  createApprovalQueue,
  type ApprovalQueue,
} from '../../src/policy/approvals-queue.js';
import type { Services } from '../../src/services/index.js';
import { makeWorkspace, type WorkspaceOptions } from '../helpers/proxy-fixture.js';

/**
 * The dashboard server in this process, over a real state folder (the in-memory key provider),
 * with the CLI's own actions, a real audit writer and approval queue, on a real port. The
 * spawned key holder serves the same server (browser.test.ts); this one lets a test inject what
 * the key holder never does: the pre-fix session cookie, a clock.
 */

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request as curl would send it: any Host, Origin and Cookie the caller chooses. */
export function http(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: options.method ?? 'GET',
        headers: { host: `127.0.0.1:${port}`, ...options.headers },
      },
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

export interface Harness {
  url: string;
  port: number;
  home: string;
  services: Services;
  queue: ApprovalQueue;
  /** A one-time login URL, as `agentsecrets dashboard` prints it. */
  loginUrl(): string;
  /** Logs in without a browser: the session's cookie, base path and CSRF token. */
  login(): Promise<Session>;
  close(): Promise<void>;
}

export interface Session {
  cookie: string;
  base: string;
  csrf: string;
  /** A form post to `${base}${path}` with the session's cookie, CSRF token and Origin. */
  post(path: string, fields: Record<string, string>): Promise<HttpResult>;
  get(path: string): Promise<HttpResult>;
}

export async function startHarness(
  options: {
    workspace?: WorkspaceOptions;
    unsafePortAgnosticCookie?: boolean;
    now?: () => number;
    /** The sessions' clock (ms). */
    authNow?: () => number;
    /** The queue's caps (default: the key holder's 5 per caller, 50 in all). */
    queueLimits?: ApprovalLimits;
    /** Changes the state folder before the server starts (a team workspace, say). */
    prepare?: (services: Services) => Promise<void>;
  } = {},
): Promise<Harness> {
  const ws = await makeWorkspace(options.workspace);
  const { services } = ws;
  await options.prepare?.(services);
  const vault = await services.vault.unlock();
  const paths = services.config.paths;
  const writer = createAuditWriter({ dir: paths.auditDir, fsync: 'never' });
  const queue = createApprovalQueue({
    audit: writer,
    ...(options.queueLimits === undefined ? {} : { limits: options.queueLimits }),
  });
  const feed = startAuditFeed(paths.auditDir);
  const auth = createDashboardAuth(options.authNow);
  const server = createDashboardServer({
    services,
    strict: false,
    actions: createDashboardActions({ services, vault, strict: false }),
    auth,
    index: createOverviewIndex(),
    feed,
    queue,
    approvals: createApprovalsStore(paths),
    chain: () => ({ text: 'not checked in this test', ok: null }),
    ...(options.unsafePortAgnosticCookie ? { unsafePortAgnosticCookie: true } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const port = await server.listen(0);
  const url = `http://127.0.0.1:${port}`;
  const loginUrl = () => `${url}/login?token=${auth.issueLogin()}`;
  return {
    url,
    port,
    home: ws.home,
    services,
    queue,
    loginUrl,
    async login() {
      const login = new URL(loginUrl());
      const r = await http(port, login.pathname + login.search);
      const location = String(r.headers.location);
      const cookie = String(r.headers['set-cookie']).split(';')[0]!;
      const base = location.replace(/\/$/, '');
      const home = await http(port, `${base}/allowlist`, { headers: { cookie } });
      const csrf = /name="csrf-token" content="([^"]+)"/.exec(home.body)![1]!;
      const session: Session = {
        cookie,
        base,
        csrf,
        get: (path) => http(port, `${base}${path}`, { headers: { cookie } }),
        post: (path, fields) =>
          http(port, `${base}${path}`, {
            method: 'POST',
            headers: {
              cookie,
              origin: url,
              'content-type': 'application/x-www-form-urlencoded',
            },
            body: new URLSearchParams({ _csrf: csrf, ...fields }).toString(),
          }),
      };
      return session;
    },
    async close() {
      queue.close();
      feed.close();
      await server.close();
      await writer.close();
      vault.close();
    },
  };
}
