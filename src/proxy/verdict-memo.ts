import { type AllowlistPattern, matchAllowlist } from '../policy/allowlist.js';

/**
 * matchAllowlist's verdicts, remembered per pattern list and scheme + host + port: the answer
 * depends on nothing else, and normalising a host name (IDN mapping) costs more than the
 * lookup. A pattern list is a parsed allowlist or binding, made anew whenever the document
 * changes, so no verdict outlives the list it was given for.
 *
 * Bounded twice: in entries per list (cleared when full), and in key length. A URL's host has
 * no length limit of its own (the URL parser takes a megabyte-long name), and an agent chooses
 * it: a key longer than any DNS name is judged every time and never kept.
 */
export interface VerdictMemo {
  /** The first pattern that admits the URL (as matchAllowlist), or undefined. */
  allowedBy(url: URL, patterns: readonly AllowlistPattern[]): AllowlistPattern | undefined;
  /** How many verdicts are remembered for this list (for tests). */
  remembered(patterns: readonly AllowlistPattern[]): number;
}

export interface VerdictMemoOptions {
  /** Verdicts kept per pattern list before the list's memo is cleared. */
  entries: number;
  /** Longest key (scheme + '//' + host + port) kept. */
  keyChars: number;
}

/** 'https://' + a 253-character name + ':65535', with room to spare. */
export const DEFAULT_VERDICT_MEMO: VerdictMemoOptions = { entries: 1024, keyChars: 300 };

export function createVerdictMemo(options: VerdictMemoOptions = DEFAULT_VERDICT_MEMO): VerdictMemo {
  const verdicts = new WeakMap<
    readonly AllowlistPattern[],
    Map<string, AllowlistPattern | undefined>
  >();
  return {
    allowedBy(url, patterns) {
      const key = `${url.protocol}//${url.host}`;
      if (key.length > options.keyChars) return matchAllowlist(url, patterns);
      let known = verdicts.get(patterns);
      if (known === undefined) {
        known = new Map();
        verdicts.set(patterns, known);
      }
      if (known.has(key)) return known.get(key);
      const verdict = matchAllowlist(url, patterns);
      if (known.size >= options.entries) known.clear();
      known.set(key, verdict);
      return verdict;
    },
    remembered(patterns) {
      return verdicts.get(patterns)?.size ?? 0;
    },
  };
}
