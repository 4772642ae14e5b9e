// Just enough of the ZIP format to find the entries of a torch.save archive: the end-of-central-
// directory record (and its ZIP64 form, which torch 2 always writes and multi-GB files need), the
// central directory, and each entry's local header to locate its data. Only stored (uncompressed)
// entries are read: torch.save never compresses, and tensors are read straight from their offsets.
import fs from 'node:fs';
import { CheckpointError } from './checkpoint-error.ts';
import { readInto } from './file-range.ts';

const EOCD_SIG = 0x06054b50;
const EOCD_SIZE = 22;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_LOCATOR_SIZE = 20;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const ZIP64_EXTRA_ID = 0x0001;
const MAX_COMMENT = 0xffff;
/** torch archives have a handful of entries per tensor; a directory over this is not a checkpoint. */
const MAX_CENTRAL_DIRECTORY_BYTES = 64 * 2 ** 20;

export interface ZipEntry {
  name: string;
  /** 0 = stored; anything else is compressed. */
  method: number;
  flags: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export class ZipArchive {
  private constructor(
    readonly file: string,
    readonly fileSize: number,
    readonly entries: ReadonlyMap<string, ZipEntry>,
  ) {}

  /** The first bytes of a file (fewer when it is shorter): a zip starts with `PK\x03\x04`. */
  static head(file: string, n = 4): Uint8Array {
    const head = new Uint8Array(n);
    const fd = fs.openSync(file, 'r');
    try {
      return head.subarray(0, fs.readSync(fd, head, 0, n, 0));
    } finally {
      fs.closeSync(fd);
    }
  }

  static hasZipMagic(head: Uint8Array): boolean {
    return head.length >= 4 && new DataView(head.buffer, head.byteOffset).getUint32(0, true) === LOCAL_SIG;
  }

  static open(file: string): ZipArchive {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const { cdOffset, cdSize, count } = findCentralDirectory(fd, file, size);
      const cd = new Uint8Array(cdSize);
      readInto(fd, file, cd, cdOffset);
      return new ZipArchive(file, size, parseCentralDirectory(file, cd, count, cdOffset));
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Absolute offset of a stored entry's data, read from its local header (whose extra field, unlike
   * the central one, holds torch's alignment padding).
   */
  dataOffset(entry: ZipEntry): number {
    if (entry.method !== 0) throw new CheckpointError(`${this.file}: zip entry ${entry.name} is compressed (method ${entry.method}); torch.save archives store entries uncompressed, and tensors are read in place`);
    if (entry.flags & 1) throw new CheckpointError(`${this.file}: zip entry ${entry.name} is encrypted`);
    const header = new Uint8Array(30);
    const fd = fs.openSync(this.file, 'r');
    try {
      if (entry.localHeaderOffset + 30 > this.fileSize) throw this.truncated(entry);
      readInto(fd, this.file, header, entry.localHeaderOffset);
    } finally {
      fs.closeSync(fd);
    }
    const v = new DataView(header.buffer);
    if (v.getUint32(0, true) !== LOCAL_SIG) throw new CheckpointError(`${this.file}: zip entry ${entry.name} has no local header at byte ${entry.localHeaderOffset} (damaged archive)`);
    const start = entry.localHeaderOffset + 30 + v.getUint16(26, true) + v.getUint16(28, true);
    if (start + entry.size > this.fileSize) throw this.truncated(entry);
    return start;
  }

  /** The whole data of a small stored entry (data.pkl, version files). */
  read(entry: ZipEntry, maxBytes: number): Uint8Array {
    if (entry.size > maxBytes) throw new CheckpointError(`${this.file}: zip entry ${entry.name} is ${entry.size} bytes, over the ${maxBytes}-byte limit for it`);
    const start = this.dataOffset(entry);
    const out = new Uint8Array(entry.size);
    const fd = fs.openSync(this.file, 'r');
    try {
      readInto(fd, this.file, out, start);
    } finally {
      fs.closeSync(fd);
    }
    return out;
  }

  private truncated(entry: ZipEntry): CheckpointError {
    return new CheckpointError(`${this.file}: zip entry ${entry.name} extends beyond the end of the file (${this.fileSize} bytes): the file is truncated`);
  }
}

function findCentralDirectory(fd: number, file: string, size: number): { cdOffset: number; cdSize: number; count: number } {
  const notZip = () => new CheckpointError(`${file}: no zip end-of-central-directory record: the file is truncated, or not a zip archive`);
  if (size < EOCD_SIZE) throw notZip();
  const tailLen = Math.min(size, EOCD_SIZE + MAX_COMMENT + ZIP64_LOCATOR_SIZE);
  const tail = new Uint8Array(tailLen);
  readInto(fd, file, tail, size - tailLen);
  const v = new DataView(tail.buffer);
  let at = -1;
  for (let i = tailLen - EOCD_SIZE; i >= 0; i--) {
    // The comment must run exactly to the end of the file, which rules out stray signatures in data.
    if (v.getUint32(i, true) === EOCD_SIG && i + EOCD_SIZE + v.getUint16(i + 20, true) === tailLen) {
      at = i;
      break;
    }
  }
  if (at < 0) throw notZip();
  const eocdPos = size - tailLen + at;
  let count = v.getUint16(at + 10, true);
  let cdSize = v.getUint32(at + 12, true);
  let cdOffset = v.getUint32(at + 16, true);
  if (v.getUint16(at + 4, true) !== 0 || v.getUint16(at + 6, true) !== 0) throw new CheckpointError(`${file}: multi-part zip archives are not supported`);
  let end = eocdPos;
  if (at >= ZIP64_LOCATOR_SIZE && v.getUint32(at - ZIP64_LOCATOR_SIZE, true) === ZIP64_LOCATOR_SIG) {
    const recordPos = Number(v.getBigUint64(at - ZIP64_LOCATOR_SIZE + 8, true));
    if (recordPos + 56 > eocdPos) throw new CheckpointError(`${file}: ZIP64 end-of-central-directory locator points past the record (damaged archive)`);
    const rec = new Uint8Array(56);
    readInto(fd, file, rec, recordPos);
    const r = new DataView(rec.buffer);
    if (r.getUint32(0, true) !== ZIP64_EOCD_SIG) throw new CheckpointError(`${file}: no ZIP64 end-of-central-directory record at byte ${recordPos} (damaged archive)`);
    count = safeNumber(file, r.getBigUint64(32, true));
    cdSize = safeNumber(file, r.getBigUint64(40, true));
    cdOffset = safeNumber(file, r.getBigUint64(48, true));
    end = recordPos;
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw new CheckpointError(`${file}: zip record fields are saturated but there is no ZIP64 locator (damaged archive)`);
  }
  if (cdOffset + cdSize > end) throw new CheckpointError(`${file}: central directory (${cdSize} bytes at ${cdOffset}) overlaps its end record: the file is truncated or damaged`);
  if (cdSize > MAX_CENTRAL_DIRECTORY_BYTES) throw new CheckpointError(`${file}: central directory of ${cdSize} bytes is too large for a checkpoint`);
  return { cdOffset, cdSize, count };
}

function parseCentralDirectory(file: string, cd: Uint8Array, count: number, cdOffset: number): Map<string, ZipEntry> {
  const v = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const decoder = new TextDecoder();
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || v.getUint32(p, true) !== CENTRAL_SIG) throw new CheckpointError(`${file}: bad central directory entry ${i} at byte ${cdOffset + p} (damaged archive)`);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    if (p + 46 + nameLen + extraLen + commentLen > cd.length) throw new CheckpointError(`${file}: central directory entry ${i} runs past the directory (damaged archive)`);
    const name = decoder.decode(cd.subarray(p + 46, p + 46 + nameLen));
    let size = v.getUint32(p + 24, true);
    let compressedSize = v.getUint32(p + 20, true);
    let localHeaderOffset = v.getUint32(p + 42, true);
    if (size === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
      // ZIP64 extra field: 8-byte values, present only for the fields saturated above, in this order.
      const z = zip64Extra(file, name, v, p + 46 + nameLen, extraLen);
      let q = 0;
      const next = () => {
        if (q + 8 > z.byteLength) throw new CheckpointError(`${file}: zip entry ${name}: ZIP64 extra field too short (damaged archive)`);
        const value = safeNumber(file, z.getBigUint64(q, true));
        q += 8;
        return value;
      };
      if (size === 0xffffffff) size = next();
      if (compressedSize === 0xffffffff) compressedSize = next();
      if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
    }
    entries.set(name, { name, method: v.getUint16(p + 10, true), flags: v.getUint16(p + 8, true), compressedSize, size, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function zip64Extra(file: string, name: string, v: DataView, start: number, length: number): DataView {
  let p = start;
  while (p + 4 <= start + length) {
    const id = v.getUint16(p, true);
    const len = v.getUint16(p + 2, true);
    if (id === ZIP64_EXTRA_ID) return new DataView(v.buffer, v.byteOffset + p + 4, Math.min(len, start + length - p - 4));
    p += 4 + len;
  }
  throw new CheckpointError(`${file}: zip entry ${name} has saturated sizes but no ZIP64 extra field (damaged archive)`);
}

function safeNumber(file: string, n: bigint): number {
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(`${file}: zip offset ${n} is beyond 2^53 (damaged archive)`);
  return Number(n);
}
