import type { Command } from 'commander';

/** Edit distance (insertions, deletions, substitutions and adjacent swaps). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidates closest to `word` (within 40% of its length), as commander picks them. */
export function similarNames(word: string, candidates: readonly string[]): string[] {
  let best = Infinity;
  let found: string[] = [];
  for (const candidate of new Set(candidates)) {
    if (candidate.length <= 1) continue;
    const d = distance(word, candidate);
    const length = Math.max(word.length, candidate.length);
    if ((length - d) / length <= 0.4) continue;
    if (d < best) {
      best = d;
      found = [candidate];
    } else if (d === best) found.push(candidate);
  }
  return found.sort();
}

/**
 * Fails as commander does for an unknown subcommand of `group`, with "Did you mean …". For a
 * group with a default subcommand, which would otherwise take the typo as its argument.
 */
export function unknownSubcommand(group: Command, word: string): never {
  const names = group.commands.flatMap((c) => [c.name(), ...c.aliases()]);
  const similar = similarNames(word, names);
  const hint = similar.length > 0 ? `\n(Did you mean ${similar.join(', ')}?)` : '';
  return group.error(`error: unknown command '${word}'${hint}`, {
    code: 'commander.unknownCommand',
    exitCode: 2,
  });
}
