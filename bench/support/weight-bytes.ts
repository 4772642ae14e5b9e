// Bytes of weights a decode step streams from memory: the floor of a weight-bound step is this
// divided by the memory bandwidth (the roofline the benchmarks print beside their timings).
import { DEFAULT_BLOCK_SIZE, blocksPerRow, type Quantization } from '@chatglm/glm';

/**
 * Bytes of `layers` layers (and, `withHead`, the tied lm_head) a decode step reads: every matrix as
 * codes and scales or fp32, the biases and LayerNorms as fp32.
 */
export function stageWeightBytes(config: { hiddenSize: number; innerHiddenSize: number; vocabSize: number }, layers: number, quantization: { linears: Quantization; embedding: Quantization }, withHead: boolean): number {
  const H = config.hiddenSize;
  const FF = config.innerHiddenSize;
  const matrixBytes = (n: number, k: number, q: Quantization) => (q === 'none' ? n * k * 4 : (n * k * (q === 'int8' ? 8 : 4)) / 8 + n * blocksPerRow(k, DEFAULT_BLOCK_SIZE) * 4);
  const perLayer = matrixBytes(3 * H, H, quantization.linears) + matrixBytes(H, H, quantization.linears) + matrixBytes(FF, H, quantization.linears) + matrixBytes(H, FF, quantization.linears) + (3 * H + H + FF + H + 4 * H) * 4;
  return perLayer * layers + (withHead ? matrixBytes(config.vocabSize, H, quantization.embedding) : 0);
}
