import { randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Who may use the dashboard (issue 16). A one-time login token, printed by `agentsecrets
 * dashboard`, becomes a session of two halves: an HttpOnly, SameSite=Strict cookie, and a
 * random path secret every page lives under (`/s/<path>/…`). The cookie is scoped to that path:
 * browsers isolate cookies neither by port nor (for SameSite) between ports of 127.0.0.1, so a
 * cookie with `Path=/` would be sent to any other local server the browser visits (a dev
 * server an agent started), which could replay it. Scoped to a path it never learns, the
 * cookie goes nowhere else, and the path secret alone (in history, a screenshot) is not
 * enough either. Every change also needs the session's CSRF token and an Origin that is the
 * dashboard itself. Nothing is stored on disk: sessions end with the key holder.
 */

/** How long a printed login URL works. */
export const LOGIN_TTL_MS = 5 * 60_000;
/** How long a session lasts without use. */
export const SESSION_IDLE_MS = 3600_000;
/** How long a session lasts at most, used or not. */
export const SESSION_MAX_MS = 12 * 3600_000;

export const SESSION_COOKIE = 'as_dashboard';

export interface Session {
  /** The cookie's value. */
  id: string;
  /** The path secret: the session's pages live under `/s/<path>/`. */
  path: string;
  csrf: string;
  created: number;
  lastUsed: number;
}

/** Where a session's pages live (no trailing slash): `/s/<path secret>`. */
export function sessionBase(session: Session): string {
  return `/s/${session.path}`;
}

export interface DashboardAuth {
  /** A new one-time login token. */
  issueLogin(): string;
  /** Spends a login token; a session when it was valid. */
  login(token: string): Session | undefined;
  /**
   * The session whose cookie this is, while it is neither idle too long nor too old. It is
   * not marked used: that waits for the path check (`touch`).
   */
  session(cookie: string | undefined): Session | undefined;
  /** Marks a session used now (after every check passed). */
  touch(session: Session): void;
  /** True when `presented` (from the request's path) is this session's path secret. */
  checkPath(session: Session, presented: string | undefined): boolean;
  checkCsrf(session: Session, presented: string | undefined): boolean;
}

/** Creates the in-memory session table. */
export function createDashboardAuth(now: () => number = Date.now): DashboardAuth {
  const logins = new Map<string, number>();
  const sessions = new Map<string, Session>();
  const token = () => randomBytes(32).toString('base64url');
  return {
    issueLogin() {
      const t = token();
      logins.set(t, now() + LOGIN_TTL_MS);
      return t;
    },
    login(presented) {
      for (const [t, expires] of logins) if (expires < now()) logins.delete(t);
      let match: string | undefined;
      for (const t of logins.keys()) if (safeEqual(t, presented)) match = t;
      if (match === undefined) return undefined;
      logins.delete(match);
      const session = {
        id: token(),
        path: token(),
        csrf: token(),
        created: now(),
        lastUsed: now(),
      };
      sessions.set(session.id, session);
      return session;
    },
    session(cookie) {
      if (cookie === undefined) return undefined;
      const session = sessions.get(cookie);
      if (session === undefined) return undefined;
      if (now() - session.lastUsed > SESSION_IDLE_MS || now() - session.created > SESSION_MAX_MS) {
        sessions.delete(cookie);
        return undefined;
      }
      return session;
    },
    touch(session) {
      session.lastUsed = now();
    },
    checkPath(session, presented) {
      return presented !== undefined && safeEqual(session.path, presented);
    },
    checkCsrf(session, presented) {
      return presented !== undefined && safeEqual(session.csrf, presented);
    },
  };
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * The proxy's DNS-rebinding defence, for a browser-facing server: the Host must be a
 * loopback name on our port, and an Origin, when sent, must be this dashboard itself.
 */
export function checkHostAndOrigin(
  host: string | undefined,
  origin: string | undefined,
  port: number,
): string | undefined {
  const h = (host ?? '').toLowerCase();
  const allowed = [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`];
  if (!allowed.includes(h))
    return 'the dashboard answers only to loopback Host names (127.0.0.1, localhost, [::1]) on its own port';
  if (origin !== undefined && origin !== `http://${h}`)
    return 'requests from another origin are refused';
  return undefined;
}

/** The Content-Security-Policy of every page: our own scripts and styles only. */
export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');
