import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import type { SeenRequest } from './upstream.js';

/**
 * A local HTTPS server that presents real API host names (api.openai.com, api.stripe.com,
 * api.github.com) with a certificate from a test CA, on port 443 of a random loopback
 * address, so SDKs configured only by their key variable reach it through
 * AGENTSECRETS_RESOLVE. It echoes requests as JSON, and serves a real git repository
 * (git http-backend) under /git/ behind authentication with `gitPassword` (Basic or Bearer).
 * Port 443 is what SDKs configured only by their key variable call; binding it needs root (or
 * CAP_NET_BIND_SERVICE), which CI has (.ci/run installs packages with apt-get).
 */
export interface ApiUpstream {
  readonly address: string;
  readonly seen: SeenRequest[];
  close(): Promise<void>;
}

/** A random 127.x.y.z address (not 127.0.0.1), so parallel runs do not collide on :443. */
export function randomLoopback(): string {
  return `127.${randomInt(1, 250)}.${randomInt(1, 250)}.${randomInt(2, 250)}`;
}

/** Makes a bare repository with one commit (a file `hello.txt`) under `dir`. */
export function makeGitRepository(dir: string): string {
  const bare = join(dir, 'repo.git');
  const work = join(dir, 'work');
  mkdirSync(work, { recursive: true });
  const git = (args: string[], cwd = dir) => execFileSync('git', args, { cwd, stdio: 'pipe' });
  git(['init', '-q', '--bare', bare]);
  git(['init', '-q', work]);
  writeFileSync(join(work, 'hello.txt'), 'hello from the test repository\n');
  git(['add', 'hello.txt'], work);
  git(['-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'init'], work);
  git(['push', '-q', bare, 'HEAD:refs/heads/main'], work);
  git(['symbolic-ref', 'HEAD', 'refs/heads/main'], bare);
  return dir;
}

/** Starts the upstream on `address`:443. */
export async function startApiUpstream(options: {
  address: string;
  key: string;
  cert: string;
  gitRoot: string;
  gitPassword: string;
}): Promise<ApiUpstream> {
  const seen: SeenRequest[] = [];
  const server = createServer({ key: options.key, cert: options.cert }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: body.toString('utf8'),
      });
      if (req.url?.startsWith('/git/') === true) return gitBackend(req, res, body, options);
      const text = JSON.stringify({
        object: 'echo',
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: body.toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(text);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(443, options.address, () => resolve());
  });
  return {
    address: options.address,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function gitBackend(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  options: { gitRoot: string; gitPassword: string },
): void {
  const auth = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
  const pair = auth === null ? '' : Buffer.from(auth[1]!, 'base64').toString('utf8');
  const bearer = req.headers.authorization === `Bearer ${options.gitPassword}`;
  if (!bearer && pair.slice(pair.indexOf(':') + 1) !== options.gitPassword) {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="git"', 'content-length': '0' });
    return void res.end();
  }
  const url = new URL(req.url ?? '/', 'https://upstream.invalid');
  const child = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: options.gitRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: url.pathname.slice('/git'.length),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      CONTENT_LENGTH: String(body.length),
      REMOTE_USER: 'tester',
      ...(req.headers['content-encoding'] === undefined
        ? {}
        : { HTTP_CONTENT_ENCODING: String(req.headers['content-encoding']) }),
      ...(req.headers['git-protocol'] === undefined
        ? {}
        : { GIT_PROTOCOL: String(req.headers['git-protocol']) }),
    },
  });
  const out: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  // http-backend may exit before reading a body it does not need (EPIPE is expected then).
  child.stdin.on('error', () => undefined);
  child.stdin.end(body);
  child.on('close', () => {
    const all = Buffer.concat(out);
    const split = all.indexOf('\r\n\r\n');
    const headerText = all.subarray(0, split).toString('latin1');
    const headers: Record<string, string> = {};
    let status = 200;
    for (const line of headerText.split('\r\n')) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
      else if (name !== '') headers[name] = value;
    }
    res.writeHead(status, headers);
    res.end(all.subarray(split + 4));
  });
}
