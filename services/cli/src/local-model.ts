// A model loaded in this process for the terminal chat: the tokenizer and a chain of CPU stages
// (several when --layers-per-stage splits the layers, to exercise the pipeline split locally).
import os from 'node:os';
import { readModelDirectory, type GlmConfig, type QuantizationOptions } from '@chatglm/glm';
import { CpuStageRuntime, StageChain, rangesByLayersPerStage } from '@chatglm/runtime';
import { ChatGLMTokenizer } from '@chatglm/tokenizer';

export interface LocalModelOptions {
  modelDir: string;
  /** Layers per in-process stage; default all layers in one stage. */
  layersPerStage?: number;
  /** Cached positions per sequence; default the model's max_sequence_length. */
  maxTokens?: number;
  threads?: number;
  /** Quantize the layers' linears (and optionally the embedding) while loading. */
  quantization?: QuantizationOptions;
}

export interface LocalModel {
  dir: string;
  config: GlmConfig;
  tokenizer: ChatGLMTokenizer;
  chain: StageChain;
  close(): Promise<void>;
}

export async function openLocalModel(options: LocalModelOptions): Promise<LocalModel> {
  const model = readModelDirectory(options.modelDir);
  const { config } = model;
  const tokenizer = await ChatGLMTokenizer.load(model.tokenizerFile);
  const ranges = rangesByLayersPerStage(config.numLayers, options.layersPerStage ?? config.numLayers);
  const threads = options.threads ?? os.availableParallelism();
  const stages: CpuStageRuntime[] = [];
  try {
    for (const range of ranges) {
      stages.push(
        await CpuStageRuntime.create({
          config,
          range,
          weights: { kind: 'safetensors', dir: model.dir },
          ...(options.quantization && { quantization: options.quantization }),
          maxSequences: 1,
          maxTokensPerSequence: options.maxTokens ?? config.maxSequenceLength,
          threads,
          // Stages of one chain run one after another: idle ones must not spin on the shared cores.
          spinning: ranges.length === 1,
        }),
      );
    }
  } catch (err) {
    await Promise.allSettled(stages.map((s) => s.close()));
    throw err;
  }
  const chain = new StageChain(stages);
  return { dir: model.dir, config, tokenizer, chain, close: () => chain.close() };
}
