import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** A unique marker value for one test: if it shows up anywhere, a value leaked. */
export function canary(label = 'CANARY'): string {
  return `${label}_${randomBytes(12).toString('hex')}`;
}

/** The value and the encodings a leak could take (DESIGN §7 redaction list). */
export function encodings(value: string): string[] {
  const b64 = Buffer.from(value).toString('base64');
  return [
    value,
    encodeURIComponent(value),
    JSON.stringify(value).slice(1, -1),
    b64,
    b64.replace(/=+$/, ''),
    Buffer.from(value).toString('base64url'),
    Buffer.from(value).toString('hex'),
    Buffer.from(value).toString('hex').toUpperCase(),
  ].filter((v, i, all) => all.indexOf(v) === i);
}

/** Every place in `text` where `value` or one of its encodings occurs. */
export function findLeaks(text: string | Buffer, value: string): string[] {
  const haystack = Buffer.isBuffer(text) ? text : Buffer.from(text);
  return encodings(value).filter((form) => haystack.includes(form));
}

/** Files under `dir` (recursively) that contain `value` in any encoding. */
export async function scanTree(
  dir: string,
  value: string,
  options: { except?: (path: string) => boolean } = {},
): Promise<string[]> {
  const hits: string[] = [];
  async function walk(path: string): Promise<void> {
    const st = await stat(path).catch(() => undefined);
    if (st === undefined) return;
    if (st.isDirectory()) {
      for (const name of await readdir(path)) await walk(join(path, name));
      return;
    }
    if (!st.isFile() || options.except?.(path)) return;
    const leaks = findLeaks(await readFile(path), value);
    if (leaks.length > 0) hits.push(`${path}: ${leaks.length} form(s)`);
  }
  await walk(dir);
  return hits;
}
