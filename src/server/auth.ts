import { createHash, createHmac, createPublicKey, randomBytes } from 'node:crypto';
import {
  type CryptoKey,
  exportPKCS8,
  generateKeyPair,
  importJWK,
  importPKCS8,
  jwtVerify,
  SignJWT,
} from 'jose';
import { AgentSecretsError } from '../core/errors.js';
import { randomId } from '../core/ids.js';
import type { KdfRow, ServerKeys, ServerStore } from './store.js';

/**
 * Sessions (DESIGN §10): short-lived EdDSA access tokens, and rotating refresh tokens with
 * reuse detection. A refresh token is used once; presenting a used one again revokes its
 * whole family, because one of the two presenters stole it.
 */

const ISSUER = 'agentsecrets-server';
const AUDIENCE = 'agentsecrets';
export const ACCESS_TTL_SECONDS = 10 * 60;
export const REFRESH_TTL_SECONDS = 30 * 24 * 3600;
const REFRESH_PREFIX = 'rt_';
/**
 * How long after its rotation a refresh token may be presented again and get the same
 * successor (F7): a response lost on the way must not sign the user out everywhere.
 */
export const REFRESH_GRACE_SECONDS = 60;
const SUCCESSOR_LABEL = 'agentsecrets/refresh-successor/v1\n';

export interface SessionTokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

export interface Sessions {
  issue(userId: string, family?: string): Promise<SessionTokens>;
  /** The user of a valid access token; `unauthorized` otherwise. */
  verifyAccess(token: string): Promise<string>;
  /** Rotates a refresh token; `unauthorized` (with reuse detection) otherwise. */
  refresh(token: string): Promise<{ userId: string; tokens: SessionTokens }>;
  revoke(token: string): Promise<void>;
  /** A per-email salt for unknown emails, stable across restarts and processes. */
  fakeKdf(email: string): KdfRow;
}

/**
 * The keys a store keeps for the server: the salt key. The access-token signing key lives
 * in a file outside the database (F8); the columns that once held it are left empty.
 */
export async function createServerKeys(): Promise<ServerKeys> {
  return {
    jwt_private_pem: '',
    jwt_public_jwk: {},
    salt_key: randomBytes(32).toString('base64'),
  };
}

export function refreshHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function unauthorized(message: string): AgentSecretsError {
  return new AgentSecretsError('unauthorized', message);
}

export async function createSessions(
  store: ServerStore,
  options: {
    now?: () => Date;
    accessTtlSeconds?: number;
    /** The access-token signing key (PKCS#8 PEM), from outside the database (F8). */
    jwtPrivatePem?: string;
  } = {},
): Promise<Sessions> {
  const now = options.now ?? (() => new Date());
  const accessTtl = options.accessTtlSeconds ?? ACCESS_TTL_SECONDS;
  const keys = await store.serverKeys(createServerKeys);
  // Never the database's key (a read-only leak would mint sessions): the key file's, else
  // one for this process only (tests; restarting then ends every access token).
  const pem =
    options.jwtPrivatePem ??
    (await exportPKCS8((await generateKeyPair('EdDSA', { extractable: true })).privateKey));
  const privateKey = await importPKCS8(pem, 'EdDSA');
  const publicKey = (await importJWK(
    { ...createPublicKey(pem).export({ format: 'jwk' }), alg: 'EdDSA' },
    'EdDSA',
  )) as CryptoKey;
  const saltKey = Buffer.from(keys.salt_key, 'base64');

  /**
   * The successor of a refresh token, derived from it with a server key: the same token
   * presented twice gets the same successor, and the store keeps only hashes.
   */
  const successorOf = (token: string) =>
    REFRESH_PREFIX +
    createHmac('sha256', saltKey).update(SUCCESSOR_LABEL).update(token).digest('base64url');

  async function accessFor(userId: string, at: Date): Promise<string> {
    return new SignJWT({})
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(userId)
      .setIssuedAt(Math.floor(at.getTime() / 1000))
      .setExpirationTime(Math.floor(at.getTime() / 1000) + accessTtl)
      .sign(privateKey);
  }

  async function issue(
    userId: string,
    family = randomId('fam', 12),
    refresh = REFRESH_PREFIX + randomBytes(32).toString('base64url'),
  ): Promise<SessionTokens> {
    const at = now();
    const access = await accessFor(userId, at);
    await store.insertRefresh({
      hash: refreshHash(refresh),
      user_id: userId,
      family,
      created_at: at.toISOString(),
      expires_at: new Date(at.getTime() + REFRESH_TTL_SECONDS * 1000).toISOString(),
      used_at: null,
      revoked_at: null,
    });
    return { access_token: access, refresh_token: refresh, expires_in: accessTtl };
  }

  return {
    issue,
    async verifyAccess(token) {
      try {
        const { payload } = await jwtVerify(token, publicKey, {
          algorithms: ['EdDSA'],
          issuer: ISSUER,
          audience: AUDIENCE,
          typ: 'at+jwt',
          currentDate: now(),
          requiredClaims: ['sub', 'exp'],
        });
        return payload.sub!;
      } catch {
        throw unauthorized(
          'the session has expired or is not valid; sign in again (`agentsecrets login`)',
        );
      }
    },
    async refresh(token) {
      if (!token.startsWith(REFRESH_PREFIX)) throw unauthorized('not a refresh token');
      const outcome = await store.consumeRefresh(refreshHash(token), now());
      if (
        outcome.status === 'reused' &&
        now().getTime() - Date.parse(outcome.row.used_at!) <= REFRESH_GRACE_SECONDS * 1000
      ) {
        // The answer to the first use was lost: the same successor again, a fresh access.
        return {
          userId: outcome.row.user_id,
          tokens: {
            access_token: await accessFor(outcome.row.user_id, now()),
            refresh_token: successorOf(token),
            expires_in: accessTtl,
          },
        };
      }
      if (outcome.status === 'reused') {
        await store.revokeFamily(outcome.row.family, now());
        throw unauthorized(
          'this refresh token was already used: every session of this sign-in is now revoked; sign in again (`agentsecrets login`)',
        );
      }
      if (outcome.status !== 'ok')
        throw unauthorized(
          `the refresh token is ${outcome.status}; sign in again (\`agentsecrets login\`)`,
        );
      return {
        userId: outcome.row.user_id,
        tokens: await issue(outcome.row.user_id, outcome.row.family, successorOf(token)),
      };
    },
    async revoke(token) {
      if (!token.startsWith(REFRESH_PREFIX)) return;
      const outcome = await store.consumeRefresh(refreshHash(token), now());
      if (outcome.status === 'ok' || outcome.status === 'reused')
        await store.revokeFamily(outcome.row.family, now());
    },
    fakeKdf(email) {
      const salt = createHmac('sha256', saltKey).update(email).digest().subarray(0, 16);
      return { alg: 'argon2id13', ops: 3, mem: 192 * 1024 * 1024, salt: salt.toString('base64') };
    },
  };
}
