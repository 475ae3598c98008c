import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { type Logger, pino } from 'pino';
import { createApp } from './app.js';
import { createSessions } from './auth.js';
import type { CidrSet } from '../proxy/ssrf.js';
import type { ServerStore } from './store.js';

export interface ServerOptions {
  store: ServerStore;
  port: number;
  host: string;
  signup: 'open' | 'invite';
  logger?: Logger;
  now?: () => Date;
  /** The access-token signing key (PEM) from the key file; tests may leave it out. */
  jwtPrivatePem?: string;
  /** Reverse proxies whose forwarded client address is believed. */
  trustProxy?: CidrSet;
}

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Structured logs to stdout: request lines and lifecycle, never a body, key or token. */
export function serverLogger(): Logger {
  return pino(
    {
      base: { svc: 'agentsecrets-server' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['req.headers.authorization', '*.password', '*.auth_key', '*.refresh_token'],
        censor: '[REDACTED]',
      },
    },
    pino.destination({ dest: 1, sync: true }),
  );
}

/** Starts the sync server on `host:port` (0 for any free port) over an initialised store. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const logger = options.logger ?? serverLogger();
  const sessions = await createSessions(options.store, {
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.jwtPrivatePem === undefined ? {} : { jwtPrivatePem: options.jwtPrivatePem }),
  });
  const app = await createApp({
    store: options.store,
    sessions,
    logger,
    signup: options.signup,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }),
  });
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname: options.host }, () =>
      resolve(s),
    );
    s.once('error', reject);
  });
  // Slow or idle clients cannot hold connections open forever.
  const http = server as Server;
  http.headersTimeout = 15_000;
  http.requestTimeout = 120_000;
  http.keepAliveTimeout = 5_000;
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  logger.info({ url, store: options.store.kind, signup: options.signup }, 'listening');
  return {
    url,
    port: address.port,
    async close() {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeIdleConnections();
      });
      logger.info('stopped');
    },
  };
}
