// An identity for a checkpoint's weights, so stages of different models never chain and a cached
// bundle is rebuilt when its source changes: a hash of config.json and, for every weights file
// (*.safetensors, *.bin, bundle weights), its name, size and samples of its bytes (the first 64 KiB
// after a safetensors header, and the last 64 KiB). Cheap (no full read of multi-gigabyte files),
// the same for copies of one checkpoint in different folders, different for other weights of the
// same shape.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const SAMPLE_BYTES = 64 * 1024;

export function checkpointId(dir: string): string {
  const hash = createHash('sha256');
  hash.update(fs.readFileSync(path.join(dir, 'config.json')));
  for (const f of fs.readdirSync(dir).filter((n) => /\.(safetensors|bin)$/.test(n)).sort()) {
    const file = path.join(dir, f);
    const size = fs.statSync(file).size;
    hash.update(`${f}:${size}\n`);
    const fd = fs.openSync(file, 'r');
    try {
      const len = Buffer.alloc(8);
      fs.readSync(fd, len, 0, 8, 0);
      const dataStart = f.endsWith('.safetensors') ? Math.min(size, 8 + Number(len.readBigUInt64LE(0))) : 0;
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
