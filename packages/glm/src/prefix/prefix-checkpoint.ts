// A P-tuning v2 checkpoint directory, as ChatGLM-6B's ptuning/main.py writes it: a config.json
// carrying pre_seq_len (and prefix_projection), and weights holding only the
// `transformer.prefix_encoder.*` tensors. The base model's own config has no pre_seq_len; this
// directory's config says it, and the rest of the model comes from the base directory.
import fs from 'node:fs';
import path from 'node:path';
import type { GlmConfig } from '../config.ts';
import { CheckpointError } from '../checkpoint/safetensors.ts';
import { floatWeights } from '../checkpoint/float-weights.ts';
import { openCheckpoint } from '../checkpoint/open-checkpoint.ts';
import type { WeightSource } from '../model/weights.ts';
import { PREFIX_ENCODER_TENSORS } from './prefix-encoder.ts';

export interface PrefixCheckpoint {
  dir: string;
  /** The base model's config with this checkpoint's `preSeqLen` and `prefixProjection`. */
  config: GlmConfig;
  weights: WeightSource;
}

/** Opens the weights of a P-tuning checkpoint (PyTorch .bin or safetensors), widened to fp32. */
export function openPrefixWeights(dir: string): WeightSource {
  // ptuning/main.py saves a pytorch_model.bin holding only the prefix encoder; safetensors work too.
  return floatWeights(openCheckpoint(dir));
}

/**
 * Reads a P-tuning checkpoint's config and opens its weights (tensors are read later, when a stage
 * computes its prefix). Errors name the file and what is wrong with it, including a config that
 * disagrees with the base model's sizes.
 */
export function readPrefixCheckpoint(dir: string, base: GlmConfig): PrefixCheckpoint {
  const abs = path.resolve(dir);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) throw new CheckpointError(`P-tuning checkpoint directory ${abs} does not exist`);
  const configFile = path.join(abs, 'config.json');
  if (!fs.existsSync(configFile)) throw new CheckpointError(`${abs} has no config.json (a P-tuning checkpoint's config says its pre_seq_len)`);
  let json: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('expected a JSON object');
    json = parsed as Record<string, unknown>;
  } catch (err) {
    throw new CheckpointError(`${configFile} is not valid JSON: ${(err as Error).message}`);
  }
  const preSeqLen = json.pre_seq_len;
  if (preSeqLen == null) throw new CheckpointError(`${configFile} has no pre_seq_len: is ${abs} a P-tuning v2 checkpoint (not the base model)?`);
  if (typeof preSeqLen !== 'number' || !Number.isInteger(preSeqLen) || preSeqLen < 1) throw new CheckpointError(`${configFile}: pre_seq_len must be a positive integer, got ${JSON.stringify(preSeqLen)}`);
  const projection = json.prefix_projection ?? false;
  if (typeof projection !== 'boolean') throw new CheckpointError(`${configFile}: prefix_projection must be true or false, got ${JSON.stringify(projection)}`);
  // The checkpoint's config is a copy of the model config it was trained on: sizes must agree.
  const sizes: [string, number][] = [['hidden_size', base.hiddenSize], ['num_layers', base.numLayers], ['num_attention_heads', base.numHeads]];
  for (const [key, want] of sizes) {
    if (json[key] != null && json[key] !== want) throw new CheckpointError(`${configFile}: ${key} is ${JSON.stringify(json[key])} but the base model has ${want}: this prefix was trained for another model`);
  }
  const weights = openPrefixWeights(abs);
  if (!weights.has(PREFIX_ENCODER_TENSORS.embedding)) {
    throw new CheckpointError(`${abs}: the weights have no "${PREFIX_ENCODER_TENSORS.embedding}"; a P-tuning v2 checkpoint holds transformer.prefix_encoder.* tensors`);
  }
  return { dir: abs, config: { ...base, preSeqLen, prefixProjection: projection }, weights };
}
