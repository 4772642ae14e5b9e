// The only importer of onnxruntime-node: runs layer ranges of ChatGLM-6B as pipeline stages.
//
//   import { ThreadedStageRuntime, StageChain } from '@chatglm/runtime';
//   const stage = await ThreadedStageRuntime.create({ config, range: { start: 0, end: config.numLayers },
//     weights: { kind: 'checkpoint', dir: 'chatglm-6b' }, maxSequences: 4 });
//   const chain = new StageChain([stage]);
//   const { logits } = await chain.prefill({ seqId: 'r1', tokens: ids, positions, blockPositions, contextLength });
export { ThreadedStageRuntime } from './thread/threaded-stage-runtime.ts';
export { KvCache, KvCapacityError, type KvCacheShape } from './kv-cache.ts';
export { StageChain, type Schedule } from './stage-chain.ts';
export { ChunkedStage, openStage } from './chunked-stage.ts';
export { StageExecutor, openStageTensors } from './stage-executor.ts';
export { SWIFTSHADER_ICD, explainMissingAdapter, vulkanEnvironment, type VulkanEnvironment } from './webgpu/webgpu-environment.ts';
export { DEFAULT_MAX_SEQUENCES, parseStageDevice, type DecodeRequest, type KvCapacity, type PrefillRequest, type RunOptions, type StageRuntimeInfo, type StageOutput, type StageDevice, type StageRuntime, type StageSpec, type WeightsLocation } from './stage-runtime.ts';
export { measureReadBandwidth } from './read-bandwidth.ts';
export { measureGemmThroughput } from './gemm-throughput.ts';
export { readProfile, type ProfileEvent } from './session-profile.ts';
export { DEFAULT_MAX_PENDING_DISPATCHES, webgpuSettings, type WebGpuSettings } from './webgpu/webgpu-session-options.ts';
export { cacheUpdateMs, deviceBandwidth, dispatchMicros, releaseProbes, type CacheShape } from './webgpu/device-probes.ts';
export { ChainSequence } from './chain-sequence.ts';
export type { PrefixLocation } from './stage-runtime.ts';
export { loadStagePrefix } from './stage-prefix.ts';
export { createOnnxLinear, type OnnxLinear } from './onnx-linear.ts';
