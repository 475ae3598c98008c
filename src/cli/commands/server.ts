import { join } from 'node:path';
import { UsageError } from '../../core/errors.js';
import { parseCidrList } from '../../proxy/ssrf.js';
import { KEY_FILE_NAME, loadOrCreateJwtKey } from '../../server/key-file.js';
import type { ServerStore } from '../../server/store.js';
import type { CliContext } from '../context.js';

/** `server start`: the self-hosted sync server, in the foreground, until SIGINT or SIGTERM. */
export async function serverStart(
  ctx: CliContext,
  options: {
    port: string;
    host: string;
    store: string;
    databaseUrl?: string;
    data?: string;
    signup: string;
    trustProxy?: string;
  },
): Promise<number> {
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new UsageError('--port must be a port number (0 picks a free one)');
  if (options.signup !== 'open' && options.signup !== 'invite')
    throw new UsageError('--signup is open or invite');
  const dataDir = options.data ?? join(ctx.config.paths.home, 'server');
  const keyPath = ctx.config.env.AGENTSECRETS_SERVER_KEY_FILE ?? join(dataDir, KEY_FILE_NAME);
  const jwtPrivatePem = await loadOrCreateJwtKey(keyPath);
  const store = await openStore(ctx, options);
  await store.init();
  const { startServer } = await import('../../server/runtime.js');
  const server = await startServer({
    store,
    port,
    host: options.host,
    signup: options.signup,
    jwtPrivatePem,
    ...(options.trustProxy === undefined ? {} : { trustProxy: parseCidrList(options.trustProxy) }),
  });
  ctx.out.notice(`sync server on ${server.url} (store: ${store.kind}, sign-up: ${options.signup})`);
  if (!['127.0.0.1', '::1', 'localhost'].includes(options.host))
    ctx.out.warn(
      `listening on ${options.host}: put it behind TLS (a reverse proxy); clients refuse plain http except on loopback`,
    );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  await store.close();
  return 0;
}

async function openStore(
  ctx: CliContext,
  options: { store: string; databaseUrl?: string; data?: string },
): Promise<ServerStore> {
  if (options.store === 'postgres') {
    const url = options.databaseUrl ?? ctx.config.env.AGENTSECRETS_DATABASE_URL;
    if (url === undefined || url === '')
      throw new UsageError(
        '--store postgres needs --database-url URL or AGENTSECRETS_DATABASE_URL (e.g. postgres://user@127.0.0.1:5432/agentsecrets)',
      );
    const { createPostgresStore } = await import('../../server/store-postgres.js');
    return createPostgresStore({ url });
  }
  if (options.store !== 'file') throw new UsageError('--store is file or postgres');
  const { createFileStore } = await import('../../server/store-file.js');
  return createFileStore({ dir: options.data ?? join(ctx.config.paths.home, 'server') });
}
