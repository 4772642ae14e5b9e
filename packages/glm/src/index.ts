// The ChatGLM-6B model: configuration, weights, GLM positions, rotary tables, layer ranges (how
// stages split the layers, and their checks) and the ONNX graph of a layer range.
//
//   import { parseGlmConfig, buildStageGraph, promptLayout, glmPositions } from '@chatglm/glm';
//   const config = parseGlmConfig(JSON.parse(fs.readFileSync('model/config.json', 'utf8')));
//   const graph = buildStageGraph(config, { start: 0, end: config.numLayers }, weights);
//   // graph.model + graph.external go to onnxruntime (see @chatglm/runtime)
export { ConfigError, RESIDUAL_ALPHA, headDim, parseGlmConfig, toHfConfigJson, validateGlmConfig, type GlmConfig } from './config.ts';
export { GraphBuilder, MemorySink, type ExternalSink, type ExternalTensor } from './onnx/graph-builder.ts';
export { SequencePositions, glmPositions, isBlockedInPrefill, positionAt, promptLayout, type PromptLayout, type PromptMarkerIds } from './model/positions.ts';
export { rotaryFrequencies, rotaryTables, rotateHeadReference, type RotaryTables } from './model/rotary.ts';
export {
  formatLayers,
  layerChainProblems,
  parseLayers,
  prefillChunks,
  DEFAULT_PREFILL_CHUNK_LAYERS,
  rangesByLayersPerStage,
  sameLayers,
  splitLayers,
  stageRange,
  validateRange,
  type LayerRange,
  type NamedLayerRange,
} from './model/layer-ranges.ts';
export { STAGE_IO, buildStageGraph, type StageGraph, type StageGraphOptions } from './model/stage-graph.ts';
export { EMBEDDING_NAME, FINAL_LN_BIAS, FINAL_LN_WEIGHT, MemoryWeightSource, layerTensorNames, type HostTensor, type WeightSource } from './model/weights.ts';
export { CheckpointError, SafetensorsWeightSource, readSafetensorsHeader, writeSafetensors } from './checkpoint/safetensors.ts';
export { randomGlmWeights, type RandomWeightsOptions } from './model/random-weights.ts';
export { TOKENIZER_FILE, readModelDirectory, type ModelDirectory } from './checkpoint/model-directory.ts';
export { DEFAULT_BLOCK_SIZE, allocateNBits, blocksPerRow, dequantizeNBits, maxCode, zeroPoint, type NBitsWeight, type QuantBits } from './quantize/nbits-weight.ts';
export { quantizeBlocks } from './quantize/quantize-blocks.ts';
export { dequantizeThudm, repackThudm } from './quantize/thudm-repack.ts';
export { bitsOf, kvCacheDefaultOn, parseKvCacheDtype, parseQuantization, quantizationFromFlags, stageTensors, type KvCacheDtype, type KvResidence, type MatrixTensor, type Quantization, type QuantizationOptions, type StageTensors, type ThudmLinear, type ThudmSource } from './model/stage-tensors.ts';
export { PrefixError, prefixLayersFor, type PrefixKv, type PrefixLayerKv } from './prefix/prefix-kv.ts';
export { PREFIX_ENCODER_TENSORS, encodePrefix, type EncodePrefixOptions, type LinearFn } from './prefix/prefix-encoder.ts';
export { matmulTransB } from './prefix/blocked-matmul.ts';
export { LINEAR_IO, buildLinearGraph } from './prefix/linear-graph.ts';
export { openPrefixWeights, readPrefixCheckpoint, type PrefixCheckpoint } from './prefix/prefix-checkpoint.ts';
export { BUNDLE_FORMAT_VERSION, BUNDLE_GRAPH, BUNDLE_MANIFEST, BundleError, isBundleDir, readBundleManifest, type BundleManifest } from './bundle/bundle-manifest.ts';
export { checkpointId } from './bundle/checkpoint-id.ts';
export { readConvertedStages, stageBundleName, type ConvertedStage } from './bundle/converted-stages.ts';
export { DEFAULT_MAX_FILE_BYTES, FileSink, type WrittenFile } from './bundle/file-sink.ts';
export { bundleMatches, bundleVariant, writeStageBundle, type BundleOptions, type BundleProgress, type BundleSource } from './bundle/write-bundle.ts';
export { checkpointStorage, checkpointTensors } from './bundle/checkpoint-tensors.ts';
export { ConversionProgress, describeConversion, formatBytes, formatDuration, type ConversionSnapshot } from './bundle/conversion-progress.ts';
export { RAW_DTYPE_BYTES, type RawDtype, type RawTensorInfo, type RawTensorSource } from './checkpoint/raw-tensor-source.ts';
export { detectCheckpointFormat, openCheckpoint, type CheckpointFormat } from './checkpoint/open-checkpoint.ts';
export { FloatWeightSource, floatWeights } from './checkpoint/float-weights.ts';
export { SafetensorsSource } from './checkpoint/safetensors.ts';
export { PytorchSource } from './checkpoint/pytorch-source.ts';
export { readTorchArchive } from './checkpoint/torch-archive.ts';
export { LM_HEAD_NAME, PREFIX_ENCODER_PREFIX, assertShapes, checkShapes, expectedTensors, type CheckShapesOptions, type ExpectedTensor, type ShapeProblem } from './checkpoint/check-shapes.ts';
