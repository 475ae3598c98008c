import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CA_RESERVED_NAME, CA_SCOPE, type LocalCa, loadLocalCa } from '../proxy/ca.js';
import { createInterceptServer, type InterceptServer } from '../proxy/connect.js';
import type { LocalCredentialService } from '../proxy/credential-service.js';
import { overrideNoteOf, parseResolveList } from '../proxy/resolve.js';
import type { Config } from '../core/config.js';
import type { UnlockedVault, Vault } from '../vault/vault.js';
import { createRunHost, type RunHost } from './host.js';

/** The public copy of the local CA's certificate in the state folder (`ca export` reads it). */
export function caCertPath(config: Config): string {
  return join(config.paths.home, 'intercept-ca.pem');
}

/** Loads (or creates) the local CA from an unlocked vault, and refreshes its public copy. */
export async function openLocalCa(config: Config, vault: UnlockedVault): Promise<LocalCa> {
  const ca = await loadLocalCa({
    store: {
      read: () => vault.getReserved(CA_SCOPE, CA_RESERVED_NAME),
      write: (value) => vault.setReserved(CA_SCOPE, CA_RESERVED_NAME, value),
    },
  });
  await writeFile(caCertPath(config), ca.certPem, { mode: 0o600 });
  return ca;
}

/** A running intercepting proxy and its run registry. */
export interface Interceptor {
  readonly runs: RunHost;
  readonly ca: LocalCa;
  readonly port: number;
  readonly server: InterceptServer;
  close(): Promise<void>;
}

/**
 * Starts the intercepting proxy for `run` children on host:port (0 picks one), over an
 * unlocked vault and the credential service whose engine it uses.
 */
export async function startInterceptor(options: {
  config: Config;
  credentials: LocalCredentialService;
  vault: Vault;
  unlocked: UnlockedVault;
  port: number;
  host: string;
}): Promise<Interceptor> {
  const { config, credentials } = options;
  const ca = await openLocalCa(config, options.unlocked);
  let port = 0;
  const runs = createRunHost({
    credentials,
    vault: options.vault,
    caPem: ca.certPem,
    port: () => port,
  });
  const server = createInterceptServer({
    engine: credentials.engine,
    runs,
    workspace: (id) => credentials.sources.workspace(id),
    ca,
    resolver: credentials.resolver,
    override: credentials.override,
    limits: config.limits,
    audit: credentials.audit,
    overrideNote: overrideNoteOf(
      credentials.override.empty ? null : credentials.override.source,
      parseResolveList(config.env.AGENTSECRETS_RESOLVE),
    ),
  });
  const address = await server.listen(options.port, options.host);
  port = address.port;
  return { runs, ca, port, server, close: () => server.close() };
}
