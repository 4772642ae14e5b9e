// Block-quantized weights in the layout of ONNX Runtime's com.microsoft::MatMulNBits (and
// GatherBlockQuantized): for a weight W [n, k] (PyTorch's [out, in]), each row is cut into blocks
// of `blockSize` along k; each block stores unsigned codes q (4 or 8 bits, two 4-bit codes per byte,
// the even element in the low nibble) and one fp32 scale; W ≈ (q - zeroPoint) · scale with the
// default zero point 8 (4 bits) or 128 (8 bits). A k that is not a multiple of the block size is
// padded with zero weights in the last block.

export type QuantBits = 4 | 8;

/** The block size the project uses (MatMulNBits measured fastest with 128 on these CPUs). */
export const DEFAULT_BLOCK_SIZE = 128;

export interface NBitsWeight {
  bits: QuantBits;
  blockSize: number;
  /** Rows (output features). */
  n: number;
  /** Columns (input features). */
  k: number;
  /** [n, blocksPerRow, blockSize * bits / 8] codes. */
  packed: Uint8Array;
  /** [n * blocksPerRow] scales. */
  scales: Float32Array;
}

export function blocksPerRow(k: number, blockSize: number): number {
  return Math.ceil(k / blockSize);
}

export function zeroPoint(bits: QuantBits): number {
  return bits === 4 ? 8 : 128;
}

/** The largest code magnitude used by symmetric quantization: 7 (4 bits) or 127 (8 bits). */
export function maxCode(bits: QuantBits): number {
  return bits === 4 ? 7 : 127;
}

export function allocateNBits(bits: QuantBits, n: number, k: number, blockSize = DEFAULT_BLOCK_SIZE): NBitsWeight {
  const blocks = blocksPerRow(k, blockSize);
  const packed = new Uint8Array(n * blocks * ((blockSize * bits) / 8)).fill(bits === 4 ? 0x88 : 0x80); // padding codes = zero point
  return { bits, blockSize, n, k, packed, scales: new Float32Array(n * blocks) };
}

/** Stores code `q` (already offset by the zero point) of element (row, col). */
export function setCode(w: NBitsWeight, row: number, col: number, q: number): void {
  const blocks = blocksPerRow(w.k, w.blockSize);
  const blockBytes = (w.blockSize * w.bits) / 8;
  const block = Math.floor(col / w.blockSize);
  const within = col - block * w.blockSize;
  const base = (row * blocks + block) * blockBytes;
  if (w.bits === 8) {
    w.packed[base + within] = q;
    return;
  }
  const i = base + (within >> 1);
  const old = w.packed[i] as number;
  w.packed[i] = within & 1 ? (old & 0x0f) | (q << 4) : (old & 0xf0) | q;
}

/** The dequantized weights [n, k] (tests and error measurements). */
export function dequantizeNBits(w: NBitsWeight): Float32Array {
  const out = new Float32Array(w.n * w.k);
  const blocks = blocksPerRow(w.k, w.blockSize);
  const blockBytes = (w.blockSize * w.bits) / 8;
  const zp = zeroPoint(w.bits);
  for (let r = 0; r < w.n; r++) {
    for (let c = 0; c < w.k; c++) {
      const block = Math.floor(c / w.blockSize);
      const within = c - block * w.blockSize;
      const byte = w.packed[(r * blocks + block) * blockBytes + (w.bits === 8 ? within : within >> 1)] as number;
      const q = w.bits === 8 ? byte : within & 1 ? byte >> 4 : byte & 0x0f;
      out[r * w.k + c] = (q - zp) * (w.scales[r * blocks + block] as number);
    }
  }
  return out;
}
