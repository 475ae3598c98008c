import { type ApprovalHook, createUnattendedGate } from '../policy/approvals-gate.js';
import { createApprovalsStore } from '../policy/approvals.js';
import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import type { Config } from '../core/config.js';
import {
  AgentSecretsError,
  toAgentSecretsError,
  WIRE_CODES,
  type WireCode,
} from '../core/errors.js';
import type { AuditEntry, AuditSource } from '../audit/format.js';
import { type CheckpointHead, loadAuditSigner, vaultHeadStore } from '../audit/checkpoints.js';
import { type AuditWriter, createAuditWriter } from '../audit/writer.js';
import { type AgentStore, createAgentStore } from '../identity/agents.js';
import { assertDeclaredName, declaredCaller } from '../identity/caller.js';
import { type CryptoKey, importJWK, type JWK } from 'jose';
import { createTokenVerifier, loadSigningKey } from '../identity/tokens.js';
import { createRateLimiter, decide, decideForProgram, type RateLimiter } from '../policy/rules.js';
import { compileScrubber, type Scrubber } from '../core/scrub/scrubber.js';
import type { ScopeSnapshot, UnlockedVault, Vault } from '../vault/vault.js';
import type { WorkspaceService } from '../workspace/service.js';
import { checkSignedFreshness } from '../sync/chain.js';
import { syncSettings } from '../sync/settings.js';
import type { RightsGuard } from '../strict/guard.js';
import { strictEnvRefusal } from '../strict/refusal.js';
import {
  type Caller,
  type CallInput,
  createEngine,
  type Engine,
  type EngineSources,
  MIN_SHORT_BYTES,
  type PolicyCheck,
  type SecretMeta,
  type Target,
} from './engine.js';
import { createForwarder, type Resolver } from './forward.js';
import { overrideNoteOf, parseResolveList, tableFirstResolver } from './resolve.js';
import { type CidrSet, parseCidrList } from './ssrf.js';

/** What a caller presents: a claimed name, a token, or nothing, and where it came from. */
export interface PresentedIdentity {
  agentId?: string | undefined;
  token?: string | undefined;
  source: AuditSource;
}

/** A call as the faces hand it over: identity still to be established. */
export type ServiceCallInput = Omit<CallInput, 'caller'> & { identity: PresentedIdentity };

/** A buffered call result (for `call`, MCP and the SDK over the key holder's socket). */
export interface CallResult {
  status: number;
  headers: [string, string][];
  body: Buffer;
  redacted: boolean;
  durationMs: number;
  requestId: string;
}

/** What `env` gets: the child's values, and the values to mask in its output. */
export interface EnvRelease {
  values: Map<string, string>;
  mask: string[];
}

/** What `env` asks for: the values of a selection, released to our own child process. */
export interface EnvRequest {
  target: Target;
  keys: string[] | undefined;
  command: string;
  identity: PresentedIdentity;
  /**
   * The program cannot run (not found): release nothing, and audit the attempt as failed
   * instead of `OK`.
   */
  failure?: 'command_not_found' | undefined;
}

/**
 * Credentialed work, with two implementations behind one interface (DESIGN §5): in this
 * process (unlocking the vault here), or through a running key holder over its socket.
 * Identity is established where the vault is open, so a token is verified by whoever holds
 * the key: a client can present a token, never claim a level.
 */
export interface CredentialService {
  readonly mode: 'in-process' | 'key-holder';
  /** Makes an authenticated call and buffers the (redacted) response. Blocks throw. */
  call(input: ServiceCallInput): Promise<CallResult>;
  /**
   * Values for `env`, audited as one `env` entry, and every value in scope, which `env` masks
   * in the child's output (a child can fetch a value it was not given from an API that
   * stored it).
   */
  envValues(request: EnvRequest): Promise<EnvRelease>;
  /** Establishes the caller: a verified token is `issued`, a name is `declared`. */
  identify(identity: PresentedIdentity, workspaceId: string): Promise<Caller>;
  /** The audit signing key's public half (SPKI PEM), or undefined if none exists yet. */
  /**
   * What the vault vouches for about the audit log: the signing key's public half (SPKI PEM)
   * and the newest checkpoint recorded in the vault; undefined / null when there are none.
   */
  auditTrust(): Promise<{ publicKey: string | undefined; head: CheckpointHead | null }>;
  close(): Promise<void>;
}

export interface LocalServiceOptions {
  config: Config;
  workspaces: WorkspaceService;
  vault: Vault;
  /** Unlocks the vault on first use. */
  unlock: () => Promise<UnlockedVault>;
  resolver?: Resolver;
  /** Shared audit writer (the key holder passes its own). */
  audit?: AuditWriter;
  /** Sign audit checkpoints even before anything else unlocked the vault (key holders). */
  signAudit?: boolean;
  /**
   * Strict mode (issue 14): no value leaves for a program (`envValues` answers `strict_mode`),
   * and the rights documents are read through this guard (verified, last good copy).
   */
  strict?: { rights: RightsGuard };
  /** When a team workspace last synced in this process (the key holder's follower). */
  teamFreshness?: (workspaceId: string) => number | undefined;
  /** Holds calls for a human's approval (issue 16; the key holder's dashboard host). */
  approve?: ApprovalHook;
  now?: () => Date;
}

/** The engine and everything it needs, unlocked in this process. */
export interface LocalCredentialService extends CredentialService {
  readonly engine: Engine;
  readonly audit: AuditWriter;
  readonly agents: AgentStore;
  /** How upstream names resolve (AGENTSECRETS_RESOLVE first) and what the SSRF guard opens. */
  readonly resolver: Resolver;
  readonly override: CidrSet;
  readonly sources: EngineSources;
}

/** Builds the in-process credential service. */
export async function createLocalCredentialService(
  options: LocalServiceOptions,
): Promise<LocalCredentialService> {
  const { config, workspaces, vault } = options;
  const now = options.now ?? (() => new Date());
  const override = parseCidrList(config.allowPrivate);
  const resolveTable = parseResolveList(config.env.AGENTSECRETS_RESOLVE);
  const resolver = tableFirstResolver(resolveTable, options.resolver);
  const { maxStalenessMs } = syncSettings(config.env);
  let unlocked: Promise<UnlockedVault> | undefined;
  // The vault once open: the per-call reads below take it without awaiting a promise.
  let opened: UnlockedVault | undefined;
  const open = () => {
    if (unlocked === undefined) {
      unlocked = options.unlock();
      unlocked.then(
        (vault) => (opened = vault),
        () => undefined,
      );
    }
    return unlocked;
  };
  // Writers that hold the unlocked vault sign audit checkpoints (DESIGN §8). A CLI process
  // signs only if it has unlocked anyway; a key holder or MCP server asks for the key.
  const audit =
    options.audit ??
    createAuditWriter({
      dir: config.paths.auditDir,
      fsync: config.auditFsync,
      signer: async () =>
        options.signAudit || unlocked !== undefined
          ? loadAuditSigner(await open(), { create: true })
          : undefined,
    });
  const rights = options.strict?.rights;
  const agents = rights?.agentStore() ?? createAgentStore(config.paths);
  const readWorkspaces = () => rights?.workspaces() ?? workspaces.readWorkspaces();
  const limiter: RateLimiter = createRateLimiter(() => now().getTime());
  const forwarder = createForwarder({
    limits: config.limits,
    override,
    resolver,
    ...(await trustedCertificates(config)),
  });
  // One verifier per workspace; the public key is read from the vault once.
  const verifiers = new Map<string, ReturnType<typeof createTokenVerifier>>();
  function verifierFor(workspaceId: string) {
    let verifier = verifiers.get(workspaceId);
    if (verifier === undefined) {
      let key: Promise<CryptoKey | undefined> | undefined;
      verifier = createTokenVerifier({
        workspaceId,
        agents,
        now,
        // Read once; but "no key yet" is not remembered, so a key created later (the first
        // `agent token issue`) is found without a restart.
        publicKey: () =>
          (key ??= teamPublicKey(workspaceId)
            .then(async (team) =>
              team !== null
                ? { publicKey: team }
                : loadSigningKey(await open(), workspaceId, { create: false }),
            )
            .then((k) => {
              if (k === undefined) key = undefined;
              return k?.publicKey;
            })
            .catch((err: unknown) => {
              key = undefined;
              throw err;
            })),
      });
      verifiers.set(workspaceId, verifier);
    }
    return verifier;
  }

  /**
   * A team workspace's token public key comes from its signed document (members do not hold
   * the private key); null for a local workspace.
   */
  async function teamPublicKey(workspaceId: string): Promise<CryptoKey | null> {
    const workspace = (await readWorkspaces()).workspaces.find((w) => w.id === workspaceId);
    if (workspace?.kind !== 'team' || workspace.team === undefined) return null;
    const jwk = (JSON.parse(workspace.team.doc.body) as { token_public_jwk: JWK | null })
      .token_public_jwk;
    if (jwk === null) return null;
    return (await importJWK(jwk, 'EdDSA')) as CryptoKey;
  }

  /**
   * Issued identities of a team workspace rest on its revocation list: once the last
   * successful sync is older than the staleness limit, they are refused (fail closed).
   */
  async function requireFresh(workspaceId: string): Promise<void> {
    const workspace = (await readWorkspaces()).workspaces.find((w) => w.id === workspaceId);
    if (workspace?.kind !== 'team' || workspace.team === undefined) return;
    const onDisk = Date.parse(workspace.team.synced_at ?? '') || 0;
    const last = Math.max(onDisk, options.teamFreshness?.(workspaceId) ?? 0);
    if (now().getTime() - last > maxStalenessMs) {
      throw new AgentSecretsError(
        'sync_stale',
        `workspace ${workspace.name} has not synced with its server since ${last === 0 ? 'never' : new Date(last).toISOString()}: agent tokens are refused until it does (is the sync server reachable? \`agentsecrets proxy sync\` retries)`,
      );
    }
    // A server that keeps answering "unchanged" passes the check above; what admins signed
    // (the document's time, their heartbeats) cannot be faked (issue 12, F6).
    checkSignedFreshness(workspace.name, workspace.team, now().getTime());
  }

  async function identify(identity: PresentedIdentity, workspaceId: string): Promise<Caller> {
    // A malformed name is refused even beside a token: it is a client bug, not a claim.
    if (identity.agentId !== undefined && identity.agentId !== '')
      assertDeclaredName(identity.agentId, nameCarrier(identity.source));
    if (identity.token !== undefined && identity.token !== '') {
      await requireFresh(workspaceId);
      const { agent, tokenId } = await verifierFor(workspaceId).verify(identity.token);
      return { level: 'issued', agentId: agent.name, tokenId, source: identity.source };
    }
    return declaredCaller(identity.agentId, identity.source, nameCarrier(identity.source));
  }

  const policy: PolicyCheck = async ({ caller, workspace, url, method, keys }) => {
    const agent =
      caller.level === 'issued' && caller.agentId !== null
        ? await agents.get(workspace.id, caller.agentId)
        : undefined;
    const decision = decide({
      level: caller.level,
      agent: agent === undefined ? undefined : { name: agent.name, rules: agent.rules },
      workspace: workspace.policy,
      keys,
      url,
      method,
    });
    if (decision.rate !== undefined && !limiter.take(decision.rate.bucket, decision.rate.limit)) {
      throw new AgentSecretsError(
        'rate_limited',
        `the rate limit of ${decision.source === 'workspace-default' ? 'the workspace default rules' : decision.source} (${decision.rate.limit.text}) is reached; retry later`,
        { context: caller.agentId === null ? {} : { agent: caller.agentId } },
      );
    }
    return { decision: decision.source };
  };

  // The scope scrubber is compiled once per vault change (the snapshot object changes).
  const compiledScopes = new WeakMap<ScopeSnapshot, { scrubber: Scrubber; values: Set<string> }>();
  function scopeScrubber(snapshot: ScopeSnapshot) {
    let compiled = compiledScopes.get(snapshot);
    if (compiled === undefined) {
      const values = new Set(scrubbedValues(snapshot));
      compiled = { scrubber: compileScrubber(values, { window: config.scrubWindow }), values };
      compiledScopes.set(snapshot, compiled);
    }
    return compiled;
  }

  const sources: EngineSources = {
    async workspace(id) {
      const workspace = (await readWorkspaces()).workspaces.find((w) => w.id === id);
      if (workspace === undefined) {
        throw new AgentSecretsError(
          'workspace_not_found',
          'the selected workspace no longer exists',
        );
      }
      return workspace;
    },
    async bindings(target, keys) {
      const found = new Map<string, SecretMeta>();
      for (const [key, meta] of await vault.lookup(selectionOf(target), keys)) {
        // Strict mode: the rights sealed for this record, not what the file says now.
        const sealed = rights === undefined ? meta : await rights.recordRights(meta);
        found.set(key, { binding: sealed.binding, allowShort: sealed.allow_short });
      }
      return found;
    },
    async values(target, keys) {
      return await (opened ?? (await open())).getMany(selectionOf(target), keys);
    },
    async scope(injected) {
      const compiled = scopeScrubber(await (opened ?? (await open())).scope());
      if (injected.every((v) => compiled.values.has(v))) return compiled.scrubber;
      // A value set after the snapshot was read: scrub it too, this once.
      return compileScrubber([...compiled.values, ...injected], { window: config.scrubWindow });
    },
  };
  const engine = createEngine({
    sources,
    audit,
    forwarder,
    override,
    limits: config.limits,
    policy,
    // Without the key holder's queue no human can be asked: held calls are refused.
    approve: options.approve ?? createUnattendedGate(createApprovalsStore(config.paths)),
    overrideNote: overrideNoteOf(override.empty ? null : override.source, resolveTable),
  });

  /** Identifies the caller, auditing a refused identity as a block. */
  async function callerFor(
    identity: PresentedIdentity,
    partial: Partial<CallInput> & { target: Target },
  ): Promise<Caller> {
    try {
      return await identify(identity, partial.target.workspaceId);
    } catch (err) {
      const error = toAgentSecretsError(err);
      const claimed = declaredOrAnonymous(identity);
      await engine.recordRefusal({ ...partial, caller: claimed }, error).catch(() => undefined);
      throw error;
    }
  }

  return {
    mode: 'in-process',
    engine,
    audit,
    agents,
    resolver,
    override,
    sources,
    identify,
    async call(input) {
      const started = performance.now();
      const { identity, ...rest } = input;
      const caller = await callerFor(identity, rest);
      const response = await engine.execute({ ...rest, caller });
      const chunks: Buffer[] = [];
      if (response.whole !== undefined) chunks.push(response.whole);
      else for await (const chunk of response.body) chunks.push(chunk as Buffer);
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
      if (options.strict !== undefined) throw strictEnvRefusal();
      const started = performance.now();
      const caller = await callerFor(request.identity, { target: request.target, method: 'ENV' });
      const workspace = await sources.workspace(request.target.workspaceId);
      const projectName =
        workspace.projects.find((p) => p.id === request.target.projectId)?.name ?? null;
      if (request.failure !== undefined) {
        await recordEnv(
          audit,
          workspace.name,
          projectName,
          request,
          caller,
          [],
          0,
          overrideNoteOf(override.empty ? null : override.source, resolveTable),
          { status: 'ERROR', reason: request.failure },
        );
        return { values: new Map(), mask: [] };
      }
      const keys =
        request.keys ?? (await vault.list(selectionOf(request.target))).map((r) => r.key);
      const agent =
        caller.level === 'issued' && caller.agentId !== null
          ? await agents.get(workspace.id, caller.agentId)
          : undefined;
      try {
        const decision = decideForProgram({
          level: caller.level,
          agent: agent === undefined ? undefined : { name: agent.name, rules: agent.rules },
          workspace: workspace.policy,
          keys,
        });
        if (
          decision.rate !== undefined &&
          !limiter.take(decision.rate.bucket, decision.rate.limit)
        ) {
          throw new AgentSecretsError(
            'rate_limited',
            `the rate limit of ${decision.source} (${decision.rate.limit.text}) is reached; retry later`,
          );
        }
      } catch (err) {
        await engine
          .recordRefusal(
            { target: request.target, method: 'ENV', caller },
            toAgentSecretsError(err),
          )
          .catch(() => undefined);
        throw err;
      }
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
        workspace.name,
        projectName,
        request,
        caller,
        [...values.keys()],
        performance.now() - started,
        overrideNoteOf(override.empty ? null : override.source, resolveTable),
      );
      return { values, mask: scrubbedValues(await (await open()).scope()) };
    },
    async auditTrust() {
      const vault = await open();
      const signer = await loadAuditSigner(vault, { create: false });
      return {
        publicKey: signer?.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        head: (await vaultHeadStore(vault).read()) ?? null,
      };
    },
    async close() {
      if (options.audit === undefined) await audit.close();
      else await audit.flush();
      await forwarder.close();
      if (unlocked !== undefined) (await unlocked.catch(() => undefined))?.close();
    },
  };
}

/** Where a caller of this source puts its declared name, for the refusal message. */
function nameCarrier(source: AuditSource): string {
  if (source === 'proxy') return 'X-AS-Agent-ID';
  if (source === 'mcp') return 'the MCP agent name (--agent-id)';
  return '--agent-id or AGENTSECRETS_AGENT_ID';
}

function declaredOrAnonymous(identity: PresentedIdentity): Caller {
  try {
    return declaredCaller(identity.agentId, identity.source);
  } catch {
    return { level: 'anonymous', agentId: null, tokenId: null, source: identity.source };
  }
}

async function recordEnv(
  audit: AuditWriter,
  workspaceName: string,
  projectName: string | null,
  request: EnvRequest,
  caller: Caller,
  keys: string[],
  durationMs: number,
  overrideNote: string | null,
  outcome: { status: 'OK' | 'ERROR'; reason: string | null } = { status: 'OK', reason: null },
): Promise<AuditEntry> {
  return audit.append({
    workspace: workspaceName,
    project: projectName,
    environment: request.target.environment,
    agent_id: caller.agentId,
    identity_level: caller.level,
    token_id: caller.tokenId,
    source: 'env',
    method: 'ENV',
    target_url: null,
    domain: null,
    secret_keys: keys,
    auth_styles: ['env'],
    status: outcome.status,
    status_code: null,
    reason: outcome.reason,
    redacted: false,
    duration_ms: durationMs,
    command: request.command,
    private_override: overrideNote,
  });
}

/** Values of at least this many bytes are scrubbed even when they cannot be injected. */
const MIN_SCRUB_BYTES = 8;

/**
 * The values output is scrubbed of: every value of at least 8 bytes, injectable or not (an API
 * can hold a value it got elsewhere, such as a hosting provider's config vars), and shorter
 * ones a human allowed to be injected. Values under 8 bytes are not scrubbed: that would mark
 * every look-alike of `true` or `8080` in a response.
 */
export function scrubbedValues(snapshot: ScopeSnapshot): string[] {
  const out: string[] = [];
  for (const { value, allowShort } of snapshot.values) {
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes >= MIN_SCRUB_BYTES || (allowShort && bytes >= MIN_SHORT_BYTES)) out.push(value);
    // A short Basic password a human allowed: scrubbed on its own too (the scrubber takes the
    // parts of a pair from 8 bytes on).
    const colon = value.indexOf(':');
    if (allowShort && colon !== -1) {
      const password = value.slice(colon + 1);
      if (Buffer.byteLength(password, 'utf8') >= MIN_SHORT_BYTES) out.push(password);
    }
  }
  return out;
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
