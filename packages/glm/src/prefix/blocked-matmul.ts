// y = x·Wᵀ + b in plain JS, for the prefix encoder's MLP (docs/model.md §10) where no ONNX Runtime is at hand.
// W is [out, in] like a PyTorch Linear, so x's rows and W's rows are both contiguous along the
// reduction: 4x4 output blocks share each loaded x and W value four times (16 multiply-adds per 8
// loads), and a block of W rows is reused across every x row while it sits in cache. Measured on
// the 2-core development VM (2026-11-27): 2-3.5 GFLOP/s, ~4 s per ChatGLM-6B layer of the
// projection ([128 x 4096] x [4096 x 8192]), about 2 minutes for all 28 layers. The stage runtime
// therefore runs the projection through ONNX Runtime instead (5.5 s for all 28 layers, see
// @chatglm/runtime onnx-linear.ts); this one serves small models and callers without a runtime.

/** One x row block of 4 against W rows [n0, n0 + 4): the kernel where all the time goes. */
function block4x4(x: Float32Array, w: Float32Array, k: number, m0: number, n0: number, y: Float32Array, n: number, bias: Float32Array | undefined): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  const xa = m0 * k, xb = xa + k, xc = xb + k, xd = xc + k;
  const wa = n0 * k, wb = wa + k, wc = wb + k, wd = wc + k;
  for (let i = 0; i < k; i++) {
    const a0 = x[xa + i] as number, a1 = x[xb + i] as number, a2 = x[xc + i] as number, a3 = x[xd + i] as number;
    const b0 = w[wa + i] as number, b1 = w[wb + i] as number, b2 = w[wc + i] as number, b3 = w[wd + i] as number;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
  }
  const d0 = bias ? (bias[n0] as number) : 0, d1 = bias ? (bias[n0 + 1] as number) : 0;
  const d2 = bias ? (bias[n0 + 2] as number) : 0, d3 = bias ? (bias[n0 + 3] as number) : 0;
  let o = m0 * n + n0;
  y[o] = c00 + d0; y[o + 1] = c01 + d1; y[o + 2] = c02 + d2; y[o + 3] = c03 + d3; o += n;
  y[o] = c10 + d0; y[o + 1] = c11 + d1; y[o + 2] = c12 + d2; y[o + 3] = c13 + d3; o += n;
  y[o] = c20 + d0; y[o + 1] = c21 + d1; y[o + 2] = c22 + d2; y[o + 3] = c23 + d3; o += n;
  y[o] = c30 + d0; y[o + 1] = c31 + d1; y[o + 2] = c32 + d2; y[o + 3] = c33 + d3;
}

/** One output element, for the edges that do not fill a 4x4 block. */
function single(x: Float32Array, w: Float32Array, k: number, r: number, c: number, bias: Float32Array | undefined): number {
  let s = 0;
  const xr = r * k;
  const wr = c * k;
  for (let i = 0; i < k; i++) s += (x[xr + i] as number) * (w[wr + i] as number);
  return s + (bias ? (bias[c] as number) : 0);
}

/**
 * y [m, n] = x [m, k] · w [n, k]ᵀ + bias [n], accumulated in float64 and stored as float32.
 * `w` and `bias` may be subarrays (a row range of a larger weight).
 */
export function matmulTransB(x: Float32Array, m: number, k: number, w: Float32Array, n: number, bias?: Float32Array): Float32Array {
  if (x.length < m * k || w.length < n * k || (bias && bias.length < n)) throw new Error(`matmulTransB: operands too small for [${m}, ${k}] x [${n}, ${k}]ᵀ`);
  const y = new Float32Array(m * n);
  const m4 = m - (m % 4);
  const n4 = n - (n % 4);
  // W row blocks outermost: each 4-row block of W (4 x k floats) stays hot while all of x streams by.
  for (let n0 = 0; n0 < n4; n0 += 4) for (let m0 = 0; m0 < m4; m0 += 4) block4x4(x, w, k, m0, n0, y, n, bias);
  for (let r = 0; r < m; r++) {
    const cFrom = r < m4 ? n4 : 0;
    for (let c = cFrom; c < n; c++) y[r * n + c] = single(x, w, k, r, c, bias);
  }
  return y;
}
