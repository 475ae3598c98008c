import { readFile } from 'node:fs/promises';
import { isErrno } from '../../store/fs.js';
import { caCertPath, openLocalCa } from '../../run/serve.js';
import type { CliContext } from '../context.js';

/**
 * `ca export`: prints the local CA's public certificate (PEM), for a human who wants to
 * trust it elsewhere. Nothing installs it system-wide; `run` hands it to its child only.
 */
export async function caExport(ctx: CliContext, options: { json?: boolean }): Promise<void> {
  let pem = await readFile(caCertPath(ctx.config), 'utf8').catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  });
  if (pem === undefined) {
    // First use: create the CA in the vault (its key never leaves it) and keep the public copy.
    const vault = await ctx.services().vault.unlock();
    try {
      pem = (await openLocalCa(ctx.config, vault)).certPem;
    } finally {
      vault.close();
    }
  }
  if (options.json) return ctx.out.json({ certificate: pem, path: caCertPath(ctx.config) });
  ctx.out.raw(pem);
}
