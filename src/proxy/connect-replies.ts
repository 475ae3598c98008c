import type { Duplex } from 'node:stream';
import { AgentSecretsError } from '../core/errors.js';

/** Replies the intercepting proxy writes on raw sockets (CONNECT refusals, upgrades, h2). */

export function proxyAuthError(): AgentSecretsError {
  return new AgentSecretsError(
    'invalid_session',
    'this proxy serves programs started by `agentsecrets run`, which puts the run token in HTTPS_PROXY; start the program with `agentsecrets run -- CMD`',
  );
}

export function badAuthority(): AgentSecretsError {
  return new AgentSecretsError('bad_request', 'CONNECT needs host:port, e.g. api.example.com:443');
}

export function errorBody(error: AgentSecretsError): Record<string, unknown> {
  return { error: error.code, message: error.message, ...error.context };
}

/** Writes a complete HTTP/1.1 answer on a raw socket (CONNECT refusals) and closes it. */
export function writeRaw(
  socket: Duplex,
  status: number,
  body: Record<string, unknown>,
  extra: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  const reasons: Record<number, string> = {
    400: 'Bad Request',
    403: 'Forbidden',
    407: 'Proxy Authentication Required',
    501: 'Not Implemented',
    502: 'Bad Gateway',
    505: 'HTTP Version Not Supported',
  };
  const reason = reasons[status];
  const headers = {
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(text)),
    ...(typeof body.error === 'string' ? { 'X-AS-Error': body.error } : {}),
    Connection: 'close',
    ...extra,
  };
  socket.end(
    `HTTP/1.1 ${status} ${reason ?? 'Error'}\r\n${Object.entries(headers)
      .map(([n, v]) => `${n}: ${v}\r\n`)
      .join('')}\r\n${text}`,
  );
}

/** WebSocket (and other) upgrades are not intercepted: refuse them clearly. */
export function refuseUpgrade(socket: Duplex): void {
  writeRaw(socket, 501, {
    error: 'bad_request',
    message:
      'WebSocket and other protocol upgrades are not supported through `agentsecrets run`; only HTTP/1.1 requests are intercepted',
  });
}

/** HTTP/2 prior knowledge (the PRI preface) and malformed requests get a clear answer. */
export function refuseMalformed(err: Error & { rawPacket?: Buffer }, socket: Duplex): void {
  if (!socket.writable) return void socket.destroy();
  const h2 = err.rawPacket?.subarray(0, 14).toString('latin1') === 'PRI * HTTP/2.0';
  writeRaw(socket, h2 ? 505 : 400, {
    error: 'bad_request',
    message: h2
      ? 'HTTP/2 with prior knowledge is not supported through `agentsecrets run`; use HTTP/1.1 (TLS offers only http/1.1 in ALPN)'
      : 'malformed HTTP request',
  });
}
