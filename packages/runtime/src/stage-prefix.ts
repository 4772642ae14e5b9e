// Resolves a stage's P-tuning v2 prefix (docs/model.md §10) from its StageSpec: arrays given by the caller,
// or a checkpoint directory that the stage (its worker thread, its process) reads and encodes
// itself, computing only its own layers.
import { encodePrefix, prefixLayersFor, readPrefixCheckpoint, type GlmConfig, type LayerRange, type PrefixKv } from '@chatglm/glm';
import { createOnnxLinear } from './onnx-linear.ts';
import type { PrefixLocation } from './stage-runtime.ts';

/** The prefix of `range`'s layers, checked against the config; undefined when there is none. */
export async function loadStagePrefix(location: PrefixLocation | undefined, config: GlmConfig, range: LayerRange, threads: number): Promise<PrefixKv | undefined> {
  if (!location) return undefined;
  if (location.kind === 'memory') return { length: location.length, layers: prefixLayersFor(location, config, range) };
  const checkpoint = readPrefixCheckpoint(location.dir, config);
  if (!checkpoint.config.prefixProjection) return encodePrefix({ config: checkpoint.config, weights: checkpoint.weights, range });
  const onnx = await createOnnxLinear(threads);
  try {
    return await encodePrefix({ config: checkpoint.config, weights: checkpoint.weights, range, linear: onnx.linear });
  } finally {
    await onnx.close();
  }
}
