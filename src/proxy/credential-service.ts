import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import type { Config } from '../core/config.js';
import { AgentSecretsError, WIRE_CODES, type WireCode } from '../core/errors.js';
import type { AuditEntry } from '../audit/format.js';
import { type AuditWriter, createAuditWriter } from '../audit/writer.js';
import type { SecretBinding } from '../vault/format.js';
import type { UnlockedVault, Vault } from '../vault/vault.js';
import type { WorkspaceService } from '../workspace/service.js';
import {
  type Caller,
  type CallInput,
  createEngine,
  type Engine,
  type EngineSources,
  type PolicyCheck,
  type Target,
} from './engine.js';
import { createForwarder, type Resolver } from './forward.js';
import { type CidrSet, parseCidrList } from './ssrf.js';

/** A buffered call result (for `call`, MCP and the SDK over the key holder's socket). */
export interface CallResult {
  status: number;
  headers: [string, string][];
  body: Buffer;
  redacted: boolean;
  durationMs: number;
  requestId: string;
}

/** What `env` asks for: the values of a selection, released to our own child process. */
export interface EnvRequest {
  target: Target;
  keys: string[] | undefined;
  command: string;
  caller: Caller;
}

/**
 * Credentialed work, with two implementations behind one interface (DESIGN §5): in this
 * process (unlocking the vault here), or through a running key holder over its socket.
 */
export interface CredentialService {
  readonly mode: 'in-process' | 'key-holder';
  /** Makes an authenticated call and buffers the (redacted) response. Blocks throw. */
  call(input: CallInput): Promise<CallResult>;
  /** Values for `env`, audited as one `env` entry. */
  envValues(request: EnvRequest): Promise<Map<string, string>>;
  close(): Promise<void>;
}

export interface LocalServiceOptions {
  config: Config;
  workspaces: WorkspaceService;
  vault: Vault;
  /** Unlocks the vault on first use. */
  unlock: () => Promise<UnlockedVault>;
  resolver?: Resolver;
  policy?: PolicyCheck;
  /** Shared audit writer (the key holder passes its own). */
  audit?: AuditWriter;
}

/** The engine and everything it needs, unlocked in this process. */
export interface LocalCredentialService extends CredentialService {
  readonly engine: Engine;
  readonly audit: AuditWriter;
}

/** Builds the in-process credential service. */
export async function createLocalCredentialService(
  options: LocalServiceOptions,
): Promise<LocalCredentialService> {
  const { config, workspaces, vault } = options;
  const override = parseCidrList(config.allowPrivate);
  const audit =
    options.audit ?? createAuditWriter({ dir: config.paths.auditDir, fsync: config.auditFsync });
  const forwarder = createForwarder({
    limits: config.limits,
    override,
    ...(options.resolver === undefined ? {} : { resolver: options.resolver }),
    ...(await trustedCertificates(config)),
  });
  let unlocked: Promise<UnlockedVault> | undefined;
  const open = () => (unlocked ??= options.unlock());

  const sources: EngineSources = {
    async workspace(id) {
      const workspace = (await workspaces.readWorkspaces()).workspaces.find((w) => w.id === id);
      if (workspace === undefined) {
        throw new AgentSecretsError(
          'workspace_not_found',
          'the selected workspace no longer exists',
        );
      }
      return workspace;
    },
    async bindings(target, keys) {
      const wanted = new Set(keys);
      const found = new Map<string, SecretBinding | null>();
      for (const meta of await vault.list(selectionOf(target))) {
        if (wanted.has(meta.key)) found.set(meta.key, meta.binding);
      }
      return found;
    },
    async values(target, keys) {
      return (await open()).getMany(selectionOf(target), keys);
    },
  };
  const engine = createEngine({
    sources,
    audit,
    forwarder,
    override,
    limits: config.limits,
    ...(options.policy === undefined ? {} : { policy: options.policy }),
  });

  return {
    mode: 'in-process',
    engine,
    audit,
    async call(input) {
      const started = performance.now();
      const response = await engine.execute(input);
      const chunks: Buffer[] = [];
      for await (const chunk of response.body) chunks.push(chunk as Buffer);
      const entry = await response.done;
      if (entry.status === 'ERROR') {
        const code = (WIRE_CODES as readonly string[]).includes(entry.reason ?? '')
          ? (entry.reason as WireCode)
          : 'upstream_error';
        throw new AgentSecretsError(
          code,
          entry.reason === 'response_too_large'
            ? `the response from ${entry.domain} is larger than the limit (AGENTSECRETS_MAX_RESPONSE_BYTES)`
            : `the response from ${entry.domain} failed while it was being read (${entry.reason})`,
          { context: { domain: entry.domain ?? undefined, request_id: response.requestId } },
        );
      }
      return {
        status: response.status,
        headers: response.headers,
        body: Buffer.concat(chunks),
        redacted: response.redacted(),
        durationMs: performance.now() - started,
        requestId: response.requestId,
      };
    },
    async envValues(request) {
      const started = performance.now();
      const values = await (await open()).getMany(selectionOf(request.target), request.keys);
      for (const key of request.keys ?? []) {
        if (!values.has(key)) {
          throw new AgentSecretsError(
            'secret_not_found',
            `secret '${key}' not found; a human adds it with: agentsecrets secrets set ${key}`,
            {
              context: { secret: key },
            },
          );
        }
      }
      await recordEnv(
        audit,
        workspaces,
        request,
        [...values.keys()],
        performance.now() - started,
        override,
      );
      return values;
    },
    async close() {
      await audit.flush();
      await forwarder.close();
      if (unlocked !== undefined) (await unlocked.catch(() => undefined))?.close();
    },
  };
}

async function recordEnv(
  audit: AuditWriter,
  workspaces: WorkspaceService,
  request: EnvRequest,
  keys: string[],
  durationMs: number,
  override: CidrSet,
): Promise<AuditEntry> {
  const workspace = (await workspaces.readWorkspaces()).workspaces.find(
    (w) => w.id === request.target.workspaceId,
  );
  return audit.append({
    workspace: workspace?.name ?? null,
    project: workspace?.projects.find((p) => p.id === request.target.projectId)?.name ?? null,
    environment: request.target.environment,
    agent_id: request.caller.agentId,
    identity_level: request.caller.level,
    token_id: request.caller.tokenId,
    source: 'env',
    method: 'ENV',
    target_url: null,
    domain: null,
    secret_keys: keys,
    auth_styles: ['env'],
    status: 'OK',
    status_code: null,
    reason: null,
    redacted: false,
    duration_ms: durationMs,
    command: request.command,
    private_override: override.empty ? null : override.source,
  });
}

/** The vault selection of a target. */
export function selectionOf(target: Target) {
  return {
    workspace_id: target.workspaceId,
    project_id: target.projectId,
    environment: target.environment,
  };
}

/**
 * Extra certificates to trust upstream: AGENTSECRETS_CA_FILE, added to Node's bundled roots
 * and NODE_EXTRA_CA_CERTS (setting `ca` replaces the default set, so both are re-added).
 */
async function trustedCertificates(config: Config): Promise<{ ca?: string[] }> {
  if (config.caFile === undefined) return {};
  const extra = [await readPem(config.caFile, 'AGENTSECRETS_CA_FILE')];
  const nodeExtra = config.env.NODE_EXTRA_CA_CERTS;
  if (nodeExtra) extra.push(await readPem(nodeExtra, 'NODE_EXTRA_CA_CERTS'));
  return { ca: [...rootCertificates, ...extra] };
}

async function readPem(path: string, variable: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    throw new AgentSecretsError(
      'usage_error',
      `${variable} points at ${path}, which cannot be read`,
      { cause },
    );
  }
}
