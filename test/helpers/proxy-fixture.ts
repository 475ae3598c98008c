import { loadConfig } from '../../src/core/config.js';
import { TEST_KDF_COST } from '../../src/crypto/kdf.js';
import {
  createLocalCredentialService,
  type LocalCredentialService,
  type LocalServiceOptions,
} from '../../src/proxy/credential-service.js';
import type { Resolver } from '../../src/proxy/forward.js';
import { createServices, type Services } from '../../src/services/index.js';
import { createMemoryKeyProvider } from '../../src/vault/key-providers.js';
import type { SecretBinding } from '../../src/vault/format.js';
import { tempDir } from './tmp.js';

/** A ready state folder: vault (in-memory key), local workspace, allowlist and secrets. */
export interface Workspace {
  home: string;
  services: Services;
  target: { workspaceId: string; projectId: string; environment: string };
}

export interface WorkspaceOptions {
  secrets?: Record<string, string>;
  allowlist?: string[];
  bindings?: Record<string, SecretBinding>;
  requireBinding?: boolean;
  /** Environment for loadConfig (AGENTSECRETS_ALLOW_PRIVATE, AGENTSECRETS_CA_FILE, limits…). */
  env?: Record<string, string>;
}

/** Builds a workspace in a temp folder, in this process, with no keychain and no prompt. */
export async function makeWorkspace(options: WorkspaceOptions = {}): Promise<Workspace> {
  // Removed after the test file, with every other temp folder (helpers/tmp.ts).
  const home = await tempDir('agentsecrets-ws-');
  const memory = createMemoryKeyProvider();
  const config = loadConfig({ AGENTSECRETS_HOME: home, ...options.env }, home);
  const services = createServices(config, { memoryKeys: memory, kdfCost: TEST_KDF_COST });
  await services.vault.create(memory);
  const { workspace } = await services.workspaces.initLocal({
    projectName: 'default',
    backend: 'passphrase',
  });
  const current = await services.workspaces.resolve();
  const vault = await services.vault.unlock();
  const entries = Object.entries(options.secrets ?? {}).map(([key, value]) => ({ key, value }));
  if (entries.length > 0) await vault.set(current.selection, entries);
  for (const [key, binding] of Object.entries(options.bindings ?? {})) {
    await vault.setBinding(current.selection, key, binding);
  }
  vault.close();
  await services.workspaces.updateWorkspace(workspace.id, (w) => {
    w.allowlist = (options.allowlist ?? []).map((pattern) => ({
      pattern,
      added_by: 'test',
      added_at: new Date().toISOString(),
    }));
    w.policy.require_binding = options.requireBinding ?? false;
  });
  return {
    home,
    services,
    target: {
      workspaceId: workspace.id,
      projectId: current.project.id,
      environment: current.environment,
    },
  };
}

/** A resolver for tests: a fixed table from host name to addresses, and a call counter. */
export function tableResolver(table: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolver = async (hostname: string) => {
    calls.push(hostname);
    const addresses = table[hostname];
    if (addresses === undefined)
      throw Object.assign(new Error(`no such host ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(resolver, { calls });
}

/** The credential service over a fixture workspace; `extra` adds options (a gate, a resolver). */
export function serviceFor(
  ws: Workspace,
  extra: Partial<LocalServiceOptions> = {},
): Promise<LocalCredentialService> {
  return createLocalCredentialService({
    config: ws.services.config,
    workspaces: ws.services.workspaces,
    vault: ws.services.vault,
    unlock: () => ws.services.vault.unlock(),
    ...extra,
  });
}
