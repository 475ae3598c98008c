import { spawn } from 'node:child_process';
import { writeFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AgentSecretsError } from '../../core/errors.js';
import { postToKeyHolder } from '../../proxy/key-holder.js';
import { findKeyHolder } from '../../proxy/state.js';
import type { CliContext } from '../context.js';

/** The running key holder's socket, or an error that says how to start one. */
export async function keyHolderSocket(ctx: CliContext): Promise<string> {
  const holder = await findKeyHolder(ctx.config.paths);
  if (holder === undefined)
    throw new AgentSecretsError(
      'not_found',
      'the dashboard is served by the key holder, and none is running: start it with `agentsecrets proxy start`, then run this again',
    );
  return holder.socket;
}

/** True when a browser can be shown: macOS and Windows always, elsewhere with a display. */
export function hasDisplay(
  platform: NodeJS.Platform,
  env: Record<string, string | undefined>,
): boolean {
  if (platform === 'darwin' || platform === 'win32') return true;
  return (env.DISPLAY ?? '') !== '' || (env.WAYLAND_DISPLAY ?? '') !== '';
}

/** `dashboard`: asks the key holder to serve the dashboard and prints a one-time login URL. */
export async function dashboardOpen(
  ctx: CliContext,
  options: { port?: string; open?: boolean; json?: boolean },
): Promise<void> {
  let port: number | null = null;
  if (options.port !== undefined) {
    port = Number(options.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new AgentSecretsError('usage_error', '--port takes a port number (0 picks a free one)');
  }
  const answer = await postToKeyHolder(await keyHolderSocket(ctx), '/v1/dashboard/start', { port });
  const loginUrl = String(answer.login_url);
  if (port !== null && port !== 0 && answer.port !== port)
    ctx.out.notice(
      `the dashboard was already serving on port ${String(answer.port)}; --port applies when the key holder starts it`,
    );
  const open = options.open !== false && hasDisplay(process.platform, ctx.config.env);
  // The browser is opened on a file that posts the token: a URL holding it would sit in the
  // opener's and the browser's command lines, which every user of the machine can read.
  if (open) openBrowser(pathToFileURL(await writeLoginFile(ctx, loginUrl)).href);
  if (options.json) return ctx.out.json({ url: answer.url, login_url: loginUrl, opened: open });
  ctx.out.line(loginUrl);
  ctx.out.notice(
    `The dashboard is at ${String(answer.url)} (127.0.0.1 only, served by the key holder). The login URL above works once, for 5 minutes${open ? '; a browser was opened with it' : ''}.`,
  );
  // A program of this user can open a look-alike page on another port (or swap the login
  // file) to collect the passphrase typed next to a decision: the port is the human's check.
  if (await ctx.strict())
    ctx.out.notice(
      `strict mode: the dashboard asks for the vault passphrase with each change. Type it only on a page whose address bar shows 127.0.0.1:${String(answer.port)}/s/…; any other page asking for it is not agentsecrets.`,
    );
}

/** Writes the 0600 login page (state folder) that posts the one-time token to the dashboard. */
async function writeLoginFile(ctx: CliContext, loginUrl: string): Promise<string> {
  const url = new URL(loginUrl);
  const token = url.searchParams.get('token') ?? '';
  const action = `${url.origin}/login`;
  const attr = (v: string) =>
    v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const path = join(ctx.config.paths.home, 'dashboard-login.html');
  await rm(path, { force: true });
  await writeFile(
    path,
    `<!doctype html><meta charset="utf-8"><title>agentsecrets dashboard</title>
<form method="post" action="${attr(action)}"><input type="hidden" name="token" value="${attr(token)}"><button>Open the dashboard</button></form>
<script>document.forms[0].submit()</script>
`,
    { mode: 0o600, flag: 'wx' },
  );
  return path;
}

function openBrowser(url: string): void {
  const [command, args] =
    process.platform === 'darwin'
      ? ['open', [url]]
      : process.platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(command, args as string[], { detached: true, stdio: 'ignore' });
    child.on('error', () => undefined);
    child.unref();
  } catch {
    // No opener: the URL is printed anyway.
  }
}
