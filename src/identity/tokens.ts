import { createHash } from 'node:crypto';
import {
  calculateJwkThumbprint,
  type CryptoKey,
  exportJWK,
  exportPKCS8,
  generateKeyPair,
  importJWK,
  importPKCS8,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import { AgentSecretsError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import type { UnlockedVault } from '../vault/vault.js';
import type { AgentRecord, AgentStore } from './agents.js';

/**
 * Issued agent tokens (DESIGN §6): `agt_` + an EdDSA compact JWS signed by the workspace
 * signing key, which lives in the vault under a reserved name. Nothing stores a token; a
 * token is identified afterwards only by its id (`jti`, `tok_…`).
 */

/** The prefix of every issued token. */
export const TOKEN_PREFIX = 'agt_';
const ISSUER = 'agentsecrets';
const TYPE = 'agt+jwt';
/** Reserved vault name of the signing key. */
export const SIGNING_KEY_NAME = 'token-signing-key';

/** Default and longest token lifetimes. */
export const DEFAULT_TTL_SECONDS = 30 * 24 * 3600;
export const MAX_TTL_SECONDS = 365 * 24 * 3600;

/** The workspace's token-signing key pair. */
export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
}

interface StoredKey {
  kid: string;
  private_pkcs8: string;
  public_jwk: Record<string, unknown>;
}

/** Loads the workspace's signing key from the vault; creates it on first use if `create`. */
export async function loadSigningKey(
  vault: UnlockedVault,
  workspaceId: string,
  options: { create: boolean },
): Promise<SigningKey | undefined> {
  const stored = await vault.getReserved(workspaceId, SIGNING_KEY_NAME);
  if (stored !== undefined) {
    const parsed = JSON.parse(stored) as StoredKey;
    return {
      kid: parsed.kid,
      privateKey: await importPKCS8(parsed.private_pkcs8, 'EdDSA'),
      publicKey: (await importJWK(parsed.public_jwk, 'EdDSA')) as CryptoKey,
    };
  }
  if (!options.create) return undefined;
  const record = await newSigningKeyRecord();
  await vault.setReserved(workspaceId, SIGNING_KEY_NAME, record);
  return loadSigningKey(vault, workspaceId, { create: false });
}

/**
 * A fresh signing key, serialised as the vault keeps it (the private key as PKCS#8, the public
 * one as a JWK with its thumbprint as `kid`). Team workspaces seal this text to their admins.
 */
export async function newSigningKeyRecord(): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), alg: 'EdDSA', use: 'sig' };
  const record: StoredKey = {
    kid: await calculateJwkThumbprint(jwk),
    private_pkcs8: await exportPKCS8(privateKey),
    public_jwk: jwk,
  };
  return JSON.stringify(record);
}

/** The public JWK of a serialised signing key. */
export function signingKeyPublicJwk(record: string): Record<string, unknown> {
  return (JSON.parse(record) as StoredKey).public_jwk;
}

/** Issues a token for an agent. The caller records `tokenId` and the expiry, never the token. */
export async function issueToken(options: {
  key: SigningKey;
  agent: AgentRecord;
  label: string;
  ttlSeconds: number;
  now: Date;
}): Promise<{ token: string; tokenId: string; expiresAt: Date }> {
  const { key, agent, now } = options;
  if (
    !Number.isInteger(options.ttlSeconds) ||
    options.ttlSeconds <= 0 ||
    options.ttlSeconds > MAX_TTL_SECONDS
  ) {
    throw new AgentSecretsError('usage_error', 'a token lives between 1 second and 365 days');
  }
  const tokenId = randomId('tok', 12);
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + options.ttlSeconds;
  const jws = await new SignJWT({
    ws: agent.workspace_id,
    name: agent.name,
    gen: agent.generation,
    label: options.label,
  })
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid, typ: TYPE })
    .setIssuer(ISSUER)
    .setSubject(agent.id)
    .setJti(tokenId)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(exp)
    .sign(key.privateKey);
  return { token: `${TOKEN_PREFIX}${jws}`, tokenId, expiresAt: new Date(exp * 1000) };
}

/** The outcome of a successful verification. */
export interface VerifiedToken {
  agent: AgentRecord;
  tokenId: string;
}

export interface VerifierOptions {
  workspaceId: string;
  /** The signing public key; undefined when the workspace has never issued a token. */
  publicKey: () => Promise<CryptoKey | undefined>;
  agents: AgentStore;
  now?: () => Date;
  /** Verified signatures kept, keyed by a hash of the token. */
  cacheSize?: number;
}

interface Verified {
  payload: JWTPayload & { ws?: unknown; gen?: unknown };
}

/**
 * Verifies a presented token on every call: signature, algorithm, type, issuer, expiry and
 * not-before (cached by a hash of the token once the signature has been checked), then,
 * every time: the workspace, that the agent still exists with this id, that the token id is
 * known and not revoked, and that the token's generation is the agent's current one.
 */
export function createTokenVerifier(options: VerifierOptions) {
  const now = options.now ?? (() => new Date());
  const cacheSize = options.cacheSize ?? 1024;
  const cache = new Map<string, Verified>();

  async function verifySignature(jws: string): Promise<Verified> {
    const key = await options.publicKey();
    if (key === undefined) throw invalid('this workspace has not issued any agent tokens');
    try {
      const { payload } = await jwtVerify(jws, key, {
        algorithms: ['EdDSA'],
        issuer: ISSUER,
        typ: TYPE,
        requiredClaims: ['exp', 'iat', 'jti', 'sub'],
        currentDate: now(),
        clockTolerance: 5,
      });
      return { payload: payload as Verified['payload'] };
    } catch (cause) {
      const expired = (cause as { code?: string }).code === 'ERR_JWT_EXPIRED';
      throw invalid(
        expired
          ? 'the agent token has expired; a human issues a new one with `agentsecrets agent token issue NAME`'
          : 'the agent token is not valid (bad signature, format or claims)',
        cause,
      );
    }
  }

  return {
    /** Verifies a token; throws `invalid_agent_token` or `token_revoked`. */
    async verify(token: string): Promise<VerifiedToken> {
      if (!token.startsWith(TOKEN_PREFIX)) {
        throw invalid(
          `not an agentsecrets token: tokens start with ${TOKEN_PREFIX} (token names are not looked up)`,
        );
      }
      const jws = token.slice(TOKEN_PREFIX.length);
      const digest = createHash('sha256').update(jws).digest('base64url');
      let verified = cache.get(digest);
      if (verified === undefined) {
        verified = await verifySignature(jws);
        if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
        cache.set(digest, verified);
      }
      const { payload } = verified;
      // The same rule as jose's (whole seconds, 5 s tolerance), so cached and uncached agree.
      const seconds = Math.floor(now().getTime() / 1000);
      if (typeof payload.exp !== 'number' || payload.exp + 5 <= seconds) {
        cache.delete(digest);
        throw invalid(
          'the agent token has expired; a human issues a new one with `agentsecrets agent token issue NAME`',
        );
      }
      if (payload.ws !== options.workspaceId)
        throw invalid('the agent token belongs to another workspace');
      const agents = await options.agents.read();
      const agent = agents.agents.find(
        (a) => a.id === payload.sub && a.workspace_id === options.workspaceId,
      );
      if (agent === undefined) throw invalid('the agent of this token no longer exists');
      const record = agent.tokens.find((t) => t.id === payload.jti);
      if (record === undefined) throw invalid('this token id is unknown to the workspace');
      // The recorded expiry bounds the token: a token minted with a longer one (by someone
      // holding a stolen or former signing key) is not the token that was issued.
      if (payload.exp * 1000 > Date.parse(record.expires_at) + 1000)
        throw invalid('the agent token does not match the token that was issued');
      if (record.revoked_at !== null || payload.gen !== agent.generation) {
        throw new AgentSecretsError(
          'token_revoked',
          `token ${record.id} of agent '${agent.name}' has been revoked; a human issues a new one with \`agentsecrets agent token issue ${agent.name}\``,
          { context: { agent: agent.name } },
        );
      }
      return { agent, tokenId: record.id };
    },
  };
}

/** Parses a lifetime such as `30d`, `12h`, `90m`, `3600s` or `1y`. */
export function parseTtl(text: string): number {
  const match = /^(\d+)\s*(s|m|h|d|w|y)$/.exec(text.trim());
  if (match === null)
    throw new AgentSecretsError(
      'usage_error',
      `--ttl takes a duration like 30d, 12h or 90m, not '${text}'`,
    );
  const unit = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_536_000 }[match[2] as 's'];
  const seconds = Number(match[1]) * unit;
  if (seconds <= 0 || seconds > MAX_TTL_SECONDS) {
    throw new AgentSecretsError('usage_error', '--ttl must be between 1 second and 365 days');
  }
  return seconds;
}

function invalid(message: string, cause?: unknown): AgentSecretsError {
  return new AgentSecretsError(
    'invalid_agent_token',
    message,
    cause === undefined ? {} : { cause },
  );
}
