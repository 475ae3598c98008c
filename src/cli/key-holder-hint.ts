import { findKeyHolder } from '../proxy/state.js';
import type { CliContext } from './context.js';

/** How a passphrase vault is unlocked once: the key holder, in a few lines for a human. */
export const KEY_HOLDER_EXPLAINED = [
  'This vault asks for its passphrase each time a command opens it. To type it once, run',
  '  agentsecrets proxy start',
  'in a terminal of its own: while it runs it holds the key, and `call`, `env`, `log verify`',
  'and MCP clients use it without asking. Stop it with `agentsecrets proxy stop`.',
];

/**
 * A warning when MCP clients would fail: the vault needs a passphrase, which a client-started
 * server cannot ask for, and no key holder is running. Undefined when all is well.
 */
export async function keyHolderWarning(ctx: CliContext): Promise<string | undefined> {
  const vault = ctx.services().vault;
  if (!(await vault.exists())) return undefined;
  if ((await vault.read()).key.provider !== 'passphrase') return undefined;
  if ((await findKeyHolder(ctx.config.paths)) !== undefined) return undefined;
  return 'this vault is protected by a passphrase and no key holder is running, so MCP calls will fail with "vault locked" until one is. Start it in a terminal of its own with: agentsecrets proxy start';
}
