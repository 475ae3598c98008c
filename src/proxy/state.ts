import { readFile, rm } from 'node:fs/promises';
import type { Paths } from '../core/config.js';
import { bool, num, obj, optStr, str } from '../core/validate.js';
import { isErrno, isProcessAlive, writeFileAtomic } from '../store/fs.js';
import { keyHolderAlive } from './key-holder.js';

/** proxy.json: how to reach a running proxy (DESIGN §4). Mode 0600: it holds the session token. */
export interface ProxyState {
  pid: number;
  host: string;
  port: number;
  socket: string;
  session_token: string | null;
  no_session_token: boolean;
  started_at: string;
  version: string;
  /** The intercepting proxy's port for `run` children (issue 13), when it serves one. */
  intercept_port?: number | null;
}

/** Writes proxy.json atomically with mode 0600. */
export async function writeProxyState(paths: Paths, state: ProxyState): Promise<void> {
  await writeFileAtomic(paths.proxy, `${JSON.stringify(state, null, 2)}\n`);
}

/** Reads proxy.json; undefined when absent or unreadable. */
export async function readProxyState(paths: Paths): Promise<ProxyState | undefined> {
  let text: string;
  try {
    text = await readFile(paths.proxy, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
  try {
    const s = obj(JSON.parse(text), 'proxy');
    return {
      pid: num(s.pid, 'pid'),
      host: str(s.host, 'host'),
      port: num(s.port, 'port'),
      socket: str(s.socket, 'socket'),
      session_token: optStr(s.session_token, 'session_token') ?? null,
      no_session_token: bool(s.no_session_token, 'no_session_token'),
      started_at: str(s.started_at, 'started_at'),
      version: str(s.version, 'version'),
      intercept_port: typeof s.intercept_port === 'number' ? s.intercept_port : null,
    };
  } catch {
    return undefined;
  }
}

/** Removes proxy.json if it still describes the given pid. */
export async function clearProxyState(paths: Paths, pid: number): Promise<void> {
  const current = await readProxyState(paths);
  if (current === undefined || current.pid === pid) await rm(paths.proxy, { force: true });
}

/** The running key holder, if proxy.json names a live process whose socket answers. */
export async function findKeyHolder(paths: Paths): Promise<ProxyState | undefined> {
  const state = await readProxyState(paths);
  if (state === undefined || !isProcessAlive(state.pid)) return undefined;
  return (await keyHolderAlive(state.socket)) ? state : undefined;
}
