// An identity for the weights a stage serves, so stages of different models never chain: a hash
// of config.json, each safetensors file's size and header (names, shapes, offsets), and samples of
// its tensor bytes (the first and last 64 KiB). Cheap to compute (no full read of multi-gigabyte
// files), the same for copies of one checkpoint in different folders, and different for other
// weights of the same shape.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const SAMPLE_BYTES = 64 * 1024;

export function modelId(dir: string): string {
  const hash = createHash('sha256');
  hash.update(fs.readFileSync(path.join(dir, 'config.json')));
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.safetensors')).sort()) {
    const file = path.join(dir, f);
    const size = fs.statSync(file).size;
    hash.update(`${f}:${size}\n`);
    const fd = fs.openSync(file, 'r');
    try {
      const len = Buffer.alloc(8);
      fs.readSync(fd, len, 0, 8, 0);
      const dataStart = Math.min(size, 8 + Number(len.readBigUInt64LE(0)));
      for (const [from, to] of [
        [0, dataStart + SAMPLE_BYTES],
        [size - SAMPLE_BYTES, size],
      ] as const) {
        const start = Math.max(0, from);
        const chunk = Buffer.alloc(Math.max(0, Math.min(size, to) - start));
        fs.readSync(fd, chunk, 0, chunk.length, start);
        hash.update(chunk);
      }
    } finally {
      fs.closeSync(fd);
    }
  }
  return `chatglm@${hash.digest('hex').slice(0, 16)}`;
}
