import { open, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { exportPKCS8, generateKeyPair } from 'jose';
import { AgentSecretsError } from '../core/errors.js';
import { ensurePrivateDir, FILE_MODE, isErrno } from '../store/fs.js';

/**
 * The server's access-token signing key (issue 12, F8), kept outside the database: a 0600
 * PEM file in the server's data folder, or the file AGENTSECRETS_SERVER_KEY_FILE names
 * (several replicas share one). A read-only leak of the database then does not let anyone
 * mint sessions. Rotation: replace the file and restart every replica; access tokens signed
 * with the old key stop verifying, and clients get new ones with their refresh tokens.
 */

export const KEY_FILE_NAME = 'jwt-signing-key.pem';

/** Reads the key file, creating it (exclusively, 0600) if it does not exist yet. */
export async function loadOrCreateJwtKey(path: string): Promise<string> {
  try {
    return await readKey(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  await ensurePrivateDir(dirname(path));
  const { privateKey } = await generateKeyPair('EdDSA', { extractable: true });
  const pem = await exportPKCS8(privateKey);
  try {
    const handle = await open(path, 'wx', FILE_MODE);
    try {
      await handle.writeFile(pem);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return pem;
  } catch (err) {
    // Another replica created it first: use theirs.
    if (isErrno(err, 'EEXIST')) return readKey(path);
    throw err;
  }
}

async function readKey(path: string): Promise<string> {
  const info = await stat(path);
  if ((info.mode & 0o077) !== 0)
    throw new AgentSecretsError(
      'usage_error',
      `the server's signing key ${path} can be read by other users (mode ${(info.mode & 0o777).toString(8)}): run \`chmod 600 ${path}\` and start again`,
    );
  const pem = await readFile(path, 'utf8');
  if (!pem.includes('BEGIN PRIVATE KEY'))
    throw new AgentSecretsError(
      'corrupt_state',
      `${path} is not a PEM private key: restore it, or move it aside to make a new one (everyone's access tokens are then renewed)`,
    );
  return pem;
}
