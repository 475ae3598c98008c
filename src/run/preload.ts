/**
 * Loaded into Node children of `agentsecrets run` through NODE_OPTIONS (--import), because
 * Node 20 ignores HTTPS_PROXY: routes `fetch`/undici through undici's EnvHttpProxyAgent
 * (which reads HTTP(S)_PROXY and NO_PROXY, proxy credentials included), and makes every
 * `https.Agent` (the global one and those SDKs create themselves, e.g. Stripe's) open its
 * connections through a CONNECT tunnel to the same proxy. Does nothing outside a run.
 */
import { request as httpRequest } from 'node:http';
import * as https from 'node:https';
import type { Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { EnvHttpProxyAgent, setGlobalDispatcher } from 'undici';

const proxyText = process.env.HTTPS_PROXY ?? process.env.https_proxy;
if (process.env.AGENTSECRETS_RUN_ID !== undefined && proxyText !== undefined && proxyText !== '') {
  install(new URL(proxyText), process.env.NO_PROXY ?? process.env.no_proxy ?? '');
}

function install(proxy: URL, noProxy: string): void {
  setGlobalDispatcher(new EnvHttpProxyAgent());
  const bypass = noProxy
    .split(',')
    .map((e) => e.trim().toLowerCase())
    .filter((e) => e !== '');
  const skip = (host: string) =>
    bypass.some(
      (e) =>
        e === '*' || e === host || (e.startsWith('.') ? host.endsWith(e) : host.endsWith(`.${e}`)),
    );
  const auth =
    proxy.username === ''
      ? undefined
      : `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
  type Callback = (err: Error | null, socket?: Socket) => void;
  const original = https.Agent.prototype.createConnection as unknown as (
    this: https.Agent,
    options: ConnectionOptions & { host?: string; port?: number },
    callback?: Callback,
  ) => Socket | undefined;
  const patched = function (
    this: https.Agent,
    options: ConnectionOptions & { host?: string; port?: number },
    callback?: Callback,
  ): Socket | undefined {
    const host = (options.host ?? 'localhost').replace(/^\[|\]$/g, '');
    const port = options.port ?? 443;
    if (skip(host.toLowerCase()) || callback === undefined) {
      return original.call(this, options, callback);
    }
    const authority = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const connect = httpRequest({
      host: proxy.hostname.replace(/^\[|\]$/g, ''),
      port: Number(proxy.port || 80),
      method: 'CONNECT',
      path: authority,
      agent: false,
      headers: { host: authority, ...(auth === undefined ? {} : { 'proxy-authorization': auth }) },
    });
    connect.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        callback(
          new Error(`the agentsecrets run proxy refused CONNECT ${authority} (${res.statusCode})`),
        );
        return;
      }
      const tls = tlsConnect({ ...options, socket, servername: options.servername ?? host });
      callback(null, tls);
    });
    connect.once('error', (err) => callback(err));
    connect.end();
    return undefined;
  };
  (https.Agent.prototype as unknown as { createConnection: typeof patched }).createConnection =
    patched;
}
