import { chmod, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrCreateJwtKey } from '../../src/server/key-file.js';
import { tempDir } from '../helpers/tmp.js';

/** The server's token-signing key file (F8): made once, private, shared by replicas. */
describe('the token-signing key file', () => {
  it('is created 0600 in a private folder, then read back unchanged', async () => {
    const path = join(await tempDir(), 'data', 'jwt-signing-key.pem');
    const pem = await loadOrCreateJwtKey(path);
    expect(pem).toContain('BEGIN PRIVATE KEY');
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(path, '..'))).mode & 0o777).toBe(0o700);
    expect(await loadOrCreateJwtKey(path)).toBe(pem);
  });

  it('gives replicas starting together one key', async () => {
    const path = join(await tempDir(), 'shared.pem');
    const keys = await Promise.all(Array.from({ length: 6 }, () => loadOrCreateJwtKey(path)));
    expect(new Set(keys).size).toBe(1);
    expect(await readFile(path, 'utf8')).toBe(keys[0]);
  });

  it('refuses a key file other users can read, and one that is not a key', async () => {
    const path = join(await tempDir(), 'k.pem');
    await loadOrCreateJwtKey(path);
    await chmod(path, 0o644);
    await expect(loadOrCreateJwtKey(path)).rejects.toThrow(/chmod 600/);
    const other = join(await tempDir(), 'bad.pem');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(other, 'not a key', { mode: 0o600 });
    await expect(loadOrCreateJwtKey(other)).rejects.toThrow(/not a PEM private key/);
  });
});
