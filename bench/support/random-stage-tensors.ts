// Random weights of any ChatGLM shape, made directly in the form the stage graph takes them: float
// arrays, or MatMulNBits codes and scales. Quantizing 6 billion floats in JavaScript takes minutes;
// writing random codes takes seconds, and a speed benchmark needs no trained values. Values are
// small and finite, so activations stay finite through 28 layers.
import { DEFAULT_BLOCK_SIZE, blocksPerRow, type MatrixTensor, type Quantization, type StageTensors } from '@chatglm/glm';

/** A block of random floats in [-0.02, 0.02), repeated to fill any tensor (fast: a copy per block). */
const BLOCK = (() => {
  const out = new Float32Array(1 << 16);
  let s = 0x9e3779b9;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 - 0.5) * 0.04;
  }
  return out;
})();

function randomFloats(n: number, salt: number): Float32Array {
  const out = new Float32Array(n);
  const offset = (salt * 7919) % BLOCK.length;
  for (let at = 0; at < n; at += BLOCK.length) out.set(BLOCK.subarray(0, Math.min(BLOCK.length, n - at)), at);
  // Shift the pattern per tensor, so that no two tensors are equal.
  if (n > offset) out.copyWithin(0, offset, Math.min(n, offset + BLOCK.length));
  return out;
}

function randomBytes(n: number, salt: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = (salt * 2654435761) >>> 0;
  const block = new Uint8Array(1 << 16);
  for (let i = 0; i < block.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    block[i] = s >>> 24;
  }
  for (let at = 0; at < n; at += block.length) out.set(block.subarray(0, Math.min(block.length, n - at)), at);
  return out;
}

/**
 * Stage tensors of random values: every linear (and, with `embedding`, the embedding and lm_head)
 * quantized as asked, directly as codes; everything else fp32. LayerNorm weights are 1 so that
 * hidden states keep their scale.
 */
export function randomStageTensors(quantization: { linears: Quantization; embedding: Quantization }): StageTensors {
  let salt = 1;
  return {
    float(name, dims) {
      const n = dims.reduce((a, b) => a * b, 1);
      if (/layernorm\.weight$/.test(name)) return new Float32Array(n).fill(1);
      return randomFloats(n, salt++);
    },
    half: () => undefined,
    matrix(name, rows, cols, role): MatrixTensor {
      const q = role === 'embedding' ? quantization.embedding : quantization.linears;
      if (q === 'none') return { kind: 'float', data: randomFloats(rows * cols, salt++) };
      const bits = q === 'int8' ? 8 : 4;
      const blocks = blocksPerRow(cols, DEFAULT_BLOCK_SIZE);
      const packed = randomBytes((rows * blocks * DEFAULT_BLOCK_SIZE * bits) / 8, salt++);
      // Scales that keep |w| near 0.02: codes span +-7 (int4) or +-127 (int8) around the zero point.
      const scales = new Float32Array(rows * blocks).fill(bits === 4 ? 0.003 : 0.00016);
      return { kind: 'nbits', weight: { bits, blockSize: DEFAULT_BLOCK_SIZE, n: rows, k: cols, packed, scales } };
    },
  };
}
