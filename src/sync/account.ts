import { join } from 'node:path';
import { AgentSecretsError } from '../core/errors.js';
import { toBase64 } from '../crypto/aead.js';
import { DEFAULT_KDF_COST, type KdfParams, newKdfParams } from '../crypto/kdf.js';
import { boxKeyPair } from '../crypto/seal.js';
import { formatSecretKey, newSecretKey, parseSecretKey } from '../crypto/secret-key.js';
import { signKeyPair } from '../crypto/sign.js';
import { loadSodium } from '../crypto/sodium.js';
import type { Services } from '../services/index.js';
import { withFileLock } from '../store/lock.js';
import type { UnlockedVault } from '../vault/vault.js';
import { createSyncApi, normalizeServerUrl, notLoggedIn, printable, type SyncApi } from './api.js';
import {
  type AccountSecrets,
  decodeAccountSecrets,
  deriveAccountKeys,
  encodeAccountSecrets,
  memberFingerprint,
  unwrapAccountSecrets,
  wrapAccountSecrets,
} from './crypto.js';
import { authParamsResponse, type PublicUser } from './wire.js';
import * as wire from './wire.js';

/**
 * The sync account (DESIGN §10). Its private keys and refresh token are reserved vault
 * records; config.json names the account (email, user id, server) and holds nothing secret.
 */

/** Vault scope of account material (not a workspace). */
export const ACCOUNT_SCOPE = '@account';
const KEYS_NAME = 'account-keys';
const REFRESH_NAME = 'refresh-token';
const SECRET_KEY_NAME = 'secret-key';
const ACCESS_NAME = 'access-token';

export interface Account {
  email: string;
  userId: string;
  serverUrl: string;
}

/** A signed-in account: its identity, its keys and an API client with a session. */
export interface AccountSession {
  account: Account;
  keys: AccountSecrets;
  api: SyncApi;
}

interface SessionResponse {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  user: PublicUser;
}

function sessionStore(services: Services, vault: UnlockedVault) {
  const lockPath = join(services.config.paths.home, 'session.lock');
  return {
    withLock: <T>(fn: () => Promise<T>) => withFileLock(lockPath, fn),
    getRefresh: () => vault.getReserved(ACCOUNT_SCOPE, REFRESH_NAME),
    setRefresh: (token: string) => vault.setReserved(ACCOUNT_SCOPE, REFRESH_NAME, token),
    // The access token is kept in the vault too, so the next command reuses it (F7).
    getAccess: async () => {
      const text = await vault.getReserved(ACCOUNT_SCOPE, ACCESS_NAME);
      return text === undefined
        ? undefined
        : (JSON.parse(text) as { token: string; expires_at: number });
    },
    setAccess: (token: string, expiresAt: number) =>
      vault.setReserved(
        ACCOUNT_SCOPE,
        ACCESS_NAME,
        JSON.stringify({ token, expires_at: expiresAt }),
      ),
  };
}

async function remember(
  services: Services,
  vault: UnlockedVault,
  serverUrl: string,
  session: SessionResponse,
  keys: AccountSecrets,
): Promise<AccountSession> {
  await vault.setReserved(ACCOUNT_SCOPE, KEYS_NAME, encodeAccountSecrets(keys));
  await vault.setReserved(ACCOUNT_SCOPE, REFRESH_NAME, session.refresh_token);
  // Server-provided text is made terminal-safe before it is stored or shown (F9).
  const account = {
    email: printable(session.user.email),
    userId: printable(session.user.id),
    serverUrl,
  };
  const sodium = await loadSodium();
  await services.workspaces.updateConfig((c) => ({
    ...c,
    server_url: serverUrl,
    account: {
      email: account.email,
      user_id: account.userId,
      server_url: serverUrl,
      fingerprint: memberFingerprint(sodium, keys.box.publicKey, keys.sign.publicKey),
    },
  }));
  const store = sessionStore(services, vault);
  await store.setAccess(session.access_token, Date.now() + session.expires_in * 1000);
  const api = createSyncApi(serverUrl, store);
  api.useAccess(session.access_token);
  return { account, keys, api };
}

/** Creates an account: new key pairs, wrapped under a key derived from the password. */
export async function signup(
  services: Services,
  vault: UnlockedVault,
  options: {
    server: string;
    email: string;
    password: string;
    kdfCost?: { ops: number; mem: number };
  },
): Promise<AccountSession & { secretKey: string }> {
  const serverUrl = normalizeServerUrl(options.server, services.config.env as NodeJS.ProcessEnv);
  const sodium = await loadSodium();
  const email = options.email.trim().toLowerCase();
  const kdf = newKdfParams(sodium, options.kdfCost ?? DEFAULT_KDF_COST);
  const secretKey = newSecretKey();
  const derived = await deriveAccountKeys(options.password, kdf, secretKey);
  const keys: AccountSecrets = { box: boxKeyPair(sodium), sign: signKeyPair(sodium) };
  try {
    const api = createSyncApi(serverUrl);
    const session = await api.anonymous('POST', '/v1/auth/signup', wire.sessionResponse, {
      email,
      auth_key: toBase64(derived.authKey),
      kdf,
      box_public: toBase64(keys.box.publicKey),
      sign_public: toBase64(keys.sign.publicKey),
      wrapped_keys: wrapAccountSecrets(sodium, derived.encKey, email, keys),
    });
    const formatted = formatSecretKey(secretKey);
    await vault.setReserved(
      ACCOUNT_SCOPE,
      SECRET_KEY_NAME,
      JSON.stringify({ email, key: formatted }),
    );
    return { ...(await remember(services, vault, serverUrl, session, keys)), secretKey: formatted };
  } finally {
    derived.authKey.fill(0);
    derived.encKey.fill(0);
    secretKey.fill(0);
  }
}

/** The account secret key this machine keeps for `email`, if it has one (F5). */
export async function storedSecretKey(
  vault: UnlockedVault,
  email: string,
): Promise<string | undefined> {
  const stored = await vault.getReserved(ACCOUNT_SCOPE, SECRET_KEY_NAME);
  if (stored === undefined) return undefined;
  const parsed = JSON.parse(stored) as { email: string; key: string };
  return parsed.email === email.trim().toLowerCase() ? parsed.key : undefined;
}

/** Signs in: derives the keys locally, proves the auth key, unwraps the private keys. */
export async function login(
  services: Services,
  vault: UnlockedVault,
  options: { server: string; email: string; password: string; secretKey: string },
): Promise<AccountSession> {
  const serverUrl = normalizeServerUrl(options.server, services.config.env as NodeJS.ProcessEnv);
  const sodium = await loadSodium();
  const email = options.email.trim().toLowerCase();
  const secretKey = parseSecretKey(options.secretKey);
  const api = createSyncApi(serverUrl);
  const kdf = checkedKdf(
    await api.anonymous('POST', '/v1/auth/params', wire.authParamsResponse, { email }),
  );
  const derived = await deriveAccountKeys(options.password, kdf, secretKey);
  secretKey.fill(0);
  try {
    const session = await api
      .anonymous('POST', '/v1/auth/login', wire.loginResponse, {
        email,
        auth_key: toBase64(derived.authKey),
      })
      .catch((err: unknown) => {
        if (err instanceof AgentSecretsError && err.code === 'unauthorized')
          throw new AgentSecretsError(
            'unauthorized',
            'the email, the password or the account secret key is wrong (the secret key is in the emergency kit printed at sign-up)',
          );
        throw err;
      });
    const keys = unwrapAccountSecrets(sodium, derived.encKey, email, session.wrapped_keys);
    if (toBase64(keys.sign.publicKey) !== session.user.sign_public)
      throw new AgentSecretsError(
        'signature_invalid',
        'the server returned public keys that do not match your own: do not trust this server',
      );
    await vault.setReserved(
      ACCOUNT_SCOPE,
      SECRET_KEY_NAME,
      JSON.stringify({ email, key: formatSecretKey(parseSecretKey(options.secretKey)) }),
    );
    return await remember(services, vault, serverUrl, session, keys);
  } finally {
    derived.authKey.fill(0);
    derived.encKey.fill(0);
  }
}

/** The signed-in account, or `not_logged_in`. */
export async function openAccount(
  services: Services,
  vault: UnlockedVault,
): Promise<AccountSession> {
  const config = await services.workspaces.readConfig();
  const stored = config?.account ?? null;
  const keys = await vault.getReserved(ACCOUNT_SCOPE, KEYS_NAME);
  if (stored === null || keys === undefined) throw notLoggedIn();
  return {
    account: { email: stored.email, userId: stored.user_id, serverUrl: stored.server_url },
    keys: decodeAccountSecrets(keys),
    api: createSyncApi(stored.server_url, sessionStore(services, vault)),
  };
}

/** Signs out: revokes the session on the server (if reachable) and forgets it here. */
export async function logout(
  services: Services,
  vault: UnlockedVault,
): Promise<{ email: string | null; revoked: boolean }> {
  const config = await services.workspaces.readConfig();
  const stored = config?.account ?? null;
  let revoked = false;
  const refresh = await vault.getReserved(ACCOUNT_SCOPE, REFRESH_NAME);
  if (stored !== null && refresh !== undefined) {
    try {
      await createSyncApi(stored.server_url).anonymous('POST', '/v1/auth/logout', wire.okResponse, {
        refresh_token: refresh,
      });
      revoked = true;
    } catch {
      revoked = false;
    }
  }
  await vault.deleteReserved(ACCOUNT_SCOPE, REFRESH_NAME);
  await vault.deleteReserved(ACCOUNT_SCOPE, ACCESS_NAME);
  await vault.deleteReserved(ACCOUNT_SCOPE, KEYS_NAME);
  await services.workspaces.updateConfig((c) => ({ ...c, account: null }));
  return { email: stored?.email ?? null, revoked };
}

/** The weakest password hashing a client accepts from a server at login. */
export const MIN_LOGIN_KDF = { ops: 2, mem: 64 * 1024 * 1024 } as const;

/**
 * The KDF parameters the server hands out, checked: a hostile server could otherwise ask for
 * a trivially cheap Argon2id and brute-force the password from the auth key it receives.
 */
function checkedKdf(answer: unknown): KdfParams {
  const parsed = authParamsResponse.safeParse(answer);
  if (!parsed.success)
    throw new AgentSecretsError('remote_error', 'the sync server sent malformed login parameters');
  const { kdf } = parsed.data;
  if (kdf.ops < MIN_LOGIN_KDF.ops || kdf.mem < MIN_LOGIN_KDF.mem)
    throw new AgentSecretsError(
      'signature_invalid',
      `the sync server asked for a weak password hash (Argon2id ops=${kdf.ops}, ${Math.round(kdf.mem / 1024)} KiB; at least ops=2 and 64 MiB are required); nothing was sent. Do not trust this server`,
    );
  return kdf;
}
