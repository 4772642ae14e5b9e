// ChatGLM-6B at full width with random weights, cut to `layers` layers, written as `chatglm convert`
// writes a model (one bundle per stage, `stage-I-of-N/`), so that real workers load it with
// `chatglm up --model DIR` in seconds. Written once per shape and quantization and cached: the full
// 28 layers take a few GB of disk and a minute to write.
import fs from 'node:fs';
import path from 'node:path';
import { cacheRoot } from '@chatglm/common';
import { readConvertedStages, splitLayers, stageBundleName, toHfConfigJson, writeStageBundle, type GlmConfig, type LayerRange } from '@chatglm/glm';
import { ChatGLMTokenizer } from '@chatglm/tokenizer';
import { buildTestTokenizerModel } from '@chatglm/tokenizer/test-model';
import type { BenchQuantization } from './bench-options.ts';
import { CHATGLM_6B } from './chatglm-6b-shape.ts';
import { randomStageTensors } from './random-stage-tensors.ts';

export interface RandomConvertedModel {
  /** The folder holding stage-I-of-N/. */
  dir: string;
  config: GlmConfig;
  /** One bundle folder per stage, in pipeline order, and the layers of each. */
  stageDirs: string[];
  ranges: LayerRange[];
}

/** `prefillChunkLayers`: convert each stage into graphs of that many layers (chunked prefill). */
export async function randomConvertedModel(layers: number, stages: number, quantization: BenchQuantization, prefillChunkLayers?: number): Promise<RandomConvertedModel> {
  // The project's small test tokenizer (the real one is not ours to ship): the model's marker and
  // <eop> ids are its ids; the vocabulary keeps ChatGLM-6B's 130528 rows, and the ids without a
  // piece are masked when sampling, as the real model's 184 padding rows are.
  const tokenizerModel = buildTestTokenizerModel();
  const tokenizer = await ChatGLMTokenizer.load(tokenizerModel);
  const config: GlmConfig = { ...CHATGLM_6B, numLayers: layers, ...tokenizer.promptMarkers, eosTokenId: tokenizer.specialTokens.eop, padTokenId: tokenizer.specialTokens.pad };
  const kv = quantization.kvCache === 'float16' ? '-kv16' : '';
  const root = path.join(cacheRoot(), 'bench', `random-v2-${layers}-layers-${quantization.linears}-emb-${quantization.embedding}${kv}`);
  const dir = path.join(root, `${stages}-stages${prefillChunkLayers !== undefined ? `-chunks-of-${prefillChunkLayers}` : ''}`);
  const cached = (() => {
    try {
      return readConvertedStages(dir);
    } catch {
      return undefined; // half written or stale: write again
    }
  })();
  if (cached) return { dir, config, stageDirs: cached.map((s) => s.dir), ranges: cached.map((s) => ({ ...s.manifest.layers })) };

  // A bundle copies config.json and the tokenizer from its source folder.
  const source = path.join(root, 'source');
  fs.mkdirSync(source, { recursive: true });
  fs.writeFileSync(path.join(source, 'config.json'), JSON.stringify({ ...toHfConfigJson(config), torch_dtype: 'float16' }, null, 2));
  fs.writeFileSync(path.join(source, 'ice_text.model'), tokenizerModel);
  fs.rmSync(dir, { recursive: true, force: true });
  const started = performance.now();
  const ranges = splitLayers(layers, stages);
  const stageDirs = ranges.map((range, i) => {
    const out = path.join(dir, stageBundleName(i, stages));
    writeStageBundle({ dir: source, config, tensors: randomStageTensors(quantization), sourceId: `bench-random-${layers}-layers` }, range, out, { quantization, ...(prefillChunkLayers !== undefined && { prefillChunkLayers }) });
    return out;
  });
  console.log(`  wrote random ${quantization.linears} bundles of ${layers} layers for ${stages} stage(s) into ${dir} in ${((performance.now() - started) / 1000).toFixed(0)} s (cached)`);
  return { dir, config, stageDirs, ranges };
}
