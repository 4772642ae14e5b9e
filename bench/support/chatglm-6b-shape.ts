// ChatGLM-6B's shape (its config.json, docs/model.md §1.1), for benchmarks that build the model's
// graph with random weights: the speed of a shape does not depend on trained values.
import type { GlmConfig } from '@chatglm/glm';

export const CHATGLM_6B: GlmConfig = {
  vocabSize: 130528,
  hiddenSize: 4096,
  numLayers: 28,
  numHeads: 32,
  innerHiddenSize: 16384,
  layernormEpsilon: 1e-5,
  maxSequenceLength: 2048,
  bosTokenId: 130004,
  eosTokenId: 130005,
  maskTokenId: 130000,
  gmaskTokenId: 130001,
  padTokenId: 3,
  preSeqLen: 0,
  prefixProjection: false,
  quantizationBit: 0,
};
