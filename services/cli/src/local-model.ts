// A model loaded in this process for the terminal chat: the tokenizer and a chain of CPU stages
// (several when --layers-per-stage splits the layers, to exercise the pipeline split locally),
// optionally with a P-tuning v2 prefix (docs/model.md §10) that every stage computes for its own layers.
import os from 'node:os';
import { rangesByLayersPerStage, readModelDirectory, readPrefixCheckpoint, type GlmConfig, type QuantizationOptions } from '@chatglm/glm';
import { ThreadedStageRuntime, StageChain, type StageDevice } from '@chatglm/runtime';
import { ChatGLMTokenizer } from '@chatglm/tokenizer';

export interface LocalModelOptions {
  modelDir: string;
  /** Layers per in-process stage; default all layers in one stage. */
  layersPerStage?: number;
  /** Tokens per sequence (prompt + reply); default the model's max_sequence_length. A prefix adds its P positions to the cache. */
  maxTokens?: number;
  /** A P-tuning v2 checkpoint directory (config.json with pre_seq_len, prefix_encoder weights). */
  prefixDir?: string;
  threads?: number;
  /** Quantize the layers' linears (and optionally the embedding) while loading. */
  quantization?: QuantizationOptions;
  /** Where the stages run (default cpu). */
  device?: StageDevice;
}

export interface LocalModel {
  dir: string;
  config: GlmConfig;
  tokenizer: ChatGLMTokenizer;
  chain: StageChain;
  /** The P-tuning checkpoint in use and its pre_seq_len, if any. */
  prefix?: { dir: string; length: number };
  close(): Promise<void>;
}

export async function openLocalModel(options: LocalModelOptions): Promise<LocalModel> {
  const model = readModelDirectory(options.modelDir);
  const { config } = model;
  // Read the prefix's config here, so that a wrong directory fails before any stage loads; each
  // stage thread then encodes its own layers' prefix from the same directory.
  const prefix = options.prefixDir === undefined ? undefined : readPrefixCheckpoint(options.prefixDir, config);
  const prefixLength = prefix?.config.preSeqLen ?? 0;
  const tokenizer = await ChatGLMTokenizer.load(model.tokenizerFile);
  const ranges = rangesByLayersPerStage(config.numLayers, options.layersPerStage ?? config.numLayers);
  const threads = options.threads ?? os.availableParallelism();
  const stages: ThreadedStageRuntime[] = [];
  try {
    for (const range of ranges) {
      stages.push(
        await ThreadedStageRuntime.create({
          config,
          range,
          weights: { kind: 'checkpoint', dir: model.dir },
          ...(options.quantization && { quantization: options.quantization }),
          maxSequences: 1,
          maxTokensPerSequence: (options.maxTokens ?? config.maxSequenceLength) + prefixLength,
          ...(prefix && { prefix: { kind: 'checkpoint' as const, dir: prefix.dir } }),
          threads,
          // Stages of one chain run one after another: idle ones must not spin on the shared cores.
          spinning: ranges.length === 1,
          device: options.device ?? 'cpu',
        }),
      );
    }
  } catch (err) {
    await Promise.allSettled(stages.map((s) => s.close()));
    throw err;
  }
  const chain = new StageChain(stages);
  return { dir: model.dir, config, tokenizer, chain, ...(prefix && { prefix: { dir: prefix.dir, length: prefixLength } }), close: () => chain.close() };
}
