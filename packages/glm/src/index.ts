// The ChatGLM-6B model: configuration, weights, GLM positions, rotary tables and the ONNX graph of
// a layer range.
//
//   import { parseGlmConfig, buildStageGraph, promptLayout, glmPositions } from '@chatglm/glm';
//   const config = parseGlmConfig(JSON.parse(fs.readFileSync('model/config.json', 'utf8')));
//   const graph = buildStageGraph(config, { start: 0, end: config.numLayers }, weights);
//   // graph.model + graph.external go to onnxruntime (see @chatglm/runtime)
export { ConfigError, RESIDUAL_ALPHA, headDim, parseGlmConfig, toHfConfigJson, validateGlmConfig, type GlmConfig } from './config.ts';
export { GraphBuilder, type ExternalTensor } from './onnx/graph-builder.ts';
export { bfloat16ToFloat32, float16BitsToNumber, float16ToFloat32, numberToFloat16Bits, roundToFloat16 } from './model/float16.ts';
export { glmPositions, isBlockedInPrefill, promptLayout, type PromptLayout, type SpecialIds } from './model/positions.ts';
export { rotaryFrequencies, rotaryTables, rotateHeadReference, type RotaryTables } from './model/rotary.ts';
export { STAGE_IO, buildStageGraph, validateRange, type LayerRange, type StageGraph } from './model/stage-graph.ts';
export { EMBEDDING_NAME, FINAL_LN_BIAS, FINAL_LN_WEIGHT, MemoryWeightSource, layerTensorNames, type HostTensor, type WeightSource } from './model/weights.ts';
export { CheckpointError, SafetensorsWeightSource, readSafetensorsHeader, writeSafetensors } from './checkpoint/safetensors.ts';
export { randomGlmWeights, type RandomWeightsOptions } from './model/random-weights.ts';
export { TOKENIZER_FILE, readModelDirectory, type ModelDirectory } from './checkpoint/model-directory.ts';
