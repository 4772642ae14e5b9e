// The contract between a pipeline stage and whatever runs its layers (docs/architecture.md, "Model
// runtime"). The CPU
// implementation runs ONNX Runtime in a worker thread; a GPU backend can replace it later.
import { ChatGlmError } from '@chatglm/common';
import type { GlmConfig, HostTensor, LayerRange, PrefixKv, QuantizationOptions, StageTensors } from '@chatglm/glm';

/**
 * Where a stage finds its P-tuning v2 prefix (docs/model.md §10); only the stage's own layers are used.
 */
export type PrefixLocation =
  /**
   * A P-tuning checkpoint directory (config.json with pre_seq_len, prefix_encoder weights): the
   * stage reads it and computes its layers' prefix itself, so a worker process needs only the path.
   */
  | { kind: 'checkpoint'; dir: string }
  /** Prefix keys/values already in the cache layout (tests, precomputed prefixes); copied to the stage's thread. */
  | ({ kind: 'memory' } & PrefixKv);

/** Where a stage finds its weights. */
export type WeightsLocation =
  /** A Hugging Face ChatGLM-6B directory: safetensors or PyTorch .bin weights, float or THUDM int8/int4. */
  | { kind: 'checkpoint'; dir: string }
  /** Tensors in memory, by Hugging Face name (tests, generated models). They are copied to the stage's thread. */
  | { kind: 'memory'; tensors: Record<string, HostTensor> }
  /** A converted stage (graph + weights on disk, see @chatglm/glm writeStageBundle); fastest to load. */
  | { kind: 'bundle'; dir: string }
  /**
   * Tensors already in the graph's form (benchmarks that write random int4 codes directly). They are
   * functions, so only a StageExecutor in the same thread takes them, not ThreadedStageRuntime.
   */
  | { kind: 'tensors'; tensors: StageTensors };

/** KV cache slots of a stage unless its spec says otherwise (and the worker's --max-sequences default). */
export const DEFAULT_MAX_SEQUENCES = 8;

export interface StageSpec {
  config: GlmConfig;
  /** Layers [start, end) this stage holds. */
  range: LayerRange;
  weights: WeightsLocation;
  /** Quantize the weights while building the graph (MatMulNBits blocks); default as stored. */
  quantization?: QuantizationOptions;
  /** Sequences the stage's KV cache holds at once. Default DEFAULT_MAX_SEQUENCES (8). */
  maxSequences?: number;
  /**
   * Cached positions per sequence, counting the P-tuning prefix: a sequence holds this minus P
   * tokens (prompt + generated), which StageRuntimeInfo.maxTokensPerSequence reports; must exceed P.
   * Default: the model's max_sequence_length (2048) plus P (the cache grows by P, docs/model.md §6).
   */
  maxTokensPerSequence?: number;
  /**
   * Positions the KV cache holds for all sequences together (whole pages of KV_PAGE_SIZE; a P-tuning
   * prefix's shared pages come on top). Default maxSequences x maxTokensPerSequence: every slot can
   * reach full length. Lower, the pipeline head admits requests by the pages they hold (see @chatglm/scheduler).
   */
  kvCacheTokens?: number;
  /** A P-tuning v2 prefix every sequence attends to (default none). */
  prefix?: PrefixLocation;
  /**
   * Layers per prefill chunk for weights built here (a bundle's chunks were fixed when it was
   * converted): decode steps of running sequences go between a prompt's chunks (openStage).
   * Default: none, one graph for the whole range.
   */
  prefillChunkLayers?: number;
  /** ONNX Runtime intra-op threads. Default: the machine's available parallelism. */
  threads?: number;
  /**
   * Let ONNX Runtime's threads go on spinning after a run returns (lower latency for the next one,
   * but a spinning idle stage steals cores from the others). Either way they spin while a run
   * lasts. Default true; chunked stages and in-process multi-stage chains turn it off.
   */
  spinning?: boolean;
  /**
   * Keep ONNX Runtime's memory arena, which holds on to the largest run's memory for good (a
   * 1500-token prefill leaves about 0.9 GB per session). Default true; a chunked stage's chunks,
   * one session each, turn it off so that a long prompt does not leave each of them holding that.
   */
  memoryArena?: boolean;
  /** Where the stage's graph runs (see StageDevice). Default 'cpu'. */
  device?: StageDevice;
  /**
   * MatMulNBits accuracy_level of a graph built here (a bundle's was fixed when it was converted):
   * 4 (default) multiplies with int8-quantized activations, 0 in float. The device check compares
   * them on a GPU, where ONNX Runtime picks a different kernel for each.
   */
  accuracyLevel?: number;
  /**
   * A webgpu stage's graph built here: decode steps attend with ONNX Runtime's MultiHeadAttention
   * (default true) or with separate products, as prefills do (false). The device check compares
   * them on a GPU (StageGraphOptions.fusedDecodeAttention).
   */
  fusedDecodeAttention?: boolean;
  /**
   * Write ONNX Runtime's profile (every node's provider and time) to files starting with this
   * path; StageExecutor.endProfiling() names the file. Default: no profile.
   */
  profileFilePrefix?: string;
}

/**
 * Where a stage's graph runs: 'cpu' (ONNX Runtime's CPU provider) or 'webgpu' (its WebGPU provider,
 * on whatever Vulkan adapter the machine has: an NVIDIA GPU through its driver, or SwiftShader on a
 * CPU-only machine). Nothing falls back from one to the other without being asked.
 */
export type StageDevice = 'cpu' | 'webgpu';

/** Checks a command-line value (`--device webgpu`); the error names the flag. */
export function parseStageDevice(value: string, flag = 'device'): StageDevice {
  if (value !== 'cpu' && value !== 'webgpu') throw new ChatGlmError('invalid_argument', `--${flag} must be cpu or webgpu, got "${value}"`);
  return value;
}

/**
 * A prompt (or a replayed prompt + generated ids) entering one sequence's new cache, empty but for
 * the P-tuning prefix, which every token sees; positions count from 0 regardless of the prefix.
 */
export interface PrefillRequest {
  seqId: string;
  /** Token ids (first stage). */
  tokens?: ArrayLike<number>;
  /** Activations [n, hidden] from the previous stage (other stages). */
  hidden?: Float32Array;
  /** GLM position ids and block position ids, one per token (see @chatglm/glm glmPositions). */
  positions: ArrayLike<number>;
  blockPositions: ArrayLike<number>;
  /** Index of <sop>: tokens before it attend to each other bidirectionally (docs/model.md §4.1). */
  contextLength: number;
}

/** One new token of one running sequence. */
export interface DecodeRequest {
  seqId: string;
  token?: number;
  /** Activations [hidden] from the previous stage. */
  hidden?: Float32Array;
  position: number;
  blockPosition: number;
}

export interface StageOutput {
  /**
   * Activations for the next stage, [rows, hidden]: prefill gives all n rows, decode one row per
   * entry in the order given. On the last stage only when `fetchHidden` is set (then after the final LayerNorm).
   */
  hidden?: Float32Array;
  /** Last stage: logits of each sequence's last token, [entries, vocab], in the order given. */
  logits?: Float32Array;
  /**
   * Milliseconds the stage's thread spent on this call's own work (a threaded runtime sets it): a
   * call that waited behind others, or whose prefill chunks took turns with them, counts only its
   * turns.
   */
  computeMs?: number;
}

export interface RunOptions {
  /** Also return the last stage's final hidden states (tests, embeddings). */
  fetchHidden?: boolean;
}

export interface StageRuntimeInfo {
  range: LayerRange;
  /** The model's layer count, against which a chain checks that its stages cover every layer. */
  numLayers: number;
  isFirst: boolean;
  isLast: boolean;
  hiddenSize: number;
  vocabSize: number;
  maxSequences: number;
  /** Tokens (prompt + generated) one sequence can hold: the cached positions minus the prefix. */
  maxTokensPerSequence: number;
  /** P-tuning prefix positions cached ahead of every sequence's tokens (0 without a prefix). */
  prefixLength: number;
  /** KV cache pages the sequences can hold together, and positions per page (see KvCache). */
  kvPages: number;
  kvPageSize: number;
  /** True when the KV cache lives on the GPU (a webgpu stage whose graph writes it), false in host memory. */
  kvOnDevice: boolean;
}

export interface KvCapacity {
  maxSequences: number;
  /** As in StageRuntimeInfo: tokens per sequence, not counting the prefix. */
  maxTokensPerSequence: number;
  activeSequences: number;
  /** Positions the active sequences have cached (prompt and generated tokens, not the prefix). */
  cachedTokens: number;
  prefixLength: number;
  /** Bytes of the KV pages the active sequences hold (every layer of the stage). */
  kvBytesHeld: number;
  /**
   * Bytes of every KV page ever handed out, and of the shared prefix pages: memory the cache has
   * written, which the process keeps (a freed page is reused, not given back). A cache on the GPU
   * takes all of its pools when the stage starts: their whole size.
   */
  kvBytesCommitted: number;
  /** Positions the KV cache holds for all sequences together (its pages times their size). */
  kvTokensCapacity: number;
}

export interface StageRuntime {
  readonly info: StageRuntimeInfo;
  prefill(request: PrefillRequest, options?: RunOptions): Promise<StageOutput>;
  /** One decode step for several sequences of different lengths in one run. */
  decode(entries: DecodeRequest[], options?: RunOptions): Promise<StageOutput>;
  /** Frees a sequence's cache; unknown ids are ignored (release is idempotent). */
  release(seqId: string): Promise<void>;
  capacity(): Promise<KvCapacity>;
  /** Idempotent. */
  close(): Promise<void>;
}
