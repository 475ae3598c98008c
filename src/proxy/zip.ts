import { constants, inflateRawSync } from 'node:zlib';

/**
 * The contents of a zip archive, for inspection only (nothing is written anywhere). Pure.
 *
 * Entries listed in the central directory must open (stored or deflated, not encrypted, not
 * zip64), or the archive is refused. Local headers that the directory does not list, as a
 * streaming unzipper would still find them, are opened leniently: whatever inflates is
 * returned too. `budget` caps the total inflated size; going past it throws a RangeError.
 */
export function unzipEntries(archive: Buffer, budget: number): Buffer[] {
  const out: Buffer[] = [];
  let left = budget;
  const take = (data: Buffer) => {
    left -= data.length;
    if (left < 0) throw new RangeError('archive larger than allowed');
    out.push(data);
  };
  const listed = new Set<number>();
  for (const entry of centralDirectory(archive)) {
    listed.add(entry.localOffset);
    take(openLocal(archive, entry.localOffset, entry.compressedSize, left, true));
  }
  for (let at = archive.indexOf(LOCAL_SIG); at !== -1; at = archive.indexOf(LOCAL_SIG, at + 4)) {
    if (listed.has(at)) continue;
    try {
      take(openLocal(archive, at, undefined, left, false));
    } catch (err) {
      if (err instanceof RangeError) throw err;
    }
  }
  return out;
}

const LOCAL_SIG = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
const CENTRAL_SIG = 0x02014b50;
const END_SIG = 0x06054b50;

interface DirectoryEntry {
  localOffset: number;
  compressedSize: number;
}

function centralDirectory(archive: Buffer): DirectoryEntry[] {
  // The end record is at most 22 + 65535 (comment) bytes from the end.
  let end = -1;
  for (let at = archive.length - 22; at >= Math.max(0, archive.length - 22 - 0xffff); at--) {
    if (archive.readUInt32LE(at) === END_SIG) {
      end = at;
      break;
    }
  }
  if (end === -1) throw new Error('no central directory');
  const count = archive.readUInt16LE(end + 10);
  let at = archive.readUInt32LE(end + 16);
  if (count === 0xffff || at === 0xffffffff) throw new Error('zip64 is not supported');
  const entries: DirectoryEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 46 > archive.length || archive.readUInt32LE(at) !== CENTRAL_SIG) {
      throw new Error('damaged central directory');
    }
    const compressedSize = archive.readUInt32LE(at + 20);
    const localOffset = archive.readUInt32LE(at + 42);
    if (compressedSize === 0xffffffff || localOffset === 0xffffffff) {
      throw new Error('zip64 is not supported');
    }
    entries.push({ localOffset, compressedSize });
    at +=
      46 +
      archive.readUInt16LE(at + 28) +
      archive.readUInt16LE(at + 30) +
      archive.readUInt16LE(at + 32);
  }
  return entries;
}

function openLocal(
  archive: Buffer,
  at: number,
  size: number | undefined,
  budget: number,
  strict: boolean,
): Buffer {
  if (at + 30 > archive.length || !archive.subarray(at, at + 4).equals(LOCAL_SIG)) {
    throw new Error('damaged local header');
  }
  const flags = archive.readUInt16LE(at + 6);
  const method = archive.readUInt16LE(at + 8);
  const start = at + 30 + archive.readUInt16LE(at + 26) + archive.readUInt16LE(at + 28);
  if ((flags & 0x1) !== 0) throw new Error('an entry is encrypted');
  const stop = size === undefined ? archive.length : Math.min(archive.length, start + size);
  const data = archive.subarray(start, stop);
  if (method === 0) return Buffer.from(data);
  if (method !== 8) throw new Error(`compression method ${method} is not supported`);
  try {
    return inflateRawSync(data, {
      maxOutputLength: Math.max(1, budget),
      ...(strict ? {} : { finishFlush: constants.Z_SYNC_FLUSH }),
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new RangeError('archive larger than allowed', { cause: err });
    }
    throw new Error('a deflated entry is corrupt', { cause: err });
  }
}
