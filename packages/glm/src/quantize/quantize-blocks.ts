// Quantizing float weights to blocks: symmetric absmax per block (the THUDM scheme of docs/model.md §9.1, per
// block of 128 instead of per row, which bounds the error by each block's own range). The loops
// write codes straight into the packed bytes: a ChatGLM-6B has 5.6 billion linear weights.
import { allocateNBits, blocksPerRow, maxCode, zeroPoint, DEFAULT_BLOCK_SIZE, type NBitsWeight, type QuantBits } from './nbits-weight.ts';

export function quantizeBlocks(weight: Float32Array, n: number, k: number, bits: QuantBits, blockSize = DEFAULT_BLOCK_SIZE): NBitsWeight {
  if (weight.length !== n * k) throw new Error(`quantizeBlocks: ${weight.length} values for a [${n}, ${k}] weight`);
  const w = allocateNBits(bits, n, k, blockSize);
  const blocks = blocksPerRow(k, blockSize);
  const blockBytes = (blockSize * bits) / 8;
  const top = maxCode(bits);
  const zp = zeroPoint(bits);
  const packed = w.packed;
  for (let r = 0; r < n; r++) {
    for (let b = 0; b < blocks; b++) {
      const from = r * k + b * blockSize;
      const len = Math.min(blockSize, k - b * blockSize);
      let absmax = 0;
      for (let i = 0; i < len; i++) {
        const v = Math.abs(weight[from + i] as number);
        if (v > absmax) absmax = v;
      }
      const scale = absmax / top;
      w.scales[r * blocks + b] = scale;
      if (scale === 0) continue; // all zero: the padding codes (the zero point) are already right
      const inv = 1 / scale;
      const out = (r * blocks + b) * blockBytes;
      const code = (i: number) => {
        const q = Math.round((weight[from + i] as number) * inv);
        return (q > top ? top : q < -top ? -top : q) + zp;
      };
      if (bits === 8) {
        for (let i = 0; i < len; i++) packed[out + i] = code(i);
      } else {
        for (let i = 0; i < len; i += 2) packed[out + (i >> 1)] = code(i) | ((i + 1 < len ? code(i + 1) : zp) << 4);
      }
    }
  }
  return w;
}
