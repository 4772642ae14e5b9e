// An identity for the weights a stage serves, so stages of different models never chain: a hash of
// config.json and the safetensors headers (names, shapes, offsets) and file sizes. Cheap to compute
// (no tensor data is read) and different for any re-export of the weights.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export function modelId(dir: string): string {
  const hash = createHash('sha256');
  hash.update(fs.readFileSync(path.join(dir, 'config.json')));
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.safetensors') || n.endsWith('.index.json')).sort()) {
    const file = path.join(dir, f);
    const size = fs.statSync(file).size;
    hash.update(`${f}:${size}\n`);
    if (f.endsWith('.safetensors')) {
      const fd = fs.openSync(file, 'r');
      try {
        const len = Buffer.alloc(8);
        fs.readSync(fd, len, 0, 8, 0);
        const headerLen = Math.min(Number(len.readBigUInt64LE(0)), size - 8);
        const header = Buffer.alloc(Math.max(0, headerLen));
        fs.readSync(fd, header, 0, header.length, 8);
        hash.update(header);
      } finally {
        fs.closeSync(fd);
      }
    }
  }
  return `${path.basename(dir)}@${hash.digest('hex').slice(0, 16)}`;
}
