// Reads one byte range of a file into its own buffer: tensors are loaded one at a time from their
// offsets, never by reading a whole (multi-GB) shard.
import fs from 'node:fs';
import { CheckpointError } from './checkpoint-error.ts';

/** Node's readSync takes at most 2 GiB - 1 per call. */
const MAX_READ = 1 << 30;

/** `length` bytes at `position`, in a fresh ArrayBuffer (not Buffer's pool, so typed views are aligned). */
export function readFileRange(file: string, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const fd = fs.openSync(file, 'r');
  try {
    readInto(fd, file, out, position);
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

/** Fills `out` from `position` of an open file; a short file is a truncated checkpoint. */
export function readInto(fd: number, file: string, out: Uint8Array, position: number): void {
  let done = 0;
  while (done < out.length) {
    const n = fs.readSync(fd, out, done, Math.min(out.length - done, MAX_READ), position + done);
    if (n === 0) throw new CheckpointError(`${file}: unexpected end of file at byte ${position + done} (truncated file?)`);
    done += n;
  }
}
