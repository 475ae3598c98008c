import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AgentsFile } from '../../src/identity/agents.js';
import {
  agentsRights,
  canonicalJson,
  sealedWorkspaceIds,
  seal,
  sealIsAuthentic,
  verifyDocument,
  vaultRights,
  workspacesRights,
} from '../../src/strict/rights.js';
import { gateWait } from '../../src/cli/strict-gate.js';
import type { VaultFile } from '../../src/vault/format.js';
import { defaultPolicy, type WorkspacesFile } from '../../src/workspace/model.js';

const key = new Uint8Array(randomBytes(32));

function workspaces(): WorkspacesFile {
  return {
    format: 1,
    workspaces: [
      {
        id: 'ws_1',
        name: 'local',
        kind: 'local',
        created_at: 't',
        projects: [],
        allowlist: [{ pattern: 'api.stripe.com', added_by: 'me', added_at: 't' }],
        allowlist_log: [],
        policy: { ...defaultPolicy(), require_identity: 'issued' },
      },
      {
        id: 'ws_team',
        name: 'acme',
        kind: 'team',
        created_at: 't',
        projects: [],
        allowlist: [{ pattern: 'api.github.com', added_by: 'admin', added_at: 't' }],
        allowlist_log: [],
        policy: { ...defaultPolicy(), require_identity: 'issued' },
        team: {
          server_url: 'https://sync.example',
          user_id: 'usr_me',
          role: 'member',
          epoch: 2,
          doc: { body: '{"seq":7}', signature: 'sig', signer: 'usr_admin' },
          doc_seq: 7,
          synced_at: 't',
          heartbeat_at: null,
          pinned: { usr_admin: 'fp-admin' },
        },
      },
    ],
  };
}

function agents(): AgentsFile {
  return {
    format: 1,
    agents: [
      {
        id: 'ag_1',
        name: 'bot',
        description: '',
        workspace_id: 'ws_1',
        created_at: 't',
        generation: 1,
        tokens: [{ id: 'tok_1', label: '', created_at: 't', expires_at: 'x', revoked_at: 'r' }],
        rules: {
          allow_secrets: [],
          deny_secrets: ['DB_*'],
          allow_domains: [],
          methods: [],
          rate: null,
        },
      },
    ],
  };
}

function vault(): VaultFile {
  const record = (key: string, binding: VaultFile['records'][number]['binding']) => ({
    id: `rec_${key}`,
    workspace_id: 'ws_1',
    project_id: 'prj_1',
    environment: 'development',
    key,
    version: 1,
    created_at: 't',
    updated_at: 't',
    nonce: 'n',
    ciphertext: 'c',
    base_version: null,
    changed_since_sync: true,
    binding,
    allow_short: false,
  });
  return {
    format: 1,
    vault_id: 'vlt_1',
    created_at: 't',
    key: { provider: 'memory', slot: 's' },
    key_check: { nonce: 'n', ciphertext: 'c' },
    records: [
      record('STRIPE_KEY', { domains: ['api.stripe.com'], styles: [] }),
      record('OPEN', null),
    ],
  };
}

function sealedWorkspaces(): WorkspacesFile {
  const file = workspaces();
  return { ...file, rights_seal: seal(key, 'workspaces.json', workspacesRights(file)) };
}

const verifyWs = (file: WorkspacesFile, k = key) =>
  verifyDocument(k, 'workspaces.json', { seal: file.rights_seal, rights: workspacesRights(file) });

describe('rights seals', () => {
  it('canonical JSON ignores key order', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe(
      canonicalJson({ a: [{ c: 3, d: 2 }], b: 1 }),
    );
  });

  it('a seal verifies with its key and document, not another', () => {
    const s = seal(key, 'agents.json', { x: 1 });
    expect(sealIsAuthentic(key, 'agents.json', s)).toBe(true);
    expect(sealIsAuthentic(key, 'workspaces.json', s)).toBe(false);
    expect(sealIsAuthentic(new Uint8Array(randomBytes(32)), 'agents.json', s)).toBe(false);
  });

  // One row per hand edit: each must fail verification (and the untouched file must pass, so
  // the check can fail at all).
  const wsEdits: [string, (f: WorkspacesFile) => void][] = [
    [
      'add a domain',
      (f) =>
        f.workspaces[0]!.allowlist.push({ pattern: 'evil.example', added_by: 'x', added_at: 't' }),
    ],
    ['change a domain', (f) => (f.workspaces[0]!.allowlist[0]!.pattern = 'evil.example')],
    ['lower the identity level', (f) => (f.workspaces[0]!.policy.require_identity = 'anonymous')],
    ['open the default domains', (f) => f.workspaces[0]!.policy.default_allow_domains.push('*')],
    ['turn the workspace into a team one', (f) => (f.workspaces[0]!.kind = 'team')],
    [
      'add a domain and copy the new rights into the seal',
      (f) => {
        f.workspaces[0]!.allowlist.push({ pattern: 'evil.example', added_by: 'x', added_at: 't' });
        f.rights_seal = { rights: workspacesRights(f), mac: f.rights_seal!.mac };
      },
    ],
    ['drop the seal', (f) => delete f.rights_seal],
    // A team workspace's copy of its signed document is what the engine reads: sealed too.
    [
      'add a domain to a team workspace',
      (f) =>
        f.workspaces[1]!.allowlist.push({ pattern: 'evil.example', added_by: 'x', added_at: 't' }),
    ],
    [
      "lower a team workspace's identity level",
      (f) => (f.workspaces[1]!.policy.require_identity = 'anonymous'),
    ],
    ['pin another admin key', (f) => (f.workspaces[1]!.team!.pinned.usr_evil = 'fp-evil')],
    [
      'replace the signed document (its token key)',
      (f) =>
        (f.workspaces[1]!.team!.doc = {
          body: '{"seq":8}',
          signature: 'forged',
          signer: 'usr_evil',
        }),
    ],
    [
      'point it at another server',
      (f) => (f.workspaces[1]!.team!.server_url = 'https://evil.example'),
    ],
  ];
  it('workspaces.json as sealed verifies', () => expect(verifyWs(sealedWorkspaces())).toBe(true));
  it.each(wsEdits)('workspaces.json: %s fails', (_name, edit) => {
    const file = sealedWorkspaces();
    edit(file);
    expect(verifyWs(file)).toBe(false);
  });
  it('a change that grants nothing (a new project, a sync time) keeps the seal valid', () => {
    const file = sealedWorkspaces();
    file.workspaces[1]!.team!.synced_at = 'later';
    file.workspaces[0]!.projects.push({
      id: 'p',
      name: 'p',
      description: '',
      created_at: 't',
      updated_at: 't',
      last_pull_at: null,
      last_push_at: null,
    });
    file.workspaces[0]!.allowlist_log.push({ at: 't', by: 'x', action: 'add', pattern: 'y' });
    expect(verifyWs(file)).toBe(true);
  });

  const agentEdits: [string, (f: AgentsFile) => void][] = [
    ['un-revoke a token', (f) => (f.agents[0]!.tokens[0]!.revoked_at = null)],
    ['drop its rules', (f) => (f.agents[0]!.rules = null)],
    ['extend an expiry', (f) => (f.agents[0]!.tokens[0]!.expires_at = 'y')],
    ['roll back the generation', (f) => (f.agents[0]!.generation = 0)],
  ];
  it.each(agentEdits)('agents.json: %s fails', (_name, edit) => {
    const ids = sealedWorkspaceIds(workspaces());
    const file = agents();
    const s = seal(key, 'agents.json', agentsRights(file, ids));
    expect(verifyDocument(key, 'agents.json', { seal: s, rights: agentsRights(file, ids) })).toBe(
      true,
    );
    edit(file);
    expect(verifyDocument(key, 'agents.json', { seal: s, rights: agentsRights(file, ids) })).toBe(
      false,
    );
  });

  it('vault.json: removing or moving a binding fails; deleting a record does not', () => {
    const file = vault();
    file.rights_seal = seal(key, 'vault.json', vaultRights(file));
    const check = (f: VaultFile) =>
      verifyDocument(key, 'vault.json', { seal: f.rights_seal, vault: f });
    expect(check(file)).toBe(true);
    const unbound = structuredClone(file);
    unbound.records[0]!.binding = null;
    expect(check(unbound)).toBe(false);
    const moved = structuredClone(file);
    moved.records[0]!.binding = { domains: ['evil.example'], styles: [] };
    expect(check(moved)).toBe(false);
    const short = structuredClone(file);
    short.records[1]!.allow_short = true;
    expect(check(short)).toBe(false);
    const deleted = structuredClone(file);
    deleted.records.splice(0, 1);
    expect(check(deleted)).toBe(true);
  });
});

describe('the gate rate limit', () => {
  it('three wrong passphrases are free, then each waits twice as long', () => {
    const now = 1_000_000_000;
    expect(gateWait([now - 3, now - 2], now)).toBe(0);
    expect(gateWait([now - 3, now - 2, now - 1], now)).toBeGreaterThan(29_000);
    expect(gateWait([now - 4, now - 3, now - 2, now - 1], now)).toBeGreaterThan(59_000);
    expect(gateWait([now - 20 * 60_000, now - 19 * 60_000, now - 18 * 60_000], now)).toBe(0);
  });
});
