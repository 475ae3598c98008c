import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FORMS, type Served, text } from './hostile-forms.js';
import { startUpstream, type Upstream } from './upstream.js';

export { FORMS, type Served, zipArchive } from './hostile-forms.js';

/**
 * A hostile, allowlisted API for redaction tests: it STORES what it receives (a body field
 * `v`, the bearer, every request header) under a slot, and serves it back later in many
 * forms, in slices, compressed, archived or re-encoded. Nothing here knows a value in advance:
 * whatever an agent makes it receive is what it can return.
 */

/** A canary with one of `+/=&<>"'%#` after every three hex digits: no 12-byte run is plain. */
export function hostileCanary(label: string): string {
  const hex = randomBytes(12).toString('hex');
  const specials = ['+', '/', '=', '&', '<', '>', '"', "'", '%', '#'];
  let out = label;
  for (let i = 0; i < hex.length; i += 3) out += hex.slice(i, i + 3) + specials[(i / 3) % 10];
  return out;
}

/** One stored request. */
export interface Stored {
  value: string;
  /** The request target as received (query string included). */
  url: string;
  /** Request headers as the server saw them: names and raw (Latin-1 read) values. */
  rawHeaders: string[];
}

/** The hostile upstream and what it has stored. */
export interface HostileUpstream extends Upstream {
  readonly store: Map<string, Stored>;
}

function bearer(req: IncomingMessage): string {
  const raw = headerBytes(req, 'authorization').toString('utf8');
  return raw.replace(/^Bearer /, '');
}

/** A request header's bytes as they came off the wire. */
export function headerBytes(req: IncomingMessage, name: string): Buffer {
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === name)
      return Buffer.from(req.rawHeaders[i + 1]!, 'latin1');
  }
  return Buffer.alloc(0);
}

function logOf(stored: Stored): Record<string, string> {
  const log: Record<string, string> = {};
  for (let i = 0; i < stored.rawHeaders.length; i += 2)
    log[stored.rawHeaders[i]!] = stored.rawHeaders[i + 1]!;
  return log;
}

function send(res: ServerResponse, served: Served, status = 200): void {
  const headers: Record<string, string> = { ...served.headers };
  if (served.transfer !== undefined) headers['transfer-encoding'] = `${served.transfer}, chunked`;
  else headers['content-length'] = String(served.body.length);
  res.writeHead(status, headers);
  res.end(served.body);
}

/**
 * Routes:
 * - `/store/:slot`: keeps the body's `v` field (else the X-V header bytes, else the bearer)
 *   and every request header. Answers without echoing.
 * - `/read/:slot/:form`: the stored value in a form of FORMS; honours `Range: bytes=a-b`.
 * - `/half/:slot/:n[/:form]`: half n (0 or 1) of the stored value, raw or in a form, with no
 *   Range involved.
 * - `/headers/:slot`: the URL and request headers recorded by `/store/:slot`, as JSON (a
 *   request log).
 * - `/password/:slot`: the password of the Basic credential `/store/:slot` received.
 * - `/reflect/:form`: the X-Api-Key bytes of this very request, in a form.
 * - `/static/:name`: a fixed body from `statics` (benign responses, the PIN list).
 */
export async function startHostileUpstream(
  statics: Record<string, Served>,
): Promise<HostileUpstream> {
  const store = new Map<string, Stored>();
  const upstream = await startUpstream((req, res, body) => {
    const [, route, slot, arg, form] = new URL(req.url ?? '/', 'http://x').pathname.split('/');
    if (route === 'store') {
      let value = '';
      try {
        value = String((JSON.parse(body) as { v?: unknown }).v ?? '');
      } catch {
        // Not JSON: the value came in a header.
      }
      if (value === '') value = new URL(req.url ?? '/', 'http://x').searchParams.get('v') ?? '';
      if (value === '') value = headerBytes(req, 'x-v').toString('utf8');
      if (value === '') value = bearer(req);
      store.set(slot!, { value, url: req.url ?? '', rawHeaders: req.rawHeaders });
      return send(res, text('{"stored":true}', 'application/json'));
    }
    if (route === 'static') {
      const served = statics[slot!];
      return served === undefined ? send(res, text('no such'), 404) : send(res, served);
    }
    if (route === 'reflect') {
      const form = FORMS[slot!]!;
      return send(res, form(headerBytes(req, 'x-api-key').toString('utf8')));
    }
    const stored = store.get(slot!);
    if (stored === undefined) return send(res, text('nothing stored'), 404);
    if (route === 'half') {
      const cut = Math.floor(stored.value.length / 2);
      const half = arg === '0' ? stored.value.slice(0, cut) : stored.value.slice(cut);
      return send(res, form === undefined ? text(`part ${arg}: ${half}`) : FORMS[form]!(half));
    }
    if (route === 'password') {
      // The Basic credential the slot was stored with, decoded: the password on its own.
      const auth = logOf(stored).authorization ?? logOf(stored).Authorization ?? '';
      const pair = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString('utf8');
      return send(res, text(`{"password":"${pair.slice(pair.indexOf(':') + 1)}"}`));
    }
    if (route === 'headers') {
      const log = { url: stored.url, headers: logOf(stored) };
      return send(res, text(JSON.stringify({ request_log: log }), 'application/json'));
    }
    const served = FORMS[arg ?? 'raw']!(stored.value);
    const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
    if (range !== null) {
      const slice = served.body.subarray(Number(range[1]), Number(range[2]) + 1);
      res.writeHead(206, {
        'content-range': `bytes ${range[1]}-${range[2]}/${served.body.length}`,
        'content-length': String(slice.length),
      });
      return void res.end(slice);
    }
    return send(res, served);
  });
  return Object.assign(upstream, { store });
}
