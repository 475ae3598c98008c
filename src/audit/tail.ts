import { closeSync, ftruncateSync, openSync, readSync } from 'node:fs';
import { isErrno } from '../store/fs.js';

/**
 * Synchronous reads at the end of an append-only file, for the audit writer's critical
 * section (segments and the checkpoint file share them).
 */

const TAIL_READ = 64 * 1024;
const COUNT_READ = 1024 * 1024;

/** The last complete line of an open file of `size` bytes, or undefined if it has none. */
export function lastLineOf(fd: number, size: number): string | undefined {
  let end = size;
  let carry = Buffer.alloc(0);
  while (end > 0) {
    const length = Math.min(end, TAIL_READ);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, end - length);
    const data = Buffer.concat([buf, carry]);
    const stop = data[data.length - 1] === 0x0a ? data.length - 1 : data.length;
    const start = data.lastIndexOf(0x0a, stop - 1);
    if (start !== -1 || end - length === 0) {
      const line = data.subarray(start + 1, stop).toString('utf8');
      return line === '' ? undefined : line;
    }
    carry = data;
    end -= length;
  }
  return undefined;
}

/**
 * A power loss can leave a partial last line, which was never acknowledged. Cuts it off so
 * the next line starts on a line of its own; returns the size afterwards.
 */
export function repairTail(fd: number, size: number): number {
  if (size === 0) return 0;
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  if (last[0] === 0x0a) return size;
  const length = Math.min(size, TAIL_READ);
  const buf = Buffer.alloc(length);
  readSync(fd, buf, 0, length, size - length);
  const cut = buf.lastIndexOf(0x0a);
  const keep = cut === -1 ? (size > TAIL_READ ? size : 0) : size - length + cut + 1;
  ftruncateSync(fd, keep);
  return keep;
}

/** Newlines in bytes [from, to) of a file (to past the end: up to the end); 0 if it is gone. */
export function countLinesSync(path: string, from: number, to = Infinity): number {
  let fd;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 0;
    throw err;
  }
  try {
    const buf = Buffer.allocUnsafe(COUNT_READ);
    let count = 0;
    for (let at = from; at < to;) {
      const read = readSync(fd, buf, 0, Math.min(COUNT_READ, to - at), at);
      if (read === 0) break;
      for (let nl = buf.indexOf(0x0a); nl !== -1 && nl < read; nl = buf.indexOf(0x0a, nl + 1))
        count++;
      at += read;
    }
    return count;
  } finally {
    closeSync(fd);
  }
}
