import type { RightsSeal } from '../core/rights-seal.js';
import { withSeal } from '../vault/format.js';
import { ENVIRONMENTS, type Environment } from '../core/config.js';
import { arr, bool, num, obj, oneOf, optStr, str, strArr } from '../core/validate.js';

/** A project inside a workspace. Names are for people; ids are what records bind to. */
export interface Project {
  id: string;
  name: string;
  description: string;
  created_at: string;
  updated_at: string;
  last_pull_at: string | null;
  last_push_at: string | null;
}

/** One allowlist entry: an exact host or `*.suffix`, with an optional port. */
export interface AllowlistEntry {
  pattern: string;
  added_by: string;
  added_at: string;
}

/** Who changed the allowlist, when, and how. */
export interface AllowlistChange {
  at: string;
  by: string;
  action: 'add' | 'remove';
  pattern: string;
}

/** Workspace-wide policy. Later issues add identity and default rules. */
export interface WorkspacePolicy {
  require_binding: boolean;
  require_identity: 'anonymous' | 'declared' | 'issued';
  default_allow_secrets: string[];
  default_deny_secrets: string[];
  default_allow_domains: string[];
  default_methods: string[];
  default_rate: string | null;
}

/**
 * What this machine knows of a team workspace on a sync server. `doc` is the last signed
 * workspace document that verified; the allowlist, policy and agents in it are applied to
 * this workspace and to agents.json. `pinned` holds the key fingerprints of members this
 * user has confirmed or seen as admins (trust on first use, checked on every rotation).
 */
export interface TeamInfo {
  server_url: string;
  user_id: string;
  role: 'admin' | 'member';
  epoch: number;
  doc: { body: string; signature: string; signer: string };
  doc_seq: number;
  synced_at: string | null;
  /** When an admin last signed that this document is current (a heartbeat), if known. */
  heartbeat_at?: string | null;
  pinned: Record<string, string>;
}

/** A workspace: local (this machine) or team (synced). */
export interface Workspace {
  id: string;
  name: string;
  kind: 'local' | 'team';
  created_at: string;
  projects: Project[];
  allowlist: AllowlistEntry[];
  allowlist_log: AllowlistChange[];
  /** Hosts `run` children may reach through an untouched tunnel (no secret, no interception). */
  passthrough?: AllowlistEntry[];
  policy: WorkspacePolicy;
  team?: TeamInfo;
}

/** workspaces.json. */
export interface WorkspacesFile {
  format: 1;
  workspaces: Workspace[];
  /** Sealed copy of the allowlists and policies (strict mode; see src/strict). */
  rights_seal?: RightsSeal;
}

/** config.json: the global selection and settings. No secrets. */
export interface ConfigFile {
  format: 1;
  workspace_id: string | null;
  project_id: string | null;
  environment: Environment;
  backend: 'keychain' | 'passphrase' | null;
  server_url: string | null;
  /** The signed-in sync account (no secrets: its keys and session live in the vault). */
  account: {
    email: string;
    user_id: string;
    server_url: string;
    /** This account's key fingerprint (public), for the admin who confirms it. */
    fingerprint?: string;
  } | null;
}

/** ./.agentsecrets/project.json: binds a folder to a project (ids and names only). */
export interface ProjectBinding {
  workspace_id: string;
  workspace_name: string;
  project_id: string;
  project_name: string;
  environment: Environment | null;
}

/** The policy of a new workspace. */
export function defaultPolicy(): WorkspacePolicy {
  return {
    require_binding: false,
    require_identity: 'anonymous',
    default_allow_secrets: [],
    default_deny_secrets: [],
    default_allow_domains: [],
    default_methods: [],
    default_rate: null,
  };
}

/** Validates workspaces.json. */
export function parseWorkspacesFile(raw: unknown): WorkspacesFile {
  const doc = obj(raw, 'workspaces');
  return {
    format: 1,
    workspaces: arr(doc.workspaces, 'workspaces.workspaces').map((w, i) =>
      parseWorkspace(w, `workspaces[${i}]`),
    ),
    ...withSeal(doc.rights_seal),
  };
}

function parseWorkspace(raw: unknown, path: string): Workspace {
  const w = obj(raw, path);
  return {
    id: str(w.id, `${path}.id`),
    name: str(w.name, `${path}.name`),
    kind: oneOf(w.kind, ['local', 'team'], `${path}.kind`),
    created_at: str(w.created_at, `${path}.created_at`),
    projects: arr(w.projects, `${path}.projects`).map((p, i) =>
      parseProject(p, `${path}.projects[${i}]`),
    ),
    allowlist: parseAllowlist(w.allowlist ?? [], `${path}.allowlist`),
    allowlist_log: parseAllowlistLog(w.allowlist_log ?? [], `${path}.allowlist_log`),
    ...(w.passthrough === undefined
      ? {}
      : { passthrough: parseAllowlist(w.passthrough, `${path}.passthrough`) }),
    policy: parsePolicy(w.policy, `${path}.policy`),
    ...(w.team === undefined || w.team === null
      ? {}
      : { team: parseTeamInfo(w.team, `${path}.team`) }),
  };
}

/** Validates allowlist entries (workspaces.json and signed workspace documents). */
export function parseAllowlist(raw: unknown, path: string): AllowlistEntry[] {
  return arr(raw, path).map((e, i) => {
    const entry = obj(e, `${path}[${i}]`);
    return {
      pattern: str(entry.pattern, `${path}[${i}].pattern`),
      added_by: str(entry.added_by, `${path}[${i}].added_by`),
      added_at: str(entry.added_at, `${path}[${i}].added_at`),
    };
  });
}

/** Validates an allowlist change log. */
export function parseAllowlistLog(raw: unknown, path: string): AllowlistChange[] {
  return arr(raw, path).map((e, i) => {
    const entry = obj(e, `${path}[${i}]`);
    return {
      at: str(entry.at, `${path}[${i}].at`),
      by: str(entry.by, `${path}[${i}].by`),
      action: oneOf(entry.action, ['add', 'remove'], `${path}[${i}].action`),
      pattern: str(entry.pattern, `${path}[${i}].pattern`),
    };
  });
}

function parseTeamInfo(raw: unknown, path: string): TeamInfo {
  const t = obj(raw, path);
  const doc = obj(t.doc, `${path}.doc`);
  const pinned = obj(t.pinned ?? {}, `${path}.pinned`);
  return {
    server_url: str(t.server_url, `${path}.server_url`),
    user_id: str(t.user_id, `${path}.user_id`),
    role: oneOf(t.role, ['admin', 'member'], `${path}.role`),
    epoch: num(t.epoch, `${path}.epoch`),
    doc: {
      body: str(doc.body, `${path}.doc.body`),
      signature: str(doc.signature, `${path}.doc.signature`),
      signer: str(doc.signer, `${path}.doc.signer`),
    },
    doc_seq: num(t.doc_seq, `${path}.doc_seq`),
    synced_at: optStr(t.synced_at, `${path}.synced_at`) ?? null,
    heartbeat_at: optStr(t.heartbeat_at, `${path}.heartbeat_at`) ?? null,
    pinned: Object.fromEntries(
      Object.entries(pinned).map(([k, v]) => [k, str(v, `${path}.pinned.${k}`)]),
    ),
  };
}

/** Validates a workspace policy; absent fields take their defaults. */
export function parsePolicy(raw: unknown, path: string): WorkspacePolicy {
  const base = defaultPolicy();
  if (raw === undefined || raw === null) return base;
  const p = obj(raw, path);
  return {
    require_binding:
      p.require_binding === undefined
        ? base.require_binding
        : bool(p.require_binding, `${path}.require_binding`),
    require_identity:
      p.require_identity === undefined
        ? base.require_identity
        : oneOf(
            p.require_identity,
            ['anonymous', 'declared', 'issued'],
            `${path}.require_identity`,
          ),
    default_allow_secrets: strArr(p.default_allow_secrets ?? [], `${path}.default_allow_secrets`),
    default_deny_secrets: strArr(p.default_deny_secrets ?? [], `${path}.default_deny_secrets`),
    default_allow_domains: strArr(p.default_allow_domains ?? [], `${path}.default_allow_domains`),
    default_methods: strArr(p.default_methods ?? [], `${path}.default_methods`),
    default_rate: optStr(p.default_rate, `${path}.default_rate`) ?? null,
  };
}

function parseProject(raw: unknown, path: string): Project {
  const p = obj(raw, path);
  return {
    id: str(p.id, `${path}.id`),
    name: str(p.name, `${path}.name`),
    description: optStr(p.description, `${path}.description`) ?? '',
    created_at: str(p.created_at, `${path}.created_at`),
    updated_at: str(p.updated_at, `${path}.updated_at`),
    last_pull_at: optStr(p.last_pull_at, `${path}.last_pull_at`) ?? null,
    last_push_at: optStr(p.last_push_at, `${path}.last_push_at`) ?? null,
  };
}

/** Validates config.json. */
export function parseConfigFile(raw: unknown): ConfigFile {
  const c = obj(raw, 'config');
  return {
    format: 1,
    workspace_id: optStr(c.workspace_id, 'config.workspace_id') ?? null,
    project_id: optStr(c.project_id, 'config.project_id') ?? null,
    environment: oneOf(c.environment ?? 'development', ENVIRONMENTS, 'config.environment'),
    backend:
      c.backend === null || c.backend === undefined
        ? null
        : oneOf(c.backend, ['keychain', 'passphrase'], 'config.backend'),
    server_url: optStr(c.server_url, 'config.server_url') ?? null,
    account:
      c.account === null || c.account === undefined
        ? null
        : (() => {
            const a = obj(c.account, 'config.account');
            return {
              email: str(a.email, 'config.account.email'),
              user_id: str(a.user_id, 'config.account.user_id'),
              server_url: str(a.server_url, 'config.account.server_url'),
              ...(typeof a.fingerprint === 'string' ? { fingerprint: a.fingerprint } : {}),
            };
          })(),
  };
}

/** Validates .agentsecrets/project.json. */
export function parseProjectBinding(raw: unknown): ProjectBinding {
  const b = obj(raw, 'project');
  return {
    workspace_id: str(b.workspace_id, 'project.workspace_id'),
    workspace_name: str(b.workspace_name, 'project.workspace_name'),
    project_id: str(b.project_id, 'project.project_id'),
    project_name: str(b.project_name, 'project.project_name'),
    environment:
      b.environment === null || b.environment === undefined
        ? null
        : oneOf(b.environment, ENVIRONMENTS, 'project.environment'),
  };
}

/** Project and workspace names: short, printable, no path separators. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$/;
