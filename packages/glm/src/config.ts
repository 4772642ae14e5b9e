// The ChatGLM-6B architecture parameters, read from a Hugging Face `config.json` (docs/model.md §1).
import { ChatGlmError } from '@chatglm/common';

/** Validated model configuration; every size in elements. */
export interface GlmConfig {
  /** Embedding rows (ChatGLM-6B v1.1: 130528; the tokenizer has fewer pieces, docs/model.md §3.1). */
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** MLP inner size (`inner_hidden_size`, 4 x hidden in ChatGLM-6B). */
  innerHiddenSize: number;
  layernormEpsilon: number;
  /** Training context length (2048); positions are rotary, so it is a soft limit (docs/model.md §7.3). */
  maxSequenceLength: number;
  bosTokenId: number;
  eosTokenId: number;
  maskTokenId: number;
  gmaskTokenId: number;
  padTokenId: number;
  /** P-tuning v2 prefix length (0 when the model has none, docs/model.md §10). */
  preSeqLen: number;
  prefixProjection: boolean;
  /** THUDM quantized checkpoints: 0 (none), 4 or 8 (docs/model.md §9.1). */
  quantizationBit: number;
}

/**
 * The residual scale alpha = sqrt(2 * 28). The reference never passes the layer count to its
 * blocks, whose default is 28, so alpha is sqrt(56) for ANY layer count (docs/model.md §1.3).
 */
export const RESIDUAL_ALPHA = Math.sqrt(56);

export function headDim(config: GlmConfig): number {
  return config.hiddenSize / config.numHeads;
}

export class ConfigError extends ChatGlmError {
  constructor(message: string) {
    super('invalid_model_config', `invalid ChatGLM config: ${message}`);
  }
}

type Json = Record<string, unknown>;

function int(json: Json, key: string, fallback?: number): number {
  const v = json[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
    throw new ConfigError(`"${key}" must be a non-negative integer, got ${JSON.stringify(json[key])}`);
  }
  return v;
}

/** Parses a Hugging Face ChatGLM-6B `config.json` object (snake_case keys). */
export function parseGlmConfig(json: unknown): GlmConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ConfigError('expected a JSON object');
  const j = json as Json;
  if (j.position_encoding_2d === false) throw new ConfigError('position_encoding_2d=false is not ChatGLM-6B (GLM v1 uses 2-D positions)');
  const hiddenSize = int(j, 'hidden_size');
  const config: GlmConfig = {
    vocabSize: int(j, 'vocab_size'),
    hiddenSize,
    numLayers: int(j, 'num_layers'),
    numHeads: int(j, 'num_attention_heads'),
    innerHiddenSize: int(j, 'inner_hidden_size', 4 * hiddenSize),
    layernormEpsilon: typeof j.layernorm_epsilon === 'number' ? j.layernorm_epsilon : 1e-5,
    maxSequenceLength: int(j, 'max_sequence_length', 2048),
    bosTokenId: int(j, 'bos_token_id', 130004),
    eosTokenId: int(j, 'eos_token_id', 130005),
    maskTokenId: int(j, 'mask_token_id', 130000),
    gmaskTokenId: int(j, 'gmask_token_id', 130001),
    padTokenId: int(j, 'pad_token_id', 3),
    preSeqLen: j.pre_seq_len == null ? 0 : int(j, 'pre_seq_len'),
    prefixProjection: j.prefix_projection === true,
    quantizationBit: j.quantization_bit == null ? 0 : int(j, 'quantization_bit'),
  };
  validateGlmConfig(config);
  return config;
}

/** Checks the relations between sizes that the graph relies on. */
export function validateGlmConfig(c: GlmConfig): void {
  for (const key of ['vocabSize', 'hiddenSize', 'numLayers', 'numHeads', 'innerHiddenSize'] as const) {
    if (!(c[key] > 0)) throw new ConfigError(`${key} must be positive, got ${c[key]}`);
  }
  if (c.hiddenSize % c.numHeads !== 0) throw new ConfigError(`hidden_size ${c.hiddenSize} is not divisible by num_attention_heads ${c.numHeads}`);
  // 2-D rotary splits each head in two halves, each rotated as pairs (m, m + quarter).
  if (headDim(c) % 4 !== 0) throw new ConfigError(`head dim ${headDim(c)} must be a multiple of 4 for 2-D rotary`);
  if (![0, 4, 8].includes(c.quantizationBit)) throw new ConfigError(`quantization_bit must be 0, 4 or 8, got ${c.quantizationBit}`);
}

/** Writes the config back in Hugging Face's key names (for generated models and bundles). */
export function toHfConfigJson(c: GlmConfig): Record<string, unknown> {
  return {
    architectures: ['ChatGLMModel'],
    model_type: 'chatglm',
    vocab_size: c.vocabSize,
    hidden_size: c.hiddenSize,
    num_layers: c.numLayers,
    num_attention_heads: c.numHeads,
    inner_hidden_size: c.innerHiddenSize,
    layernorm_epsilon: c.layernormEpsilon,
    max_sequence_length: c.maxSequenceLength,
    position_encoding_2d: true,
    bos_token_id: c.bosTokenId,
    eos_token_id: c.eosTokenId,
    mask_token_id: c.maskTokenId,
    gmask_token_id: c.gmaskTokenId,
    pad_token_id: c.padTokenId,
    ...(c.preSeqLen > 0 ? { pre_seq_len: c.preSeqLen, prefix_projection: c.prefixProjection } : {}),
    ...(c.quantizationBit > 0 ? { quantization_bit: c.quantizationBit } : {}),
    torch_dtype: 'float32',
  };
}
