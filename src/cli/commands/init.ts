import { appendFile, mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AgentSecretsError } from '../../core/errors.js';
import { packageRoot } from '../../core/package-root.js';
import { TEST_KDF_COST } from '../../crypto/kdf.js';
import { ensurePrivateDir, isErrno, writeFileAtomic } from '../../store/fs.js';
import type { KeyProvider } from '../../vault/key-providers.js';
import { probeKeyring } from '../../vault/keyring.js';
import type { CliContext } from '../context.js';
import { KEY_HOLDER_EXPLAINED } from '../key-holder-hint.js';

export interface InitOptions {
  backend: string;
  project?: string;
  force?: boolean;
  weakKdfForTests?: boolean;
  /** False with --no-gitignore: leave ./.gitignore alone. */
  gitignore?: boolean;
  json?: boolean;
}

/** `agentsecrets init`: state folder, vault, local workspace, workflow file. Idempotent. */
export async function init(ctx: CliContext, options: InitOptions): Promise<void> {
  const { out, config } = ctx;
  if (!['auto', 'keychain', 'passphrase'].includes(options.backend)) {
    throw new AgentSecretsError('usage_error', '--backend must be auto, keychain or passphrase');
  }
  if (options.weakKdfForTests) {
    out.warn(
      '--weak-kdf-for-tests: this vault gets a deliberately weak passphrase KDF. Use it in tests only.',
    );
  }
  const services = ctx.services(options.weakKdfForTests ? { kdfCost: TEST_KDF_COST } : {});
  await ensurePrivateDir(config.paths.home);

  let backend: 'keychain' | 'passphrase';
  let vaultCreated = false;
  if (await services.vault.exists()) {
    const header = await services.vault.read();
    backend = header.key.provider === 'keychain' ? 'keychain' : 'passphrase';
  } else {
    const provider = await chooseProvider(ctx, services, options.backend);
    backend = provider.kind === 'keychain' ? 'keychain' : 'passphrase';
    await services.vault.create(provider);
    vaultCreated = true;
  }

  const projectName = options.project ?? 'default';
  const { workspace, project, created } = await services.workspaces.initLocal({
    projectName,
    backend,
  });
  let boundAt: string | undefined;
  if (options.project !== undefined && resolve(config.cwd, '.agentsecrets') !== config.paths.home) {
    boundAt = (await services.workspaces.useProject(project.name, { bind: true })).boundAt;
  }
  const workflow = await writeWorkflow(config.cwd, options.force === true);
  const gitignore = options.gitignore === false ? false : await extendGitignore(config.cwd);
  if (gitignore) {
    // Someone else's file (often tracked by git): never changed without saying so.
    out.notice(
      `note: appended ".env*" to ${join(config.cwd, '.gitignore')}, which agentsecrets did not create, so that plaintext .env files stay out of git. Remove the two lines it added to undo; \`agentsecrets init --no-gitignore\` leaves the file alone.`,
    );
  }

  const result = {
    home: config.paths.home,
    backend,
    vault_created: vaultCreated,
    workspace: workspace.name,
    project: project.name,
    created: created || vaultCreated,
    bound_folder: boundAt ?? null,
    workflow_file: workflow,
    gitignore_updated: gitignore,
  };
  if (options.json) return out.json(result);
  if (!result.created)
    out.line(`agentsecrets is already set up in ${config.paths.home}; nothing changed.`);
  else out.line(`agentsecrets is set up in ${config.paths.home}.`);
  out.line(`  vault key:  ${backend === 'keychain' ? 'OS keychain' : 'passphrase (Argon2id)'}`);
  out.line(`  workspace:  ${workspace.name}`);
  out.line(`  project:    ${project.name}${boundAt ? ` (bound to this folder: ${boundAt})` : ''}`);
  if (workflow.written) out.line(`  wrote ${workflow.path} (instructions for AI assistants)`);
  out.line('');
  if (backend === 'passphrase') {
    for (const line of KEY_HOLDER_EXPLAINED) out.line(line);
    out.line('');
  }
  out.line('Next: add a secret (the value is read from a hidden prompt or stdin):');
  out.line('  agentsecrets secrets set STRIPE_KEY');
}

async function chooseProvider(
  ctx: CliContext,
  services: ReturnType<CliContext['services']>,
  backend: string,
): Promise<KeyProvider> {
  if (backend === 'passphrase') return services.keyProvider('passphrase');
  if (backend === 'keychain') return services.keyProvider('keychain');
  const probe = await probeKeyring(services.keyring, 2000);
  if (probe.ok) return services.keyProvider('keychain');
  ctx.out.notice(
    `The OS keychain is not available (${probe.reason}); using a passphrase-protected vault instead.`,
  );
  return services.keyProvider('passphrase');
}

async function writeWorkflow(
  cwd: string,
  force: boolean,
): Promise<{ path: string; written: boolean }> {
  const dir = join(cwd, '.agent', 'workflows');
  const path = join(dir, 'agentsecrets.md');
  const exists = await stat(path).then(
    () => true,
    (err: unknown) => {
      if (isErrno(err, 'ENOENT')) return false;
      throw err;
    },
  );
  if (exists && !force) return { path, written: false };
  const template = await readFile(
    join(packageRoot(import.meta.url), '.agent', 'workflows', 'agentsecrets.md'),
    'utf8',
  );
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(path, template, 0o644);
  return { path, written: true };
}

async function extendGitignore(cwd: string): Promise<boolean> {
  const path = join(cwd, '.gitignore');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
  if (text.split(/\r?\n/).some((line) => line.trim() === '.env*')) return false;
  await appendFile(
    path,
    `${text.endsWith('\n') || text === '' ? '' : '\n'}# agentsecrets: keep plaintext .env files out of git\n.env*\n`,
  );
  return true;
}
