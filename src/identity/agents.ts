import type { RightsSeal } from '../core/rights-seal.js';
import { withSeal } from '../vault/format.js';
import type { Paths } from '../core/config.js';
import { AgentSecretsError, UsageError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import { arr, num, obj, optStr, str, strArr } from '../core/validate.js';
import { createDocumentStore } from '../store/document.js';

/** Metadata of one issued token. The token itself is never stored anywhere. */
export interface TokenRecord {
  id: string;
  label: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

/** Per-agent rules (DESIGN §6). They bind only callers with a verified token of this agent. */
export interface AgentRules {
  allow_secrets: string[];
  deny_secrets: string[];
  allow_domains: string[];
  methods: string[];
  rate: string | null;
}

/** An agent: a name people use, a random id tokens carry, and a revoke-all generation. */
export interface AgentRecord {
  id: string;
  name: string;
  description: string;
  workspace_id: string;
  created_at: string;
  generation: number;
  tokens: TokenRecord[];
  rules: AgentRules | null;
}

/** agents.json. */
export interface AgentsFile {
  format: 1;
  agents: AgentRecord[];
  /** Sealed copy of the agents' tokens and rules (strict mode; see src/strict). */
  rights_seal?: RightsSeal;
}

/** Agent names: short, printable, no spaces. */
export const AGENT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Throws a usage error unless `name` is a valid agent name. */
export function assertAgentName(name: string): void {
  if (!AGENT_NAME_PATTERN.test(name)) {
    throw new UsageError(
      'invalid agent name: use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. billing-bot)',
    );
  }
}

/** The agents of this state folder. Reads are cached by file identity (cheap on every call). */
export interface AgentStore {
  read(): Promise<AgentsFile>;
  update(fn: (file: AgentsFile) => void): Promise<AgentsFile>;
  /** The agent named `name` in a workspace, or `not_found`. */
  get(workspaceId: string, name: string): Promise<AgentRecord>;
}

/** Creates the agent store over agents.json. */
export function createAgentStore(paths: Paths): AgentStore {
  const store = createDocumentStore({ path: paths.agents, parse: parseAgentsFile, cache: true });
  const empty = (): AgentsFile => ({ format: 1, agents: [] });
  return {
    async read() {
      return (await store.read()) ?? empty();
    },
    async update(fn) {
      return store.update((current) => {
        const file = current ?? empty();
        fn(file);
        return file;
      });
    },
    async get(workspaceId, name) {
      const agent = ((await store.read()) ?? empty()).agents.find(
        (a) => a.workspace_id === workspaceId && a.name === name,
      );
      if (agent === undefined) throw agentNotFound(name);
      return agent;
    },
  };
}

/** A new agent record. */
export function newAgent(
  workspaceId: string,
  name: string,
  description: string,
  now: Date,
): AgentRecord {
  assertAgentName(name);
  return {
    id: randomId('ag'),
    name,
    description,
    workspace_id: workspaceId,
    created_at: now.toISOString(),
    generation: 1,
    tokens: [],
    rules: null,
  };
}

/** `agent 'NAME' not found`, with the command that lists agents. */
export function agentNotFound(name: string): AgentSecretsError {
  return new AgentSecretsError(
    'not_found',
    `agent '${name}' not found; see \`agentsecrets agent list\`, or create it with \`agentsecrets agent create ${name}\``,
    { context: { agent: name } },
  );
}

/** Validates agents.json. */
export function parseAgentsFile(raw: unknown): AgentsFile {
  const doc = obj(raw, 'agents');
  return {
    format: 1,
    agents: arr(doc.agents, 'agents.agents').map((a, i) => {
      const path = `agents[${i}]`;
      const agent = obj(a, path);
      return {
        id: str(agent.id, `${path}.id`),
        name: str(agent.name, `${path}.name`),
        description: optStr(agent.description, `${path}.description`) ?? '',
        workspace_id: str(agent.workspace_id, `${path}.workspace_id`),
        created_at: str(agent.created_at, `${path}.created_at`),
        generation: num(agent.generation, `${path}.generation`),
        tokens: arr(agent.tokens, `${path}.tokens`).map((t, j) => {
          const tp = `${path}.tokens[${j}]`;
          const token = obj(t, tp);
          return {
            id: str(token.id, `${tp}.id`),
            label: optStr(token.label, `${tp}.label`) ?? '',
            created_at: str(token.created_at, `${tp}.created_at`),
            expires_at: str(token.expires_at, `${tp}.expires_at`),
            revoked_at: optStr(token.revoked_at, `${tp}.revoked_at`) ?? null,
          };
        }),
        rules:
          agent.rules === null || agent.rules === undefined
            ? null
            : parseRules(agent.rules, `${path}.rules`),
      };
    }),
    ...withSeal(doc.rights_seal),
  };
}

function parseRules(raw: unknown, path: string): AgentRules {
  const r = obj(raw, path);
  return {
    allow_secrets: strArr(r.allow_secrets ?? [], `${path}.allow_secrets`),
    deny_secrets: strArr(r.deny_secrets ?? [], `${path}.deny_secrets`),
    allow_domains: strArr(r.allow_domains ?? [], `${path}.allow_domains`),
    methods: strArr(r.methods ?? [], `${path}.methods`),
    rate: optStr(r.rate, `${path}.rate`) ?? null,
  };
}
