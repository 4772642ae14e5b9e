// The embedded default model: a tiny ChatGLM-architecture model with deterministic random weights
// and the project's own test tokenizer, generated on first use into a cache folder. It lets the
// whole system run anywhere in seconds; its replies are gibberish by construction.
import fs from 'node:fs';
import path from 'node:path';
import {
  EMBEDDING_NAME,
  FINAL_LN_BIAS,
  TOKENIZER_FILE,
  randomGlmWeights,
  toHfConfigJson,
  writeSafetensors,
  type GlmConfig,
} from '@chatglm/glm';
import { cacheRoot, seededRandom } from '@chatglm/common';
import { ChatGLMTokenizer } from '@chatglm/tokenizer';
import { buildTestTokenizerModel } from '@chatglm/tokenizer/test-model';

/** Bump when the generator changes, so old caches are not reused. */
const DEFAULT_MODEL_VERSION = 1;
const SEED = 20230513; // ChatGLM-6B v1.1's release date

/** The directory of the default model, generating it when absent (a few hundred milliseconds). */
export async function ensureDefaultModel(root = cacheRoot()): Promise<string> {
  const dir = path.join(root, `default-model-v${DEFAULT_MODEL_VERSION}`);
  if (fs.existsSync(path.join(dir, 'model.safetensors'))) return dir;
  fs.mkdirSync(root, { recursive: true });
  // Write into a private folder and rename it into place: concurrent first starts do not clash.
  const tmp = fs.mkdtempSync(path.join(root, '.default-model-'));
  try {
    await writeTinyModel(tmp);
    fs.renameSync(tmp, dir);
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(path.join(dir, 'model.safetensors'))) throw err; // another process won the race
  }
  return dir;
}

/**
 * How the tiny model's replies end. 'short' (the default model): after a few dozen tokens, so a chat
 * shows whole replies. 'random': purely random weights, whose replies mostly run to their length
 * limit (now and then a sampled one draws <eop> early). 'endless': <eop> is never drawn, so every
 * reply runs to its limit (tests that must see a reply while it is being generated).
 */
export type TinyModelReplies = 'short' | 'random' | 'endless';

/** Writes the tiny model into `dir`. */
export async function writeTinyModel(dir: string, options: { replies?: TinyModelReplies } = {}): Promise<void> {
  const tokenizerBytes = buildTestTokenizerModel();
  const tokenizer = await ChatGLMTokenizer.load(tokenizerBytes);
  const special = tokenizer.specialTokens;
  const config: GlmConfig = {
    // Padding rows beyond the tokenizer's pieces, like ChatGLM-6B's 130528 rows for 130344 pieces:
    // they exercise the masking of ids that have no piece.
    vocabSize: Math.ceil((tokenizer.vocabSize + 1) / 64) * 64,
    hiddenSize: 64,
    numLayers: 4,
    numHeads: 4,
    innerHiddenSize: 256,
    layernormEpsilon: 1e-5,
    maxSequenceLength: 2048,
    ...tokenizer.promptMarkers,
    eosTokenId: special.eop,
    padTokenId: special.pad,
    preSeqLen: 0,
    prefixProjection: false,
    quantizationBit: 0,
  };
  const weights = randomGlmWeights(config, { seed: SEED });
  const replies = options.replies ?? 'short';
  if (replies !== 'random') steerEop(config, weights.get(EMBEDDING_NAME)!.data, weights.get(FINAL_LN_BIAS)!.data, replies === 'short' ? 1 : -1);
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(toHfConfigJson(config), null, 2) + '\n');
  fs.writeFileSync(path.join(dir, TOKENIZER_FILE), tokenizerBytes);
  writeSafetensors(path.join(dir, 'model.safetensors'), weights, { generator: `chatglm-cluster default model v${DEFAULT_MODEL_VERSION}`, seed: String(SEED) });
  fs.writeFileSync(
    path.join(dir, 'README.md'),
    '# chatglm-cluster default model\n\nA tiny ChatGLM-architecture model (hidden 64, 4 layers, 4 heads) with deterministic random\n' +
      'weights and the project\'s own small test tokenizer. It exists so that the cluster runs anywhere in\n' +
      'seconds; its replies are gibberish. Serve a real ChatGLM-6B checkpoint with `--model DIR`.\n',
  );
}

/**
 * Random weights pick <eop> rarely, so most replies would run to max_length (2048 tokens). Point
 * the final LayerNorm's bias and <eop>'s (tied) embedding row along one shared direction (`sign`
 * 1): <eop> then gets a logit near the top at every step and replies end after a few dozen tokens.
 * The opposite direction (`sign` -1) gives <eop> a logit far below the rest: it is never sampled.
 */
function steerEop(config: GlmConfig, embedding: Float32Array, finalBias: Float32Array, sign: 1 | -1): void {
  const H = config.hiddenSize;
  const rand = seededRandom(SEED + 1);
  const direction = Float32Array.from({ length: H }, () => rand() * 2 - 1);
  const norm = Math.hypot(...direction);
  const BIAS_LENGTH = 2.0;
  const EOP_LENGTH = 2.0;
  for (let i = 0; i < H; i++) {
    const u = (direction[i] ?? 0) / norm;
    finalBias[i] = BIAS_LENGTH * u;
    embedding[config.eosTokenId * H + i] = sign * EOP_LENGTH * u;
  }
}
