import type { ErrorCode } from '../core/errors.js';

/** CLI exit codes (DESIGN §11). */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  needsHuman: 3,
  locked: 4,
  commandNotFound: 127,
} as const;

/** The exit code for an error code: the CLI edge's one mapping. */
export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case 'usage_error':
    case 'invalid_key_name':
    case 'bad_request':
    case 'invalid_agent_id':
      return EXIT.usage;
    case 'needs_terminal':
    case 'strict_mode':
      return EXIT.needsHuman;
    case 'vault_locked':
    case 'unlock_failed':
    case 'keychain_unavailable':
      return EXIT.locked;
    case 'command_not_found':
      return EXIT.commandNotFound;
    default:
      return EXIT.failed;
  }
}
