import { rm } from 'node:fs/promises';
import {
  base64url,
  type CryptoKey,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type JWTPayload,
  SignJWT,
} from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isAgentSecretsError } from '../../src/core/errors.js';
import {
  type AgentRecord,
  type AgentStore,
  createAgentStore,
  newAgent,
} from '../../src/identity/agents.js';
import {
  createTokenVerifier,
  issueToken,
  loadSigningKey,
  MAX_TTL_SECONDS,
  parseTtl,
  type SigningKey,
  TOKEN_PREFIX,
} from '../../src/identity/tokens.js';
import { makeWorkspace, type Workspace } from '../helpers/proxy-fixture.js';

/** A fixed start time: every test drives the verifier's clock by hand. */
const T0 = Date.parse('2030-01-15T12:00:00Z');
const DAY = 86_400;

/** One workspace with its agent store and signing key. */
interface Side {
  ws: Workspace;
  workspaceId: string;
  store: AgentStore;
  key: SigningKey;
}

async function makeSide(): Promise<Side> {
  const ws = await makeWorkspace();
  const workspaceId = ws.target.workspaceId;
  const vault = await ws.services.vault.unlock();
  let key: SigningKey | undefined;
  try {
    key = await loadSigningKey(vault, workspaceId, { create: true });
  } finally {
    vault.close();
  }
  if (key === undefined) throw new Error('loadSigningKey returned no key');
  return { ws, workspaceId, store: createAgentStore(ws.services.config.paths), key };
}

let main: Side;
let other: Side;
let agentCounter = 0;
/** The verifier's clock, reset before each test. */
let clock = new Date(T0);

beforeAll(async () => {
  main = await makeSide();
  other = await makeSide();
});

afterAll(async () => {
  await Promise.all(
    [main, other].map((side) => rm(side.ws.home, { recursive: true, force: true })),
  );
});

beforeEach(() => {
  clock = new Date(T0);
});

/** Creates an agent with a unique name in `side` (or with `name`), as `agent create` does. */
async function createAgent(side: Side, name = `bot-${++agentCounter}`): Promise<AgentRecord> {
  const agent = newAgent(side.workspaceId, name, 'test agent', new Date(T0));
  await side.store.update((f) => {
    f.agents.push(agent);
  });
  return agent;
}

/** Records a token's metadata on its agent, as `agent token issue` does. */
async function recordToken(
  side: Side,
  agentId: string,
  tokenId: string,
  expiresAt: Date,
  label = '',
): Promise<void> {
  await side.store.update((f) => {
    const target = f.agents.find((a) => a.id === agentId);
    if (target === undefined) throw new Error(`no agent ${agentId}`);
    target.tokens.push({
      id: tokenId,
      label,
      created_at: new Date(T0).toISOString(),
      expires_at: expiresAt.toISOString(),
      revoked_at: null,
    });
  });
}

/** Issues a token and records it (unless `record` is false). */
async function issue(
  side: Side,
  agent: AgentRecord,
  options: { now?: Date; ttlSeconds?: number; record?: boolean; key?: SigningKey } = {},
): Promise<{ token: string; tokenId: string; expiresAt: Date }> {
  const issued = await issueToken({
    key: options.key ?? side.key,
    agent,
    label: 'ci',
    ttlSeconds: options.ttlSeconds ?? 30 * DAY,
    now: options.now ?? new Date(T0),
  });
  if (options.record !== false) await recordToken(side, agent.id, issued.tokenId, issued.expiresAt);
  return issued;
}

/** A verifier for `side`, reading the shared clock; `keyCalls` counts signature checks. */
function verifierFor(side: Side, agents: AgentStore = side.store) {
  const counters = { keyCalls: 0 };
  const verifier = createTokenVerifier({
    workspaceId: side.workspaceId,
    publicKey: async () => {
      counters.keyCalls++;
      return side.key.publicKey;
    },
    agents,
    now: () => clock,
  });
  return Object.assign(verifier, { counters });
}

/** The three JWS parts of an `agt_` token. */
function parts(token: string): [string, string, string] {
  const [h = '', p = '', s = ''] = token.slice(TOKEN_PREFIX.length).split('.');
  return [h, p, s];
}

function decodeJson(part: string): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(base64url.decode(part))) as Record<string, unknown>;
}

function encodeJson(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

/** Re-encodes the payload with `change` applied, keeping the original header and signature. */
function withPayload(token: string, change: (payload: Record<string, unknown>) => void): string {
  const [h, p, s] = parts(token);
  const payload = decodeJson(p);
  change(payload);
  return `${TOKEN_PREFIX}${h}.${encodeJson(payload)}.${s}`;
}

/** Signs arbitrary claims and header with `key` (EdDSA unless the header says otherwise). */
async function craft(options: {
  key: CryptoKey | Uint8Array;
  header?: Record<string, unknown>;
  claims: JWTPayload;
  omitExp?: boolean;
}): Promise<string> {
  const { iat, nbf, exp, iss, sub, jti, ...rest } = options.claims;
  let jwt = new SignJWT(rest).setProtectedHeader({
    alg: 'EdDSA',
    typ: 'agt+jwt',
    ...options.header,
  } as { alg: string });
  if (iss !== undefined) jwt = jwt.setIssuer(iss);
  if (sub !== undefined) jwt = jwt.setSubject(sub);
  if (jti !== undefined) jwt = jwt.setJti(jti);
  if (iat !== undefined) jwt = jwt.setIssuedAt(iat);
  if (nbf !== undefined) jwt = jwt.setNotBefore(nbf);
  if (exp !== undefined && options.omitExp !== true) jwt = jwt.setExpirationTime(exp);
  return `${TOKEN_PREFIX}${await jwt.sign(options.key)}`;
}

/** The claims a real token of `agent` carries, with a recorded token id. */
async function realClaims(side: Side, agent: AgentRecord): Promise<JWTPayload> {
  const { token } = await issue(side, agent);
  return decodeJson(parts(token)[1]) as JWTPayload;
}

/** Asserts that neither the token nor any substantial part of it shows in the error. */
function expectNoTokenInError(err: unknown, token: string): void {
  const error = err as Error & { context?: unknown };
  // The cause too: a debug log prints it.
  const cause = error.cause instanceof Error ? `${error.cause.message}\n${error.cause.stack}` : '';
  const visible = `${error.message}\n${JSON.stringify(error.context ?? {})}\n${cause}`;
  const pieces = [token, token.slice(TOKEN_PREFIX.length), ...parts(token)].filter(
    (piece) => piece.length >= 8,
  );
  for (const piece of pieces) expect(visible).not.toContain(piece);
}

/** Runs `verify` and returns the AgentSecretsError it throws; fails if it succeeds. */
async function refusal(
  verifier: { verify(token: string): Promise<unknown> },
  token: string,
): Promise<Error & { code: string }> {
  try {
    await verifier.verify(token);
  } catch (err) {
    expect(isAgentSecretsError(err)).toBe(true);
    return err as Error & { code: string };
  }
  throw new Error('expected the token to be refused, but it verified');
}

describe('issued agent tokens', () => {
  it('a valid token verifies and names its agent and token id', async () => {
    const agent = await createAgent(main);
    const { token, tokenId, expiresAt } = await issue(main, agent);
    expect(token.startsWith(TOKEN_PREFIX)).toBe(true);
    expect(tokenId).toMatch(/^tok_/);
    expect(expiresAt.getTime()).toBe(T0 + 30 * DAY * 1000);

    const verified = await verifierFor(main).verify(token);
    expect(verified.tokenId).toBe(tokenId);
    expect(verified.agent.id).toBe(agent.id);
    expect(verified.agent.name).toBe(agent.name);
  });

  it('carries the claims of DESIGN §6 and an EdDSA header with the key id', async () => {
    const agent = await createAgent(main);
    const { token, tokenId, expiresAt } = await issue(main, agent);
    const [h, p] = parts(token);
    expect(decodeJson(h)).toEqual({ alg: 'EdDSA', kid: main.key.kid, typ: 'agt+jwt' });
    const payload = decodeJson(p);
    expect(payload).toMatchObject({
      ws: main.workspaceId,
      sub: agent.id,
      name: agent.name,
      gen: 1,
      jti: tokenId,
      label: 'ci',
      iat: T0 / 1000,
      exp: expiresAt.getTime() / 1000,
    });
  });

  it('verifies twice from the signature cache, and re-checks revocation every time', async () => {
    const agent = await createAgent(main);
    const { token, tokenId } = await issue(main, agent);
    let reads = 0;
    const counting: AgentStore = {
      read: async () => {
        reads++;
        return main.store.read();
      },
      update: (fn) => main.store.update(fn),
      get: (workspaceId, name) => main.store.get(workspaceId, name),
    };
    const verifier = verifierFor(main, counting);

    expect((await verifier.verify(token)).tokenId).toBe(tokenId);
    expect((await verifier.verify(token)).tokenId).toBe(tokenId);
    // The signature was checked once; the agents were read on both calls.
    expect(verifier.counters.keyCalls).toBe(1);
    expect(reads).toBe(2);

    await main.store.update((f) => {
      const t = f.agents.find((a) => a.id === agent.id)!.tokens.find((x) => x.id === tokenId)!;
      t.revoked_at = new Date(T0).toISOString();
    });
    const err = await refusal(verifier, token);
    expect(err.code).toBe('token_revoked');
    expect(err.message).toContain(tokenId);
    expect(err.message).toContain('agentsecrets agent token issue');
    expect(verifier.counters.keyCalls).toBe(1);
    expectNoTokenInError(err, token);
  });

  it('a cached token fails on the next call once ANOTHER store instance revokes it', async () => {
    const agent = await createAgent(main);
    const { token, tokenId } = await issue(main, agent);
    // The proxy's store and the CLI's store are separate instances over one agents.json.
    const proxyStore = createAgentStore(main.ws.services.config.paths);
    const cliStore = createAgentStore(main.ws.services.config.paths);
    const verifier = verifierFor(main, proxyStore);
    expect((await verifier.verify(token)).tokenId).toBe(tokenId);
    expect((await verifier.verify(token)).tokenId).toBe(tokenId);

    await cliStore.update((f) => {
      const t = f.agents.find((a) => a.id === agent.id)!.tokens.find((x) => x.id === tokenId)!;
      t.revoked_at = new Date(T0).toISOString();
    });
    expect((await refusal(verifier, token)).code).toBe('token_revoked');
  });

  it('a cached token fails on the next call after revoke-all in another store instance', async () => {
    const agent = await createAgent(main);
    const { token } = await issue(main, agent);
    const proxyStore = createAgentStore(main.ws.services.config.paths);
    const verifier = verifierFor(main, proxyStore);
    await verifier.verify(token);

    await createAgentStore(main.ws.services.config.paths).update((f) => {
      f.agents.find((a) => a.id === agent.id)!.generation++;
    });
    expect((await refusal(verifier, token)).code).toBe('token_revoked');
  });

  it('a token whose expiry is later than the one recorded at issue is refused (a re-minted token)', async () => {
    const agent = await createAgent(main);
    // Someone holding the signing key mints a token for a real token id with a longer life.
    const minted = await issue(main, agent, { ttlSeconds: 300 * DAY, record: false });
    await recordToken(main, agent.id, minted.tokenId, new Date(T0 + 30 * DAY * 1000));
    const error = await refusal(verifierFor(main), minted.token);
    expect(error.code).toBe('invalid_agent_token');
    expect(error.message).toMatch(/does not match the token that was issued/);
  });

  it('a cached token stops verifying once the clock passes its expiry', async () => {
    const agent = await createAgent(main);
    const { token, expiresAt } = await issue(main, agent, { ttlSeconds: 3600 });
    const verifier = verifierFor(main);
    await verifier.verify(token);
    clock = new Date(expiresAt.getTime() + 60_000);
    const err = await refusal(verifier, token);
    expect(err.code).toBe('invalid_agent_token');
    expect(err.message).toContain('expired');
    expect(err.message).toContain('agentsecrets agent token issue');
  });

  it('tolerates a few seconds of clock skew, but no more', async () => {
    const agent = await createAgent(main);
    const early = await issue(main, agent, { now: new Date(T0 + 3_000) });
    expect((await verifierFor(main).verify(early.token)).tokenId).toBe(early.tokenId);
    const late = await issue(main, agent, { now: new Date(T0 + 30_000) });
    expect((await refusal(verifierFor(main), late.token)).code).toBe('invalid_agent_token');
  });

  it('refuses every token when the workspace has no signing key yet', async () => {
    const agent = await createAgent(main);
    const { token } = await issue(main, agent);
    const verifier = createTokenVerifier({
      workspaceId: main.workspaceId,
      publicKey: async () => undefined,
      agents: main.store,
      now: () => clock,
    });
    const err = await refusal(verifier, token);
    expect(err.code).toBe('invalid_agent_token');
    expectNoTokenInError(err, token);
  });

  it('loadSigningKey returns the stored key on later loads and nothing without create', async () => {
    const vault = await main.ws.services.vault.unlock();
    try {
      const again = await loadSigningKey(vault, main.workspaceId, { create: false });
      expect(again?.kid).toBe(main.key.kid);
      expect(await loadSigningKey(vault, 'ws_never_used', { create: false })).toBeUndefined();
    } finally {
      vault.close();
    }
  });

  interface Attack {
    name: string;
    /** Builds the token to present; may change the agents file or the clock. */
    token: (agent: AgentRecord) => Promise<string>;
    code?: 'invalid_agent_token' | 'token_revoked';
    /** Which check refused it; defaults to the generic signature/format/claims message. */
    because?: RegExp;
  }

  const NOT_PREFIXED = /tokens start with agt_/;

  const attacks: Attack[] = [
    {
      name: 'payload altered: name',
      token: async (agent) =>
        withPayload((await issue(main, agent)).token, (p) => {
          p.name = 'admin-bot';
        }),
    },
    {
      name: 'payload altered: sub (another existing agent)',
      token: async (agent) => {
        const victim = await createAgent(main);
        return withPayload((await issue(main, agent)).token, (p) => {
          p.sub = victim.id;
        });
      },
    },
    {
      name: 'payload altered: gen raised to match a revoke-all',
      token: async (agent) => {
        const { token } = await issue(main, agent);
        await main.store.update((f) => {
          f.agents.find((a) => a.id === agent.id)!.generation = 2;
        });
        return withPayload(token, (p) => {
          p.gen = 2;
        });
      },
    },
    {
      name: 'payload altered: exp extended by a year',
      token: async (agent) => {
        const { token } = await issue(main, agent, { ttlSeconds: 60 });
        clock = new Date(T0 + 3_600_000);
        return withPayload(token, (p) => {
          p.exp = (p.exp as number) + 365 * DAY;
        });
      },
    },
    {
      name: 'signature altered: one character flipped',
      token: async (agent) => {
        const [h, p, s] = parts((await issue(main, agent)).token);
        // A middle character: every one of its six bits is significant.
        const i = Math.floor(s.length / 2);
        const flipped = `${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
        return `${TOKEN_PREFIX}${h}.${p}.${flipped}`;
      },
    },
    {
      name: 'signature spliced from another valid token of the same agent',
      token: async (agent) => {
        const [h, p] = parts((await issue(main, agent)).token);
        const [, , s] = parts((await issue(main, agent)).token);
        return `${TOKEN_PREFIX}${h}.${p}.${s}`;
      },
    },
    {
      name: 'alg none with the payload copied and an empty signature',
      token: async (agent) => {
        const [, p] = parts((await issue(main, agent)).token);
        return `${TOKEN_PREFIX}${encodeJson({ alg: 'none', typ: 'agt+jwt' })}.${p}.`;
      },
    },
    {
      name: 'HS256 keyed with the raw Ed25519 public key bytes',
      token: async (agent) => {
        const jwk = await exportJWK(main.key.publicKey);
        const secret = base64url.decode(jwk.x!);
        return craft({
          key: secret,
          header: { alg: 'HS256', kid: main.key.kid },
          claims: await realClaims(main, agent),
        });
      },
    },
    {
      name: 'HS256 keyed with the SPKI PEM of the public key',
      token: async (agent) => {
        const pem = new TextEncoder().encode(await exportSPKI(main.key.publicKey));
        return craft({
          key: pem,
          header: { alg: 'HS256', kid: main.key.kid },
          claims: await realClaims(main, agent),
        });
      },
    },
    {
      name: 'a token of another workspace (its own key and agent of the same name)',
      token: async (agent) => {
        const twin = await createAgent(other, agent.name);
        return (await issue(other, twin)).token;
      },
    },
    {
      name: 'signed by a different Ed25519 key with otherwise correct, recorded claims',
      token: async (agent) => {
        const { privateKey } = await generateKeyPair('EdDSA');
        return craft({
          key: privateKey,
          header: { kid: main.key.kid },
          claims: await realClaims(main, agent),
        });
      },
    },
    {
      name: 'the real key, but the ws claim names another workspace',
      because: /belongs to another workspace/,
      token: async (agent) => {
        const claims = await realClaims(main, agent);
        return craft({ key: main.key.privateKey, claims: { ...claims, ws: other.workspaceId } });
      },
    },
    {
      name: 'the real key, but a foreign issuer',
      token: async (agent) => {
        const claims = await realClaims(main, agent);
        return craft({ key: main.key.privateKey, claims: { ...claims, iss: 'evil' } });
      },
    },
    {
      name: 'expired (clock advanced past exp)',
      because: /has expired/,
      token: async (agent) => {
        const { token, expiresAt } = await issue(main, agent, { ttlSeconds: 3600 });
        clock = new Date(expiresAt.getTime() + 10_000);
        return token;
      },
    },
    {
      name: 'not yet valid (issued a minute in the verifier’s future)',
      token: async (agent) => (await issue(main, agent, { now: new Date(T0 + 60_000) })).token,
    },
    {
      name: 'revoked token id',
      because: /has been revoked/,
      code: 'token_revoked',
      token: async (agent) => {
        const { token, tokenId } = await issue(main, agent);
        await main.store.update((f) => {
          const a = f.agents.find((x) => x.id === agent.id)!;
          a.tokens.find((t) => t.id === tokenId)!.revoked_at = new Date(T0).toISOString();
        });
        return token;
      },
    },
    {
      name: 'revoke-all (the agent generation was bumped)',
      because: /has been revoked/,
      code: 'token_revoked',
      token: async (agent) => {
        const { token } = await issue(main, agent);
        await main.store.update((f) => {
          f.agents.find((x) => x.id === agent.id)!.generation++;
        });
        return token;
      },
    },
    {
      name: 'agent deleted',
      because: /no longer exists/,
      token: async (agent) => {
        const { token } = await issue(main, agent);
        await main.store.update((f) => {
          f.agents = f.agents.filter((a) => a.id !== agent.id);
        });
        return token;
      },
    },
    {
      name: 'agent deleted and re-created with the same name',
      because: /no longer exists/,
      token: async (agent) => {
        const { token, tokenId, expiresAt } = await issue(main, agent);
        await main.store.update((f) => {
          f.agents = f.agents.filter((a) => a.id !== agent.id);
        });
        const reborn = await createAgent(main, agent.name);
        expect(reborn.id).not.toBe(agent.id);
        // Even a record of the same token id under the new agent does not revive it.
        await recordToken(main, reborn.id, tokenId, expiresAt);
        return token;
      },
    },
    {
      name: 'token id unknown to agents.json (issued, never recorded)',
      because: /unknown to the workspace/,
      token: async (agent) => (await issue(main, agent, { record: false })).token,
    },
    {
      name: 'token id recorded on a different agent',
      because: /unknown to the workspace/,
      token: async (agent) => {
        const { token, tokenId, expiresAt } = await issue(main, agent, { record: false });
        const other = await createAgent(main);
        await recordToken(main, other.id, tokenId, expiresAt);
        return token;
      },
    },
    {
      name: 'truncated in the middle',
      token: async (agent) => {
        const { token } = await issue(main, agent);
        return token.slice(0, Math.floor(token.length / 2));
      },
    },
    {
      name: 'truncated signature (last character cut)',
      token: async (agent) => (await issue(main, agent)).token.slice(0, -1),
    },
    { name: 'empty string', because: NOT_PREFIXED, token: async () => '' },
    { name: 'the bare prefix agt_', token: async () => 'agt_' },
    { name: 'agt_x.y.z', token: async () => 'agt_x.y.z' },
    { name: 'not-a-token', because: NOT_PREFIXED, token: async () => 'not-a-token' },
    {
      name: 'a valid JWS without the agt_ prefix',
      because: NOT_PREFIXED,
      token: async (agent) => (await issue(main, agent)).token.slice(TOKEN_PREFIX.length),
    },
    {
      name: 'prefix in upper case (AGT_)',
      because: NOT_PREFIXED,
      token: async (agent) => `AGT_${(await issue(main, agent)).token.slice(TOKEN_PREFIX.length)}`,
    },
    {
      name: 'wrong typ header (JWT)',
      token: async (agent) =>
        craft({
          key: main.key.privateKey,
          header: { typ: 'JWT' },
          claims: await realClaims(main, agent),
        }),
    },
    {
      name: 'no typ header',
      token: async (agent) =>
        craft({
          key: main.key.privateKey,
          header: { typ: undefined },
          claims: await realClaims(main, agent),
        }),
    },
    {
      name: 'missing exp claim (signed with the real key)',
      token: async (agent) =>
        craft({ key: main.key.privateKey, claims: await realClaims(main, agent), omitExp: true }),
    },
  ];

  it.each(attacks)('refuses: $name', async ({ token: make, code, because }) => {
    const agent = await createAgent(main);
    const token = await make(agent);
    const err = await refusal(verifierFor(main), token);
    expect(err.code).toBe(code ?? 'invalid_agent_token');
    expect(err.message).toMatch(because ?? /not valid \(bad signature, format or claims\)/);
    expectNoTokenInError(err, token);
  });

  it('a missing exp is refused even though every other claim is right', async () => {
    // Control for the row above: the same crafted token with exp verifies.
    const agent = await createAgent(main);
    const claims = await realClaims(main, agent);
    const ok = await craft({ key: main.key.privateKey, claims });
    expect((await verifierFor(main).verify(ok)).agent.id).toBe(agent.id);
  });
});

describe('parseTtl', () => {
  it.each<[string, number]>([
    ['30d', 30 * DAY],
    ['12h', 12 * 3600],
    ['90m', 90 * 60],
    ['3600s', 3600],
    ['1w', 7 * DAY],
    ['1y', 365 * DAY],
    ['365d', 365 * DAY],
  ])('accepts %s as %i seconds', (text, seconds) => {
    expect(parseTtl(text)).toBe(seconds);
  });

  it.each(['0d', '366d', '2y', 'abc', '', '5', '-1d', '1.5d', '30 days'])(
    'refuses %j with usage_error',
    (text) => {
      let caught: unknown;
      try {
        parseTtl(text);
      } catch (err) {
        caught = err;
      }
      expect(isAgentSecretsError(caught, 'usage_error')).toBe(true);
      expect((caught as Error).message).toMatch(/ttl/i);
    },
  );
});

describe('issueToken lifetimes', () => {
  it.each([0, -1, MAX_TTL_SECONDS + 1, 2 * MAX_TTL_SECONDS, Number.POSITIVE_INFINITY])(
    'refuses ttlSeconds %d with usage_error',
    async (ttlSeconds) => {
      const agent = await createAgent(main);
      await expect(
        issueToken({ key: main.key, agent, label: '', ttlSeconds, now: new Date(T0) }),
      ).rejects.toMatchObject({ code: 'usage_error' });
    },
  );

  it('accepts exactly 365 days', async () => {
    const agent = await createAgent(main);
    const { expiresAt } = await issue(main, agent, { ttlSeconds: MAX_TTL_SECONDS });
    expect(expiresAt.getTime()).toBe(T0 + MAX_TTL_SECONDS * 1000);
  });
});
