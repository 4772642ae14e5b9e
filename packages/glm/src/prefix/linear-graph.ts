// A one-node ONNX graph y = x·Wᵀ + b with every operand an input (no initializers): the prefix
// encoder's projection runs through it one layer's slice of trans.2 at a time, zero-copy, so no
// 2 GiB initializer limit applies and nothing is pre-packed for a single use.
import { GraphBuilder } from '../onnx/graph-builder.ts';

export const LINEAR_IO = {
  /** float32 [M, K]. */
  x: 'x',
  /** float32 [N, K] (PyTorch Linear layout). */
  weight: 'weight',
  /** float32 [N]. */
  bias: 'bias',
  /** float32 [M, N]. */
  y: 'y',
} as const;

export function buildLinearGraph(): Uint8Array {
  const g = new GraphBuilder();
  const x = g.input(LINEAR_IO.x, 'float32', ['M', 'K']);
  const w = g.input(LINEAR_IO.weight, 'float32', ['N', 'K']);
  const b = g.input(LINEAR_IO.bias, 'float32', ['N']);
  g.op('Gemm', [x, w, b], { transB: 1 }, LINEAR_IO.y);
  g.output(LINEAR_IO.y, 'float32', ['M', 'N']);
  return g.build('linear_transb').model;
}
