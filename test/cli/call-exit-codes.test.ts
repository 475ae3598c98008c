import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canary, findLeaks } from '../helpers/canary.js';
import { runCli, runCliInPty } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/*
 * `call` exits like every other command (one mapping, src/cli/exit.ts; the table in
 * docs/reference.md): 2 for a malformed request, 4 when the vault cannot be unlocked, 1 for a
 * refusal or a non-2xx/3xx answer. Before the fix, `call` exited 1 on unlock_failed and
 * bad_request.
 */

const PASSPHRASE = 'call-exit-passphrase';
const SECRET = canary('CALL_EXIT');

describe('call exit codes agree with the README table', () => {
  let home: string;
  let upstream: Upstream;
  const env = { AGENTSECRETS_PASSPHRASE: PASSPHRASE, AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32' };
  const outputs: string[] = [];

  beforeAll(async () => {
    upstream = await startUpstream();
    home = await tempDir();
    const init = ['init', '--backend', 'passphrase', '--weak-kdf-for-tests'];
    expect((await runCli(init, { home, env })).code).toBe(0);
    expect((await runCli(['secrets', 'set', 'KNOWN'], { home, env, input: SECRET })).code).toBe(0);
    const allow = ['workspace', 'allowlist', 'add', `127.0.0.1:${upstream.port}`, '--yes'];
    expect((await runCliInPty(allow, { home, env })).code).toBe(0);
  });

  afterAll(async () => {
    await upstream?.close();
    expect(findLeaks(outputs.join('\n'), SECRET)).toEqual([]);
  });

  const rows: {
    name: string;
    args: (url: string) => string[];
    env?: Record<string, string>;
    code: number;
    error: string;
  }[] = [
    {
      name: 'a URL that is not absolute (bad_request)',
      args: () => ['call', '--url', 'not a url', '--bearer', 'KNOWN'],
      code: 2,
      error: 'bad_request',
    },
    {
      name: 'a malformed method (bad_request)',
      args: (url) => ['call', '--url', url, '--bearer', 'KNOWN', '--method', 'NO WAY'],
      code: 2,
      error: 'bad_request',
    },
    {
      name: 'a wrong passphrase (unlock_failed)',
      args: (url) => ['call', '--url', url, '--bearer', 'KNOWN'],
      env: { AGENTSECRETS_PASSPHRASE: 'a-wrong-passphrase' },
      code: 4,
      error: 'unlock_failed',
    },
    {
      name: 'a host off the allowlist (a refusal)',
      args: () => ['call', '--url', 'https://elsewhere.example.com/', '--bearer', 'KNOWN'],
      code: 1,
      error: 'domain_not_in_allowlist',
    },
    {
      name: 'no injection (usage)',
      args: (url) => ['call', '--url', url],
      code: 2,
      error: 'usage_error',
    },
  ];

  it.each(rows)('$name exits $code', async (row) => {
    const result = await runCli([...row.args(`${upstream.url}/x`), '--output', 'json'], {
      home,
      env: { ...env, ...row.env },
    });
    outputs.push(result.stdout, result.stderr);
    expect(result.code).toBe(row.code);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: row.error });
  });

  it('a successful call exits 0', async () => {
    const ok = await runCli(['call', '--url', `${upstream.url}/ok`, '--bearer', 'KNOWN'], {
      home,
      env,
    });
    outputs.push(ok.stdout, ok.stderr);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^HTTP 200/);
  });
});
