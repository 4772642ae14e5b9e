// What a worker serves: a bundle given directly (`--model` pointing at a converted stage), or a raw
// checkpoint whose stage is converted into a bundle on first start and cached (the cache key holds
// the checkpoint's identity, the layer range and how it was converted, so a changed checkpoint or
// other flags build a new bundle).
import fs from 'node:fs';
import path from 'node:path';
import { cacheRoot, type Logger } from '@chatglm/common';
import {
  BundleError,
  bundleVariant,
  checkpointId,
  formatLayers,
  isBundleDir,
  parseGlmConfig,
  readBundleManifest,
  readModelDirectory,
  sameLayers,
  checkpointStorage,
  checkpointTensors,
  TOKENIZER_FILE,
  writeStageBundle,
  ConversionProgress,
  describeConversion,
  type BundleOptions,
  type BundleProgress,
  type GlmConfig,
  type LayerRange,
} from '@chatglm/glm';

export interface ResolvedStage {
  /** The bundle folder to load. */
  bundleDir: string;
  config: GlmConfig;
  range: LayerRange;
  tokenizerFile: string;
  /** The source checkpoint's identity: stages of one pipeline must share it. */
  modelId: string;
}

/**
 * `layers` gives the range for a raw checkpoint (from --layers / --stage); for a bundle it must agree
 * with the bundle when given explicitly (`explicit`).
 */
export function resolveStage(modelDir: string, layers: (numLayers: number) => LayerRange, explicit: boolean, options: BundleOptions, log: Logger): ResolvedStage {
  if (isBundleDir(modelDir)) {
    const manifest = readBundleManifest(modelDir);
    const config = parseGlmConfig(JSON.parse(fs.readFileSync(path.join(modelDir, 'config.json'), 'utf8')));
    const range = { ...manifest.layers };
    if (explicit) {
      const wanted = layers(config.numLayers);
      if (!sameLayers(wanted, range)) {
        throw new BundleError(`${modelDir} is a bundle of ${formatLayers(range)}, but ${formatLayers(wanted)} were asked for`);
      }
    }
    return { bundleDir: path.resolve(modelDir), config, range, tokenizerFile: path.join(modelDir, TOKENIZER_FILE), modelId: manifest.sourceId };
  }
  const model = readModelDirectory(modelDir);
  const range = layers(model.config.numLayers);
  const sourceId = checkpointId(model.dir);
  const withStorage: BundleOptions = { ...options, storage: options.storage ?? checkpointStorage(model.dir) };
  const dir = path.join(cacheRoot(), 'bundles', `${sourceId.replace(/[^A-Za-z0-9_-]/g, '_')}-layers-${range.start}-${range.end - 1}-${bundleVariant(withStorage)}`);
  let cached = false;
  try {
    cached = isBundleDir(dir) && readBundleManifest(dir).sourceId === sourceId;
  } catch (err) {
    log.warn('cached bundle is unusable; converting again', { dir, error: err });
  }
  if (!cached) {
    const started = performance.now();
    log.info('converting the checkpoint into a bundle (first start)', { dir, layers: [range.start, range.end] });
    const tensors = checkpointTensors(model, withStorage.quantization ?? {});
    writeStageBundle({ dir: model.dir, config: model.config, tensors, sourceId }, range, dir, withStorage, conversionProgress(new ConversionProgress(model.config, range, { quantization: withStorage.quantization, startedAt: started }), started, log));
    log.info('bundle written', { dir, seconds: ((performance.now() - started) / 1000).toFixed(1) });
  }
  return { bundleDir: dir, config: model.config, range, tokenizerFile: model.tokenizerFile, modelId: sourceId };
}

/** How often a first-start conversion says how far it is (it takes minutes at full size). */
const PROGRESS_EVERY_MS = 5000;

/** Logs the conversion's progress at most every few seconds: where it is, what is written, its pace, the time left. */
function conversionProgress(progress: ConversionProgress, started: number, log: Logger): (p: BundleProgress) => void {
  let lastLog = started;
  return (p) => {
    const now = performance.now();
    const s = progress.update(p, now);
    if (now - lastLog < PROGRESS_EVERY_MS) return;
    lastLog = now;
    log.info(`converting: ${describeConversion(s)}`, {
      percent: Math.floor(s.fraction * 100),
      at: s.at,
      tensors: s.tensors,
      writtenMiB: Math.round(s.bytes / 2 ** 20),
      seconds: Math.round(s.elapsedSeconds),
      ...(s.secondsLeft !== undefined && { secondsLeft: Math.round(s.secondsLeft) }),
    });
  };
}
