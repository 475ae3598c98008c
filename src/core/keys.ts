import { AgentSecretsError } from './errors.js';

/** The key-name grammar (DESIGN §11): any environment variable name can carry it. */
export const KEY_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Longest key name accepted. */
export const MAX_KEY_NAME_LENGTH = 256;

/** True when `name` is a valid key name. */
export function isValidKeyName(name: string): boolean {
  return name.length <= MAX_KEY_NAME_LENGTH && KEY_NAME_PATTERN.test(name);
}

/**
 * The refusal of a call that names a secret outside the grammar (the engine and the key
 * holder's socket check before the approval gate, which shows key names to a human). Like
 * `assertKeyName`, it does not repeat the rejected text.
 */
export function keyNameRefused(): AgentSecretsError {
  return new AgentSecretsError(
    'bad_request',
    `a secret name is letters, digits and _ (at most ${MAX_KEY_NAME_LENGTH}), not starting with a digit, e.g. STRIPE_KEY`,
  );
}

/**
 * Throws `invalid_key_name` unless `name` is valid. The message does not repeat the
 * rejected text: a user who pastes a value where a name belongs must not see it echoed.
 */
export function assertKeyName(name: string, where = 'key name'): void {
  if (!isValidKeyName(name)) {
    throw new AgentSecretsError(
      'invalid_key_name',
      `invalid ${where}: use letters, digits and _ (at most ${MAX_KEY_NAME_LENGTH}), not starting with a digit, e.g. STRIPE_KEY`,
    );
  }
}

/** Parses `--only K1,K2` into checked key names; undefined when the option is absent. */
export function parseKeyList(
  text: string | undefined,
  where = 'key name in --only',
): string[] | undefined {
  const keys = text
    ?.split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  keys?.forEach((k) => assertKeyName(k, where));
  return keys;
}
