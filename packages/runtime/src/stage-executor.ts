// Runs one stage's graph with ONNX Runtime and keeps its KV cache. It lives in whichever thread
// owns the session (a worker thread in the CPU runtime), and turns prefill/decode requests into
// graph feeds: rotary rows, attention biases and zero-copy views of the cache.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { ChatGlmError } from '@chatglm/common';
import {
  MemoryWeightSource,
  STAGE_IO,
  buildStageGraph,
  readBundleManifest,
  formatLayers,
  sameLayers,
  validateRange,
  stageTensors,
  headDim,
  isBlockedInPrefill,
  rotaryTables,
  checkpointTensors,
  readModelDirectory,
  type HostTensor,
  type KvCacheDtype,
  type KvResidence,
  type QuantizationOptions,
  type StageTensors,
} from '@chatglm/glm';
import { KvCache, type KvElements } from './kv-cache.ts';
import { DeviceKvPools } from './webgpu/device-kv-pools.ts';
import { onWebGpu } from './webgpu/webgpu-session-options.ts';
import { explainMissingAdapter, explainMissingF16, isMissingAdapterError, isMissingF16Error } from './webgpu/webgpu-environment.ts';
import { loadStagePrefix } from './stage-prefix.ts';
import { DEFAULT_MAX_SEQUENCES, type DecodeRequest, type KvCapacity, type PrefillRequest, type RunOptions, type StageRuntimeInfo, type StageOutput, type StageRuntime, type StageSpec, type WeightsLocation } from './stage-runtime.ts';

const BLOCKED = -Infinity;

/** The stage's tensors from a checkpoint folder or from memory, quantized as asked. */
export function openStageTensors(location: Exclude<WeightsLocation, { kind: 'bundle' }>, quantization: QuantizationOptions = {}): StageTensors {
  if (location.kind === 'checkpoint') return checkpointTensors(readModelDirectory(location.dir), quantization);
  if (location.kind === 'tensors') return location.tensors;
  return stageTensors(new MemoryWeightSource(new Map<string, HostTensor>(Object.entries(location.tensors))), quantization);
}

export class StageExecutor implements StageRuntime {
  private readonly layers: number[];
  private readonly heads: number;
  private readonly headDim: number;

  private constructor(
    readonly info: StageRuntimeInfo,
    private readonly session: ort.InferenceSession,
    private readonly cache: KvCache,
    private readonly profileFilePrefix: string | undefined,
    /** The KV pools when they are on the GPU (a webgpu stage); else the cache holds them. */
    private readonly pools: DeviceKvPools | undefined,
  ) {
    this.layers = cache.shape.layers;
    this.heads = cache.shape.heads;
    this.headDim = cache.shape.headDim;
  }

  /**
   * One session for `spec.range`. A bundle converted in prefill chunks has a graph per chunk:
   * openStage() opens it as a ChunkedStage, which creates one executor per chunk, passing
   * `chunkGraph` (the chunk's file; its range is spec.range).
   */
  static async create(spec: StageSpec, chunkGraph?: string): Promise<StageExecutor> {
    const { config, range } = spec;
    const maxSequences = spec.maxSequences ?? DEFAULT_MAX_SEQUENCES;
    const threads = spec.threads ?? os.availableParallelism();
    // The P-tuning prefix first: its length sets the default capacity, and a bad prefix fails fast.
    const prefix = await loadStagePrefix(spec.prefix, config, range, threads);
    const prefixLength = prefix?.length ?? 0;
    const maxTokensPerSequence = spec.maxTokensPerSequence ?? config.maxSequenceLength + prefixLength;
    if (!(maxSequences >= 1) || !(maxTokensPerSequence >= 1)) throw new ChatGlmError('invalid_stage_spec', 'maxSequences and maxTokensPerSequence must be >= 1');
    if (maxTokensPerSequence <= prefixLength) {
      throw new ChatGlmError('invalid_stage_spec', `maxTokensPerSequence ${maxTokensPerSequence} counts the ${prefixLength}-position P-tuning prefix and leaves no room for tokens; raise it above ${prefixLength}`);
    }
    const common: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
      // No memory pattern: ONNX Runtime plans one per input shape and, from a shape's second run
      // on, takes it as one fresh block; a chunked stage's first two 1500-token prefills ran 30-40%
      // slower for it, and decode steps were no faster with it (docs/performance.md, "Chunked prefill").
      enableMemPattern: false,
      enableCpuMemArena: spec.memoryArena !== false,
      logSeverityLevel: 3,
      // Threads spin while a run lasts: waking them for each of a step's parallel sections took ~5%
      // of a one-stream decode step (docs/performance.md, "Thread pools"). `spinning: false` stops
      // them when a run returns, so an idle stage leaves the cores to its neighbours.
      extra: { session: { intra_op: { allow_spinning: '1' }, ...(spec.spinning === false && { force_spinning_stop: '1' }) } },
      ...(spec.profileFilePrefix !== undefined && { enableProfiling: true, profileFilePrefix: spec.profileFilePrefix }),
    };
    const options = spec.device === 'webgpu' ? onWebGpu(common) : common;
    // The cache's dtype is the graph's: a bundle's was fixed when it was converted. The session is
    // opened last, once the cache's shape is known to be sound: loading the weights takes seconds.
    let kvCache: KvCacheDtype;
    // A webgpu stage keeps its cache on the GPU when its graph was built for that (by default when
    // built here; a bundle's graph was fixed when it was converted, for the device it named).
    let kvResidence: KvResidence = 'host';
    let openSession: () => Promise<ort.InferenceSession>;
    if (spec.weights.kind === 'bundle') {
      // A converted stage: ONNX Runtime reads the graph and its weight files from disk.
      const manifest = readBundleManifest(spec.weights.dir);
      if (chunkGraph === undefined && manifest.graphs.length > 1) {
        throw new ChatGlmError('invalid_stage_spec', `bundle ${spec.weights.dir} holds ${manifest.graphs.length} prefill chunks; open it with openStage()`);
      }
      const graph = manifest.graphs.find((g) => g.file === (chunkGraph ?? manifest.graphs[0]?.file));
      if (!graph || !sameLayers(graph.layers, range)) {
        throw new ChatGlmError('invalid_stage_spec', `bundle ${spec.weights.dir} holds ${formatLayers(graph?.layers ?? manifest.layers)}${chunkGraph ? ` in ${chunkGraph}` : ''}, not ${formatLayers(range)}`);
      }
      const asked = spec.quantization?.kvCache;
      kvCache = manifest.quantization.kvCache;
      kvResidence = manifest.quantization.kvResidence ?? 'host';
      if (asked !== undefined && asked !== kvCache) {
        throw new ChatGlmError('invalid_stage_spec', `bundle ${spec.weights.dir} was converted with a ${kvCache} KV cache, not ${asked}; convert the model again to change it`);
      }
      const file = path.join(spec.weights.dir, graph.file);
      openSession = () => createSession(file, options);
    } else {
      validateRange(config, range);
      kvCache = spec.quantization?.kvCache ?? 'float32';
      kvResidence = spec.quantization?.kvResidence ?? (spec.device === 'webgpu' ? 'device' : 'host');
      const [dtype, residence, weights] = [kvCache, kvResidence, spec.weights];
      openSession = () => {
        const graph = buildStageGraph(config, range, openStageTensors(weights, spec.quantization), {
          kvCache: dtype,
          kvResidence: residence,
          ...(spec.accuracyLevel !== undefined && { accuracyLevel: spec.accuracyLevel }),
          ...(spec.fusedDecodeAttention !== undefined && { fusedDecodeAttention: spec.fusedDecodeAttention }),
        });
        return createSession(graph.model, { ...options, externalData: graph.external.map((e) => ({ path: e.path, data: e.data })) });
      };
    }
    if (kvResidence === 'device' && spec.device !== 'webgpu') {
      const what = spec.weights.kind === 'bundle' ? `bundle ${spec.weights.dir} was converted for webgpu stages (its KV cache on the GPU)` : 'a KV cache on the device needs --device webgpu';
      throw new ChatGlmError('invalid_stage_spec', `${what}; a CPU stage keeps its cache in host memory${spec.weights.kind === 'bundle' ? ': convert the model again without --device webgpu' : ''}`);
    }
    const layers = [];
    for (let l = range.start; l < range.end; l++) layers.push(l);
    const cache = new KvCache({ layers, heads: config.numHeads, headDim: headDim(config), slots: maxSequences, capacity: maxTokensPerSequence, dtype: kvCache, storage: kvResidence, ...(spec.kvCacheTokens !== undefined && { totalPositions: spec.kvCacheTokens }) }, prefix);
    const session = await openSession();
    let pools: DeviceKvPools | undefined;
    if (kvResidence === 'device') {
      try {
        pools = await DeviceKvPools.create({ layers, pages: cache.pages, pageSize: cache.pageSize, heads: cache.shape.heads, headDim: cache.shape.headDim, dtype: kvCache });
        // The prefix's whole pages, shared by every sequence, are written once.
        const shared = cache.prefixPages.length * cache.pageSize;
        if (prefix && shared > 0) {
          const rows = cache.poolRows(cache.prefixPages, 0, shared);
          for (const [i, l] of layers.entries()) await pools.writePositions(l, rows, prefix.layers[i]!.keys, prefix.layers[i]!.values, 0);
        }
        // The rest goes into each sequence's first page (writePrefixTail), from rows kept on the device.
        if (prefix && prefix.length > shared) await pools.holdTail(prefix.layers, shared, prefix.length - shared);
      } catch (err) {
        await pools?.release();
        await session.release();
        const message = err instanceof Error ? err.message : String(err);
        if (isMissingF16Error(message)) throw new ChatGlmError('device_unavailable', explainMissingF16(message), { cause: err });
        throw err;
      }
    }
    const info: StageRuntimeInfo = {
      range: { ...range },
      numLayers: config.numLayers,
      isFirst: range.start === 0,
      isLast: range.end === config.numLayers,
      hiddenSize: config.hiddenSize,
      vocabSize: config.vocabSize,
      maxSequences,
      maxTokensPerSequence: maxTokensPerSequence - prefixLength,
      prefixLength,
      kvPages: cache.sequencePages,
      kvPageSize: cache.pageSize,
      kvOnDevice: kvResidence === 'device',
    };
    return new StageExecutor(info, session, cache, spec.profileFilePrefix, pools);
  }

  // Async only to meet StageRuntime, so that an in-thread stage chains like a threaded one.
  async capacity(): Promise<KvCapacity> {
    const { maxSequences, maxTokensPerSequence, prefixLength, kvPages, kvPageSize } = this.info;
    const { activeSequences, cachedTokens, bytesHeld: kvBytesHeld } = this.cache;
    // A device cache's pools are whole GPU buffers from the start.
    const kvBytesCommitted = this.pools?.bytes ?? this.cache.bytesCommitted;
    return { maxSequences, maxTokensPerSequence, activeSequences, cachedTokens, prefixLength, kvBytesHeld, kvBytesCommitted, kvTokensCapacity: kvPages * kvPageSize };
  }

  async release(seqId: string): Promise<void> {
    this.cache.release(seqId);
  }

  /**
   * A copy of one sequence's cached keys [heads, length, headDim] (after rotary) and values, for
   * tests and debugging; the first info.prefixLength positions are the P-tuning prefix.
   */
  async readCache(seqId: string, layer: number): Promise<{ keys: Float32Array; values: Float32Array; length: number }> {
    if (!this.pools) return this.cache.read(seqId, layer);
    const slot = this.cache.slot(seqId);
    const length = this.cache.length(slot);
    return { ...(await this.pools.read(layer, this.cache.poolRows(this.cache.pagesOf(slot), 0, length))), length };
  }

  async close(): Promise<void> {
    await this.session.release();
    await this.pools?.release();
  }

  /** Ends ONNX Runtime's profile (see StageSpec.profileFilePrefix) and returns its file. */
  endProfiling(): string {
    const prefix = this.profileFilePrefix;
    if (prefix === undefined) throw new ChatGlmError('invalid_stage_spec', 'this stage was not created with profileFilePrefix');
    this.session.endProfiling();
    // onnxruntime-node writes `<prefix>_<time>.json` but does not return the name: take the newest.
    const dir = path.dirname(prefix);
    const base = path.basename(prefix);
    const files = fs.readdirSync(dir).filter((f) => f.startsWith(`${base}_`) && f.endsWith('.json')).map((f) => path.join(dir, f));
    const newest = files.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
    if (!newest) throw new ChatGlmError('stage_internal', `ONNX Runtime wrote no profile starting with ${prefix}`);
    return newest;
  }

  async prefill(req: PrefillRequest, options: RunOptions = {}): Promise<StageOutput> {
    const n = req.positions.length;
    if (n === 0) throw new ChatGlmError('invalid_request', 'prefill needs at least one token');
    if (req.blockPositions.length !== n) throw new ChatGlmError('invalid_request', `prefill: ${n} positions but ${req.blockPositions.length} block positions`);
    const slot = this.cache.allocate(req.seqId);
    try {
      await this.writePrefixTail(slot);
      this.cache.reserve(slot, n);
      // The past is the P-tuning prefix, always visible (docs/model.md §10), or nothing.
      const selfBias = new Float32Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (isBlockedInPrefill(i, j, req.contextLength)) selfBias[i * n + j] = BLOCKED;

      const feeds = this.commonFeeds(1, n, req.positions, req.blockPositions, this.visibility([slot], n, selfBias));
      this.addInput(feeds, 1, n, req.tokens, req.hidden);
      if (this.pools) feeds[STAGE_IO.cacheRows] = this.writeTargets([slot], n);
      const out = await this.run(feeds, options);
      if (!this.pools) for (const l of this.layers) this.cache.append(l, slot, cacheRows(out, STAGE_IO.newKey(l)), cacheRows(out, STAGE_IO.newValue(l)), { row: 0, rows: 1, tokens: n });
      this.cache.advance(slot, n);
      return this.result(out, options);
    } catch (err) {
      this.cache.release(req.seqId);
      throw err;
    }
  }

  async decode(entries: DecodeRequest[], options: RunOptions = {}): Promise<StageOutput> {
    if (entries.length === 0) throw new ChatGlmError('invalid_request', 'decode needs at least one sequence');
    const slots = entries.map((e) => this.cache.slot(e.seqId));
    if (new Set(slots).size !== slots.length) throw new ChatGlmError('invalid_request', 'decode: a sequence appears twice in one batch');
    // Each row of the batch is one of the entries, in their order: the page tables say where
    // each one's past is, so the batch needs no slots in common and carries no dummy rows.
    const rows = entries.length;
    for (const s of slots) this.cache.reserve(s, 1);

    const positions = new Int32Array(rows);
    const blockPositions = new Int32Array(rows);
    const tokens = new Array<number>(rows).fill(0);
    const hidden = this.info.isFirst ? undefined : new Float32Array(rows * this.info.hiddenSize);
    entries.forEach((e, r) => {
      positions[r] = e.position;
      blockPositions[r] = e.blockPosition;
      if (this.info.isFirst) {
        if (e.token === undefined) throw new ChatGlmError('invalid_request', `decode: the first stage needs a token for ${e.seqId}`);
        tokens[r] = e.token;
      } else {
        if (!e.hidden || e.hidden.length !== this.info.hiddenSize) throw new ChatGlmError('invalid_request', `decode: ${e.seqId} needs hidden of ${this.info.hiddenSize} floats`);
        hidden?.set(e.hidden, r * this.info.hiddenSize);
      }
    });

    const feeds = this.commonFeeds(rows, 1, positions, blockPositions, this.visibility(slots, 1, new Float32Array(1)));
    this.addInput(feeds, rows, 1, this.info.isFirst ? tokens : undefined, hidden);
    if (this.pools) feeds[STAGE_IO.cacheRows] = this.writeTargets(slots, 1);
    const out = await this.run(feeds, options);
    for (const l of this.pools ? [] : this.layers) {
      const keys = cacheRows(out, STAGE_IO.newKey(l));
      const values = cacheRows(out, STAGE_IO.newValue(l));
      slots.forEach((s, r) => this.cache.append(l, s, keys, values, { row: r, rows, tokens: 1 }));
    }
    for (const s of slots) this.cache.advance(s, 1);
    return this.result(out, options);
  }

  /**
   * What each of the step's new tokens (`tokens` per sequence, their positions reserved) sees, as
   * the graph takes it: the page tables of `slots`, and masks of 0 (seen) or -inf over each one's
   * cached positions and, as `selfBias` [tokens, tokens] says, the new tokens. A host cache's
   * graph takes the past's pages and the two masks apart (`past_bias`, `self_bias`); a device
   * cache's graph has written the new rows into their pages first, so its table covers them and
   * one mask (`attention_bias`) spans the whole.
   */
  private visibility(slots: readonly number[], tokens: number, selfBias: Float32Array): Record<string, ort.Tensor> {
    const batch = slots.length;
    const { table, pages } = this.cache.pageTable(slots, this.pools ? tokens : 0);
    const length = pages * this.cache.pageSize;
    const feeds: Record<string, ort.Tensor> = { [STAGE_IO.pageTable]: new ort.Tensor('int64', table, [batch, pages]) };
    if (this.pools) {
      const bias = new Float32Array(batch * tokens * length).fill(BLOCKED);
      slots.forEach((s, r) => {
        const past = this.cache.length(s);
        for (let t = 0; t < tokens; t++) {
          const row = (r * tokens + t) * length;
          bias.fill(0, row, row + past);
          bias.set(selfBias.subarray(t * tokens, (t + 1) * tokens), row + past);
        }
      });
      feeds[STAGE_IO.attentionBias] = new ort.Tensor('float32', bias, [batch, 1, tokens, length]);
      return feeds;
    }
    const pastBias = new Float32Array(batch * length).fill(BLOCKED);
    slots.forEach((s, r) => pastBias.fill(0, r * length, r * length + this.cache.length(s)));
    const selfBiases = new Float32Array(batch * tokens * tokens);
    for (let r = 0; r < batch; r++) selfBiases.set(selfBias, r * tokens * tokens);
    feeds[STAGE_IO.pastBias] = new ort.Tensor('float32', pastBias, [batch, 1, length]);
    feeds[STAGE_IO.selfBias] = new ort.Tensor('float32', selfBiases, [batch, tokens, tokens]);
    return feeds;
  }

  /** Where a device cache's graph writes the step's `tokens` new rows of each of `slots` (STAGE_IO.cacheRows), in batch order. */
  private writeTargets(slots: readonly number[], tokens: number): ort.Tensor {
    const targets = new Int32Array(slots.length * tokens);
    slots.forEach((s, r) => this.cache.rowTargets(s, tokens, targets, r * tokens));
    return new ort.Tensor('int32', targets, [targets.length, 1]);
  }

  /** A device cache's share of the P-tuning prefix past its whole pages, written into a new sequence's first page. */
  private async writePrefixTail(slot: number): Promise<void> {
    const page = this.cache.prefixTailPage(slot);
    const prefix = this.cache.prefix;
    if (!this.pools || page === undefined || !prefix) return;
    const shared = this.cache.prefixPages.length * this.cache.pageSize;
    await this.pools.writeTail(this.cache.poolRows([page], 0, prefix.length - shared));
  }

  private async run(feeds: Record<string, ort.Tensor>, options: RunOptions): Promise<ort.InferenceSession.ReturnType> {
    try {
      return await this.session.run(feeds, this.fetches(options));
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (isMissingF16Error(message)) throw new ChatGlmError('device_unavailable', explainMissingF16(message), { cause: err });
      throw err;
    }
  }

  /** The feeds every run takes: rotary rows, what each new token sees (visibility()) and the cache. */
  private commonFeeds(batch: number, tokens: number, positions: ArrayLike<number>, blockPositions: ArrayLike<number>, visibility: Record<string, ort.Tensor>): Record<string, ort.Tensor> {
    const HD = this.headDim;
    const { cos, sin } = rotaryTables(positions, blockPositions, HD);
    const feeds: Record<string, ort.Tensor> = {
      [STAGE_IO.ropeCos]: new ort.Tensor('float32', cos, [batch, tokens, 1, HD]),
      [STAGE_IO.ropeSin]: new ort.Tensor('float32', sin, [batch, tokens, 1, HD]),
      ...visibility,
    };
    const { dtype, pages, pageSize } = this.cache;
    if (this.pools) {
      for (const l of this.layers) {
        feeds[STAGE_IO.keyPages(l)] = this.pools.keys.get(l) as ort.Tensor;
        feeds[STAGE_IO.valuePages(l)] = this.pools.values.get(l) as ort.Tensor;
      }
      return feeds;
    }
    for (const l of this.layers) {
      feeds[STAGE_IO.keyPages(l)] = new ort.Tensor(dtype, this.cache.keys.get(l) as KvElements, [this.heads, pages, pageSize, HD]);
      feeds[STAGE_IO.valuePages(l)] = new ort.Tensor(dtype, this.cache.values.get(l) as KvElements, [this.heads, pages, pageSize, HD]);
    }
    return feeds;
  }

  private addInput(feeds: Record<string, ort.Tensor>, batch: number, tokens: number, ids: ArrayLike<number> | undefined, hidden: Float32Array | undefined): void {
    if (this.info.isFirst) {
      if (!ids || ids.length !== batch * tokens) throw new ChatGlmError('invalid_request', `the first stage needs ${batch * tokens} token ids`);
      const ids64 = new BigInt64Array(ids.length);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i] as number;
        if (!Number.isInteger(id) || id < 0 || id >= this.info.vocabSize) throw new ChatGlmError('invalid_request', `token id ${id} is outside the vocabulary [0, ${this.info.vocabSize})`);
        ids64[i] = BigInt(id);
      }
      feeds[STAGE_IO.inputIds] = new ort.Tensor('int64', ids64, [batch, tokens]);
    } else {
      const expected = batch * tokens * this.info.hiddenSize;
      if (!hidden || hidden.length !== expected) throw new ChatGlmError('invalid_request', `this stage needs hidden activations of ${expected} floats, got ${hidden?.length ?? 0}`);
      feeds[STAGE_IO.hiddenIn] = new ort.Tensor('float32', hidden, [batch, tokens, this.info.hiddenSize]);
    }
  }

  /**
   * The outputs to compute. A device cache's written pools are bound to the very buffers passed in
   * (pre-allocated outputs), so the graph's ScatterND writes in place; the rest come to the host.
   */
  private fetches(options: RunOptions): Record<string, ort.Tensor | null> {
    const fetches: Record<string, ort.Tensor | null> = {};
    for (const l of this.layers) {
      if (this.pools) {
        fetches[STAGE_IO.keyPagesOut(l)] = this.pools.keys.get(l) as ort.Tensor;
        fetches[STAGE_IO.valuePagesOut(l)] = this.pools.values.get(l) as ort.Tensor;
      } else {
        fetches[STAGE_IO.newKey(l)] = null;
        fetches[STAGE_IO.newValue(l)] = null;
      }
    }
    if (this.info.isLast) fetches[STAGE_IO.logits] = null;
    if (!this.info.isLast || options.fetchHidden) fetches[STAGE_IO.hiddenOut] = null;
    return fetches;
  }

  /** The outputs the caller asked for, a row per sequence in the caller's order. */
  private result(out: ort.InferenceSession.ReturnType, options: RunOptions): StageOutput {
    const result: StageOutput = {};
    if (!this.info.isLast || options.fetchHidden) result.hidden = data(out, STAGE_IO.hiddenOut);
    if (this.info.isLast) result.logits = data(out, STAGE_IO.logits);
    return result;
  }
}

/**
 * A session, with ONNX Runtime's "No supported adapters" turned into a diagnosis of what the
 * machine lacks (the provider never falls back to the CPU by itself: it fails).
 */
async function createSession(model: string | Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  try {
    return typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (isMissingAdapterError(message)) throw new ChatGlmError('device_unavailable', explainMissingAdapter(message), { cause: err });
    throw err;
  }
}

function data(out: ort.InferenceSession.ReturnType, name: string): Float32Array {
  const t = out[name];
  if (!t) throw new Error(`stage graph produced no output "${name}"`);
  return t.data as Float32Array;
}

/** A layer's new keys or values, in the cache's dtype (fp16 comes as its bits in a Uint16Array). */
function cacheRows(out: ort.InferenceSession.ReturnType, name: string): KvElements {
  const t = out[name];
  if (!t) throw new Error(`stage graph produced no output "${name}"`);
  return t.data as KvElements;
}
