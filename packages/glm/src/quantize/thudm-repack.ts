// THUDM's chatglm-6b-int8 / -int4 checkpoints (docs/model.md §9.1) into MatMulNBits blocks without going
// through float: their codes are symmetric per row (int8 in [-127, 127], int4 in [-7, 7]) with one
// fp16 scale per row, so every block of a row gets that row's scale and the code moves by the
// default zero point. The result dequantizes to exactly THUDM's W' = Q · scale.
import { allocateNBits, blocksPerRow, setCode, zeroPoint, DEFAULT_BLOCK_SIZE, type NBitsWeight, type QuantBits } from './nbits-weight.ts';

/**
 * `q`: THUDM's int8 weight, [n, k] for 8 bits or [n, k/2] packed for 4 bits (high nibble = even
 * column, both nibbles two's complement). `rowScales`: [n], already widened from fp16.
 */
export function repackThudm(q: Int8Array, rowScales: Float32Array, n: number, k: number, bits: QuantBits, blockSize = DEFAULT_BLOCK_SIZE): NBitsWeight {
  const expected = bits === 8 ? n * k : (n * k) / 2;
  if (q.length !== expected) throw new Error(`repackThudm: ${q.length} bytes for an int${bits} weight of [${n}, ${k}] (expected ${expected})`);
  if (rowScales.length !== n) throw new Error(`repackThudm: ${rowScales.length} scales for ${n} rows`);
  const w = allocateNBits(bits, n, k, blockSize);
  const blocks = blocksPerRow(k, blockSize);
  const zp = zeroPoint(bits);
  for (let r = 0; r < n; r++) {
    w.scales.fill(rowScales[r] as number, r * blocks, (r + 1) * blocks);
    if (bits === 8) {
      for (let c = 0; c < k; c++) setCode(w, r, c, (q[r * k + c] as number) + zp);
    } else {
      for (let j = 0; j < k / 2; j++) {
        const byte = q[r * (k / 2) + j] as number; // int8 view of the byte
        const even = byte >> 4; // arithmetic shift keeps the sign of the high nibble
        const odd = (byte << 28) >> 28; // sign-extend the low nibble
        setCode(w, r, 2 * j, even + zp);
        setCode(w, r, 2 * j + 1, odd + zp);
      }
    }
  }
  return w;
}

/** THUDM's dequantization W'[r, c] = Q[r, c] · scale[r], in float (for requantizing to another bit width, and tests). */
export function dequantizeThudm(q: Int8Array, rowScales: Float32Array, n: number, k: number, bits: QuantBits): Float32Array {
  const out = new Float32Array(n * k);
  for (let r = 0; r < n; r++) {
    const s = rowScales[r] as number;
    for (let c = 0; c < k; c++) {
      let code: number;
      if (bits === 8) code = q[r * k + c] as number;
      else {
        const byte = q[r * (k / 2) + (c >> 1)] as number;
        code = c & 1 ? (byte << 28) >> 28 : byte >> 4;
      }
      out[r * k + c] = code * s;
    }
  }
  return out;
}
