// Where the graph builder gets its weights: by Hugging Face tensor name, as fp32 host arrays.

export interface HostTensor {
  dims: number[];
  data: Float32Array;
}

/** A read-only set of named tensors (a checkpoint, or tensors built in memory). */
export interface WeightSource {
  has(name: string): boolean;
  /** The tensor as fp32; throws an error naming the tensor when it is missing. */
  get(name: string): HostTensor;
  names(): string[];
}

/** Hugging Face names of one layer's tensors (docs/model.md §2.2). */
export function layerTensorNames(layer: number) {
  const p = `transformer.layers.${layer}`;
  return {
    ln1Weight: `${p}.input_layernorm.weight`,
    ln1Bias: `${p}.input_layernorm.bias`,
    qkvWeight: `${p}.attention.query_key_value.weight`,
    qkvBias: `${p}.attention.query_key_value.bias`,
    denseWeight: `${p}.attention.dense.weight`,
    denseBias: `${p}.attention.dense.bias`,
    ln2Weight: `${p}.post_attention_layernorm.weight`,
    ln2Bias: `${p}.post_attention_layernorm.bias`,
    h4hWeight: `${p}.mlp.dense_h_to_4h.weight`,
    h4hBias: `${p}.mlp.dense_h_to_4h.bias`,
    fourhhWeight: `${p}.mlp.dense_4h_to_h.weight`,
    fourhhBias: `${p}.mlp.dense_4h_to_h.bias`,
  };
}

export const EMBEDDING_NAME = 'transformer.word_embeddings.weight';
export const FINAL_LN_WEIGHT = 'transformer.final_layernorm.weight';
export const FINAL_LN_BIAS = 'transformer.final_layernorm.bias';

/** Tensors held in memory (tests, generated models). */
export class MemoryWeightSource implements WeightSource {
  constructor(private readonly tensors: Map<string, HostTensor>) {}

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  get(name: string): HostTensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`weights: tensor "${name}" is missing`);
    return t;
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }
}
