import type { Writable } from 'node:stream';
import type { AuditEntry } from './format.js';
import { type AuditFilter, matchesFilter, rawNeedles } from './query.js';
import { listSegments, parseEntry } from './reader.js';
import { forEachLine } from './scan.js';

/** The CSV columns, in order: every field of an entry. */
export const CSV_COLUMNS = [
  'id',
  'timestamp',
  'workspace',
  'project',
  'environment',
  'agent_id',
  'identity_level',
  'token_id',
  'source',
  'method',
  'target_url',
  'domain',
  'secret_keys',
  'auth_styles',
  'status',
  'status_code',
  'reason',
  'redacted',
  'duration_ms',
  'private_override',
  'command',
  'policy',
  'prev_hash',
  'hash',
] as const;

/**
 * Streams matching entries, oldest first, with no row limit. JSONL keeps each line exactly as
 * stored (hashes and all, so the export itself can be checked); CSV flattens the fields.
 * Writes respect back-pressure. Returns the number of entries written.
 */
export async function exportEntries(
  dir: string,
  out: Writable,
  options: { format: 'jsonl' | 'csv'; filter?: AuditFilter; onProgress?: (count: number) => void },
): Promise<number> {
  const filter = options.filter ?? {};
  const needles = rawNeedles(filter);
  const plain = Object.keys(filter).length === 0;
  let count = 0;
  let pendingText = '';
  const write = async (text: string) => {
    pendingText += text;
    if (pendingText.length < 1 << 20) return;
    const chunk = pendingText;
    pendingText = '';
    if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
  };
  if (options.format === 'csv') await write(`${CSV_COLUMNS.join(',')}\n`);
  for (const segment of await listSegments(dir)) {
    const lines: string[] = [];
    await forEachLine(
      segment.path,
      (line) => {
        if (!plain) {
          const entry = parseEntry(line);
          if (entry === undefined || !matchesFilter(entry, filter)) return;
        }
        lines.push(line);
      },
      { prefilter: needles },
    );
    for (const line of lines) {
      if (options.format === 'jsonl') await write(`${line}\n`);
      else {
        const entry = parseEntry(line);
        if (entry === undefined) continue;
        await write(`${csvRow(entry)}\n`);
      }
      count++;
      if (count % 10_000 === 0) options.onProgress?.(count);
    }
  }
  if (pendingText !== '' && !out.write(pendingText))
    await new Promise((resolve) => out.once('drain', resolve));
  return count;
}

/** One CSV row. Cells that a spreadsheet would run as a formula are prefixed with `'`. */
export function csvRow(entry: AuditEntry): string {
  return CSV_COLUMNS.map((column) => {
    const value = (entry as unknown as Record<string, unknown>)[column];
    const text =
      value === null || value === undefined
        ? ''
        : Array.isArray(value)
          ? value.join(';')
          : String(value);
    return csvCell(text);
  }).join(',');
}

function csvCell(text: string): string {
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
