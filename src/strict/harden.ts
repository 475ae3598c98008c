import { createRequire } from 'node:module';
import type Koffi from 'koffi';
import { AgentSecretsError } from '../core/errors.js';

/**
 * Process hardening for the strict key holder (issue 14): not dumpable (so no process of the
 * same user can ptrace it, read /proc/PID/mem, use process_vm_readv or get a core of it) and
 * no core dumps at all. Linux only, through koffi (a prebuilt FFI; see package.json). Where it
 * cannot be done, strict mode refuses to run rather than run a readable key holder.
 */

const PR_GET_DUMPABLE = 3;
const PR_SET_DUMPABLE = 4;
const RLIMIT_CORE = 4;

interface Libc {
  prctl(option: number, a2: number, a3: number, a4: number, a5: number): number;
  setrlimit(resource: number, limits: number[]): number;
}

function loadLibc(): Libc {
  if (process.platform !== 'linux') {
    throw new AgentSecretsError(
      'strict_mode',
      `strict mode needs Linux for now (PR_SET_DUMPABLE); this is ${process.platform}. Turn it off with \`agentsecrets strict disable\` on this machine.`,
    );
  }
  let koffi: typeof Koffi;
  try {
    koffi = createRequire(import.meta.url)('koffi') as typeof Koffi;
  } catch (cause) {
    throw new AgentSecretsError(
      'strict_mode',
      'strict mode needs the optional dependency koffi (to make the key holder non-dumpable), and it is not installed or cannot load here; reinstall agentsecrets with optional dependencies',
      { cause },
    );
  }
  const libc = koffi.load('libc.so.6');
  return {
    prctl: libc.func(
      'int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)',
    ) as Libc['prctl'],
    setrlimit: libc.func('int setrlimit(int resource, const uint64_t *rlim)') as Libc['setrlimit'],
  };
}

/** Makes this process non-dumpable and turns core dumps off; throws `strict_mode` if it cannot. */
export function hardenProcess(): void {
  const libc = loadLibc();
  const rlimit = libc.setrlimit(RLIMIT_CORE, [0, 0]);
  const set = libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (rlimit !== 0 || set !== 0 || libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) !== 0) {
    throw new AgentSecretsError(
      'strict_mode',
      'could not make the key holder non-dumpable (prctl PR_SET_DUMPABLE) or turn its core dumps off; strict mode refuses to run without both',
    );
  }
}

/** PR_GET_DUMPABLE of this process (1 dumpable, 0 not), or null where it cannot be asked. */
export function dumpable(): number | null {
  try {
    return loadLibc().prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  } catch {
    return null;
  }
}
