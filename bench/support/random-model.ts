// ChatGLM-6B at full width, cut down to `layers` layers (embedding and lm_head included), with
// random weights written directly as codes: what the CPU benchmarks decode.
import type { GlmConfig } from '@chatglm/glm';
import { StageExecutor } from '@chatglm/runtime';
import type { BenchQuantization } from './bench-options.ts';
import { randomStageTensors } from './random-stage-tensors.ts';
import { CHATGLM_6B } from './chatglm-6b-shape.ts';
import { cachedPositionsFor } from './decode-timing.ts';

export interface RandomModel {
  config: GlmConfig;
  stage: StageExecutor;
  /** Seconds it took to build. */
  builtIn: number;
}

export async function openRandomModel(
  layers: number,
  quantization: BenchQuantization,
  run: { streams: number; steps: number; threads: number; profileFilePrefix?: string; capacity?: number; promptTokens?: number },
): Promise<RandomModel> {
  const t0 = performance.now();
  const config = { ...CHATGLM_6B, numLayers: layers };
  const stage = await StageExecutor.create({
    config,
    range: { start: 0, end: layers },
    weights: { kind: 'tensors', tensors: randomStageTensors(quantization) },
    quantization: { kvCache: quantization.kvCache },
    maxSequences: run.streams,
    maxTokensPerSequence: run.capacity ?? cachedPositionsFor(run.steps, run.promptTokens),
    threads: run.threads,
    ...(run.profileFilePrefix !== undefined && { profileFilePrefix: run.profileFilePrefix }),
  });
  return { config, stage, builtIn: (performance.now() - t0) / 1000 };
}
