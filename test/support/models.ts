// Small ChatGLM-architecture configs and weights for engine tests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { randomGlmWeights, type GlmConfig, type HostTensor } from '@chatglm/glm';

export function tinyConfig(overrides: Partial<GlmConfig> = {}): GlmConfig {
  return {
    vocabSize: 96,
    hiddenSize: 64,
    numLayers: 4,
    numHeads: 4,
    innerHiddenSize: 256,
    layernormEpsilon: 1e-5,
    maxSequenceLength: 64,
    bosTokenId: 94,
    eosTokenId: 95,
    maskTokenId: 92,
    gmaskTokenId: 93,
    padTokenId: 0,
    preSeqLen: 0,
    prefixProjection: false,
    quantizationBit: 0,
    ...overrides,
  };
}

export function randomTensors(config: GlmConfig, seed = 7): Record<string, HostTensor> {
  return Object.fromEntries(randomGlmWeights(config, { seed }));
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if ((row[i] as number) > (row[best] as number)) best = i;
  return best;
}

/** Prompt ids in ChatGLM's shape: text, then [gMASK], then <sop>. */
export function promptIds(config: GlmConfig, text: number[]): number[] {
  return [...text, config.gmaskTokenId, config.bosTokenId];
}

/**
 * A temp folder to write bundles into, removed after the test file, and inside it the source folder
 * writeStageBundle copies config.json and ice_text.model from (placeholders: in-memory tensors are
 * the weights, and these tests read neither file).
 */
export function bundleWorkspace(name: string): { tmp: string; sourceDir: string } {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `chatglm-${name}-`));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const sourceDir = path.join(tmp, 'source');
  fs.mkdirSync(sourceDir);
  fs.writeFileSync(path.join(sourceDir, 'config.json'), '{}');
  fs.writeFileSync(path.join(sourceDir, 'ice_text.model'), '');
  return { tmp, sourceDir };
}
