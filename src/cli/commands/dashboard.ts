import { spawn } from 'node:child_process';
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
  if (open) openBrowser(loginUrl);
  if (options.json) return ctx.out.json({ url: answer.url, login_url: loginUrl, opened: open });
  ctx.out.line(loginUrl);
  ctx.out.notice(
    `The dashboard is at ${String(answer.url)} (127.0.0.1 only, served by the key holder). The login URL above works once, for 5 minutes${open ? '; a browser was opened with it' : ''}.`,
  );
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
