import { type FileHandle, open } from 'node:fs/promises';
import { isErrno } from '../store/fs.js';

const CHUNK = 4 * 1024 * 1024;

/**
 * Visits the complete lines of a file in order, reading 4 MiB at a time (readline costs
 * several times more per line). `visit` gets the line, its 1-based number and the byte
 * offset where it starts; returning `false` stops the scan. A last line without its newline is passed with `partial: true`.
 *
 * With `prefilter`, only lines containing every one of those strings are decoded and
 * visited: the chunk is searched for the first string (memchr speed), so a full scan for a
 * rare value touches almost nothing but the bytes.
 */
export async function forEachLine(
  path: string,
  visit: (line: string, lineNo: number, partial: boolean, offset: number) => boolean | void,
  options: { prefilter?: readonly string[] } = {},
): Promise<void> {
  const fh = await openIfExists(path);
  if (fh === undefined) return;
  const needles = needleBuffers(options.prefilter);
  try {
    let carry = Buffer.alloc(0);
    let lineNo = 0;
    let base = 0; // the file offset of data[0]
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null);
      if (bytesRead === 0) break;
      const data =
        carry.length > 0
          ? Buffer.concat([carry, buf.subarray(0, bytesRead)])
          : buf.subarray(0, bytesRead);
      const end = data.lastIndexOf(0x0a) + 1;
      if (end === 0) {
        carry = Buffer.from(data);
        continue;
      }
      const stop =
        needles.length === 0
          ? visitAll(data, end, lineNo, base, visit)
          : visitMatching(data, end, lineNo, base, needles, visit);
      if (stop === false) return;
      lineNo = stop;
      base += end;
      carry = Buffer.from(data.subarray(end));
    }
    if (carry.length > 0) visit(carry.toString('utf8'), lineNo + 1, true, base);
  } finally {
    await fh.close();
  }
}

/** Visits every line in data[0, end); returns the last line number, or false if stopped. */
function visitAll(
  data: Buffer,
  end: number,
  lineNo: number,
  base: number,
  visit: (line: string, lineNo: number, partial: boolean, offset: number) => boolean | void,
): number | false {
  let start = 0;
  while (start < end) {
    const nl = data.indexOf(0x0a, start);
    lineNo++;
    if (visit(data.toString('utf8', start, nl), lineNo, false, base + start) === false)
      return false;
    start = nl + 1;
  }
  return lineNo;
}

/** Visits the lines in data[0, end) that contain every needle. */
function visitMatching(
  data: Buffer,
  end: number,
  lineNo: number,
  base: number,
  needles: readonly Buffer[],
  visit: (line: string, lineNo: number, partial: boolean, offset: number) => boolean | void,
): number | false {
  const [first, ...rest] = needles;
  let counted = 0; // offset up to which newlines have been counted into lineNo
  let from = 0;
  for (;;) {
    const at = data.indexOf(first!, from);
    if (at === -1 || at >= end) break;
    const lineStart = data.lastIndexOf(0x0a, at) + 1;
    const lineEnd = data.indexOf(0x0a, at);
    lineNo += countNewlines(data, counted, lineStart);
    counted = lineStart;
    const line = lineNo + 1;
    const lineBytes = data.subarray(lineStart, lineEnd);
    if (rest.every((n) => lineBytes.includes(n))) {
      if (visit(data.toString('utf8', lineStart, lineEnd), line, false, base + lineStart) === false)
        return false;
    }
    from = lineEnd + 1;
  }
  return lineNo + countNewlines(data, counted, end);
}

function countNewlines(data: Buffer, from: number, to: number): number {
  let count = 0;
  let at = data.indexOf(0x0a, from);
  while (at !== -1 && at < to) {
    count++;
    at = data.indexOf(0x0a, at + 1);
  }
  return count;
}

/** Opens a file for reading; undefined when it does not exist. */
export async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** Prefilter strings as bytes, the longest (usually the most selective) first. */
export function needleBuffers(prefilter: readonly string[] | undefined): Buffer[] {
  return (prefilter ?? []).map((n) => Buffer.from(n, 'utf8')).sort((a, b) => b.length - a.length);
}
