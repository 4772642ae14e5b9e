// A Hugging Face-style ChatGLM-6B directory: config.json, ice_text.model and the weights.
import fs from 'node:fs';
import path from 'node:path';
import { parseGlmConfig, type GlmConfig } from '../config.ts';
import { CheckpointError, SafetensorsWeightSource } from './safetensors.ts';

export const TOKENIZER_FILE = 'ice_text.model';

export interface ModelDirectory {
  dir: string;
  config: GlmConfig;
  /** The SentencePiece model of the tokenizer. */
  tokenizerFile: string;
  /** How the weights are stored ('none' when they were not looked for); this version reads safetensors. */
  weightsFormat: 'safetensors' | 'none';
}

/**
 * Checks a model directory and reads its config; errors name the missing or unreadable file.
 * `weights: false` skips the weights (a gateway needs only the config and the tokenizer).
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
  if (!SafetensorsWeightSource.isCheckpointDir(abs)) {
    const hasBin = fs.readdirSync(abs).some((f) => f.endsWith('.bin'));
    throw new CheckpointError(
      hasBin
        ? `${abs} holds PyTorch .bin weights; this version reads safetensors weights only (convert with safetensors' convert script, or wait for the checkpoint readers)`
        : `${abs} has no weights (*.safetensors)`,
    );
  }
  if (config.quantizationBit !== 0) throw new CheckpointError(`${abs} is a THUDM int${config.quantizationBit} checkpoint; quantized checkpoints are not supported yet`);
  return { dir: abs, config, tokenizerFile, weightsFormat: 'safetensors' };
}
