// A Hugging Face-style ChatGLM-6B directory: config.json, ice_text.model and the weights.
import fs from 'node:fs';
import path from 'node:path';
import { parseGlmConfig, type GlmConfig } from '../config.ts';
import { CheckpointError } from './checkpoint-error.ts';
import { assertShapes } from './check-shapes.ts';
import { detectCheckpointFormat, openCheckpoint, type CheckpointFormat } from './open-checkpoint.ts';

export const TOKENIZER_FILE = 'ice_text.model';

export interface ModelDirectory {
  dir: string;
  config: GlmConfig;
  /** The SentencePiece model of the tokenizer. */
  tokenizerFile: string;
  /**
   * How the weights are stored: safetensors (single or sharded), PyTorch .bin (single or sharded),
   * or 'none' when they were not looked for. THUDM int4/int8 checkpoints (config quantization_bit)
   * come in either format with I8 weights.
   */
  weightsFormat: CheckpointFormat | 'none';
}

/**
 * Checks a model directory and reads its config; errors name the missing or unreadable file.
 * The weights' headers (or pickles) are read and every tensor present is checked against the
 * config, so a mismatched or damaged checkpoint fails here; a missing tensor is reported by name
 * when a stage loads it. `weights: false` skips the weights (a gateway needs only the config and
 * the tokenizer).
 */
export function readModelDirectory(dir: string, options: { weights?: boolean } = {}): ModelDirectory {
  const abs = path.resolve(dir);
  if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) throw new CheckpointError(`model directory ${abs} does not exist`);
  const configFile = path.join(abs, 'config.json');
  if (!fs.existsSync(configFile)) throw new CheckpointError(`${abs} has no config.json: is this a ChatGLM-6B model directory?`);
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  } catch (err) {
    throw new CheckpointError(`${configFile} is not valid JSON: ${(err as Error).message}`);
  }
  const config = parseGlmConfig(json);
  const tokenizerFile = path.join(abs, TOKENIZER_FILE);
  if (!fs.existsSync(tokenizerFile)) throw new CheckpointError(`${abs} has no ${TOKENIZER_FILE} (the ChatGLM SentencePiece tokenizer model)`);
  if (options.weights === false) return { dir: abs, config, tokenizerFile, weightsFormat: 'none' };
  const format = detectCheckpointFormat(abs);
  if (!format) throw new CheckpointError(`${abs} has no weights (model.safetensors, pytorch_model.bin, or shards with their .index.json)`);
  assertShapes(config, openCheckpoint(abs), { partial: true });
  return { dir: abs, config, tokenizerFile, weightsFormat: format };
}
