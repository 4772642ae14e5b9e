// One ONNX graph for a contiguous layer range [start, end) of ChatGLM-6B (docs/model.md §5), the unit a
// pipeline stage runs. The first range also embeds token ids; the last one also applies the final
// LayerNorm and the tied lm_head.
//
// On the CPU the KV cache never leaves JS memory (docs/architecture.md, "Model runtime"): each
// layer's cache comes in as an input (zero-copy views of the caller's typed arrays) and only the new
// rows come back as outputs. The cache is paged: each layer's keys and values are a pool of pages,
// [heads, pages, pageSize, headDim], fp32 or fp16 (StageGraphOptions.kvCache), and `page_table`
// lists each sequence's pages in position order. A Gather of the table's pages is the past, which an
// fp16 cache then widens, so attention computes in fp32. Attention runs heads-first ([heads, B,
// ...]), the order the Gather gives, so the past is copied once (by the Gather) and never
// transposed. A WebGPU stage's cache stays on the GPU instead, in position-major pools the graph
// writes itself and reads back whole, new rows included (StageGraphOptions.kvResidence,
// deviceAttention below).
//
// One run processes B sequences of Tq new tokens each: a prefill is B = 1, Tq = prompt length; a
// batched decode is B sequences with Tq = 1 (their pasts of different lengths are padded to the
// longest table and masked by `past_bias`, or `attention_bias` with a device cache).
import { float32ToFloat16 } from '@chatglm/common';
import type { GlmConfig } from '../config.ts';
import { RESIDUAL_ALPHA, headDim } from '../config.ts';
import { GraphBuilder, type ExternalSink, type ExternalTensor } from '../onnx/graph-builder.ts';
import { validateRange, type LayerRange } from './layer-ranges.ts';
import { stageTensors, type KvCacheDtype, type KvResidence, type MatrixTensor, type StageTensors } from './stage-tensors.ts';
import { EMBEDDING_NAME, FINAL_LN_BIAS, FINAL_LN_WEIGHT, layerTensorNames, type WeightSource } from './weights.ts';

/** Graph input and output names, shared by the builder and the runtime that feeds the graph. */
export const STAGE_IO = {
  /** int64 [B, Tq] token ids (first stage only). */
  inputIds: 'input_ids',
  /** float32 [B, Tq, hidden] activations from the previous stage (other stages). */
  hiddenIn: 'hidden_in',
  /** float32 [B, Tq, 1, headDim] rotary rows (see rotary.ts). */
  ropeCos: 'rope_cos',
  ropeSin: 'rope_sin',
  /**
   * int64 [B, pages]: each sequence's cache pages in position order (position p is at offset
   * p % pageSize of its page p / pageSize), padded with any page; the past is pages x pageSize
   * positions (with a device cache, the pages of this step's new positions are in it too).
   */
  pageTable: 'page_table',
  /** A host cache only: float32 [B, 1, pastLen], 0 where a past position is valid for that sequence, -inf elsewhere. */
  pastBias: 'past_bias',
  /** A host cache only: float32 [B, Tq, Tq], attention among the new tokens, 0 allowed / -inf blocked (prefix mask). */
  selfBias: 'self_bias',
  /**
   * A device cache only: float32 [B, 1, Tq, L], where L = pages x pageSize of the page table, which
   * covers the new tokens' positions too: for each new token, 0 on the positions it sees (the
   * sequence's past, and the new tokens the prefix mask allows), -inf elsewhere.
   */
  attentionBias: 'attention_bias',
  /** [heads, pages, pageSize, headDim] in the cache's dtype: the pool of cached keys (after rotary). */
  keyPages: (layer: number) => `key_pages_${layer}`,
  valuePages: (layer: number) => `value_pages_${layer}`,
  /** [heads, B, Tq, headDim] in the cache's dtype: this step's keys after rotary, heads first. */
  newKey: (layer: number) => `new_key_${layer}`,
  /** [heads, B, Tq, headDim] in the cache's dtype. */
  newValue: (layer: number) => `new_value_${layer}`,
  /**
   * A device-resident cache only (StageGraphOptions.kvResidence): int32 [B*Tq, 1], the position in
   * the pools (page x pageSize + offset) where each new token's keys and values go, in batch order
   * (b * Tq + t).
   */
  cacheRows: 'cache_rows',
  /** A device-resident cache only: the pool with this step's rows written, [pages x pageSize, heads x headDim]. */
  keyPagesOut: (layer: number) => `key_pages_out_${layer}`,
  valuePagesOut: (layer: number) => `value_pages_out_${layer}`,
  /** float32 [B, Tq, hidden]: activations for the next stage; on the last stage, after the final LayerNorm. */
  hiddenOut: 'hidden_out',
  /** float32 [B, vocab]: logits of each sequence's last new token (last stage only). */
  logits: 'logits',
} as const;

export interface StageGraphOptions {
  /**
   * How float initializers are stored: 'float32' (default), or 'float16' (half the bytes; a Cast in
   * the graph widens them, which ONNX Runtime folds at load, so compute stays fp32).
   */
  storage?: 'float32' | 'float16';
  /**
   * MatMulNBits accuracy_level: 4 (default) computes with int8-quantized activations, measured up to
   * 80x faster than 0 (fp32 activations) for 8-bit weights on these CPUs.
   */
  accuracyLevel?: number;
  /** How cached keys and values come in and go out (default 'float32'; see QuantizationOptions.kvCache). */
  kvCache?: KvCacheDtype;
  /** Where external initializers go (default: kept in memory for InferenceSession.create). */
  sink?: ExternalSink;
  /**
   * Where the KV cache lives: 'host' (default), pools of [heads, pages, pageSize, headDim] read
   * as inputs, new rows given back as outputs for the caller to store; or 'device', pools of
   * [pages x pageSize, heads x headDim] that the graph writes itself (a ScatterElements of the
   * step's rows at `cache_rows`, given back as `key_pages_out_*`, which the caller binds to the very
   * buffers it passed in, so the write happens in place on the GPU and nothing of the cache crosses
   * to the host).
   */
  kvResidence?: KvResidence;
  /**
   * A device cache only: decode steps attend with ONNX Runtime's MultiHeadAttention (default true;
   * false: with separate products, as prefills always do). See deviceAttention.
   */
  fusedDecodeAttention?: boolean;
}

export interface StageGraph {
  model: Uint8Array;
  external: ExternalTensor[];
  range: LayerRange;
  isFirst: boolean;
  isLast: boolean;
}

/**
 * Builds the graph of one layer range. Float weights are referenced, not copied (with the default
 * memory sink and fp32 storage); quantized ones are produced tensor by tensor.
 */
export function buildStageGraph(config: GlmConfig, range: LayerRange, source: WeightSource | StageTensors, options: StageGraphOptions = {}): StageGraph {
  validateRange(config, range);
  const tensors: StageTensors = 'matrix' in source ? source : stageTensors(source);
  const g = new GraphBuilder(options.sink);
  const H = config.hiddenSize;
  const NH = config.numHeads;
  const HD = headDim(config);
  const isFirst = range.start === 0;
  const isLast = range.end === config.numLayers;
  // Each float weight is stored once, as fp32 or fp16; `stored` names its initializer.
  const initializers = new Map<string, { init: string; half: boolean }>();
  const stored = (name: string, dims: number[], data?: Float32Array): { init: string; half: boolean } => {
    let s = initializers.get(name);
    if (s) return s;
    if (options.storage !== 'float16') s = { init: g.externalInit(name, 'float32', dims, data ?? tensors.float(name, dims)), half: false };
    else {
      // fp16 bits straight from an fp16 checkpoint when there are no computed values.
      const bits = (!data && tensors.half(name, dims)) || float32ToFloat16(data ?? tensors.float(name, dims));
      s = { init: g.externalInit(`${name}.f16`, 'float16', dims, bits), half: true };
    }
    initializers.set(name, s);
    return s;
  };
  // A float weight as fp32. An fp16 one is widened by a Cast that ONNX Runtime folds at load, as
  // long as the Cast has a single consumer (docs/performance.md: a Cast of the whole embedding
  // shared by the Gather and the lm_head was not folded and ran on every step).
  const weight = (name: string, dims: number[], data?: Float32Array): string => {
    const s = stored(name, dims, data);
    return s.half ? g.op('Cast', [s.init], { to: 1 /* FLOAT */ }) : s.init;
  };
  const accuracyLevel = options.accuracyLevel ?? 4;
  // x [rows, in] times a weight [out, in] transposed, plus the bias if named, all times `scale`:
  // Gemm for float (its alpha and beta scale), MatMulNBits for quantized blocks (its optional sixth
  // input is the bias: one kernel instead of a product and an Add, which on a GPU is one dispatch
  // fewer per linear; a scale is folded into the blocks' scales and the bias when the graph is built).
  const project = (x: string, name: string, m: MatrixTensor, out: number, inFeatures: number, biasName?: string, scale = 1): string => {
    if (m.kind === 'float') {
      const bias = biasName ? [weight(biasName, [out])] : [];
      return g.op('Gemm', [x, weight(name, [out, inFeatures], m.data), ...bias], { transB: 1, ...(scale !== 1 && { alpha: { float: scale }, beta: { float: scale } }) });
    }
    const w = m.weight;
    const blocks = Math.ceil(inFeatures / w.blockSize);
    const packed = g.externalInit(`${name}.q${w.bits}`, 'uint8', [out, blocks, (w.blockSize * w.bits) / 8], w.packed);
    const scales = g.externalInit(`${name}.scales`, 'float32', [out * blocks], scale === 1 ? w.scales : w.scales.map((v) => v * scale));
    const bias = biasName ? (scale === 1 ? weight(biasName, [out]) : weight(`${biasName}.scaled`, [out], tensors.float(biasName, [out]).map((v) => v * scale))) : undefined;
    // Inputs 3 and 4 (zero points, group index) are absent: symmetric blocks in order.
    return g.op('MatMulNBits', [x, packed, scales, ...(bias ? ['', '', bias] : [])], { K: inFeatures, N: out, bits: w.bits, block_size: w.blockSize, accuracy_level: accuracyLevel }, undefined, 'com.microsoft');
  };
  const linear = (x: string, weightName: string, biasName: string, out: number, inFeatures: number, scale = 1): string =>
    project(x, weightName, tensors.matrix(weightName, out, inFeatures, 'linear'), out, inFeatures, biasName, scale);

  const cos = g.input(STAGE_IO.ropeCos, 'float32', ['B', 'Tq', 1, HD]);
  const sin = g.input(STAGE_IO.ropeSin, 'float32', ['B', 'Tq', 1, HD]);
  const pageTable = g.input(STAGE_IO.pageTable, 'int64', ['B', 'N']);

  // [B, Tq] taken from the rotary input, which every stage has, to reshape flat rows back.
  const bt = g.op('Slice', [g.op('Shape', [cos]), g.int64s([0]), g.int64s([2])]);
  const shapeBTH = g.op('Concat', [bt, g.int64s([H])], { axis: 0 });

  let x: string; // flat [B*Tq, H] activations
  const V = config.vocabSize;
  const embedding = isFirst || isLast ? tensors.matrix(EMBEDDING_NAME, V, H, 'embedding') : undefined;
  if (isFirst && embedding) {
    const ids = g.input(STAGE_IO.inputIds, 'int64', ['B', 'Tq']);
    let rows: string;
    if (embedding.kind === 'float') {
      // Gather the stored rows, then widen only those: the table itself is never cast here.
      const table = stored(EMBEDDING_NAME, [V, H], embedding.data);
      const gathered = g.op('Gather', [table.init, ids], { axis: 0 });
      rows = table.half ? g.op('Cast', [gathered], { to: 1 /* FLOAT */ }) : gathered;
    } else {
      // The same blocks serve GatherBlockQuantized here and MatMulNBits as the lm_head.
      const w = embedding.weight;
      const blocks = Math.ceil(H / w.blockSize);
      const data = g.externalInit(`${EMBEDDING_NAME}.q${w.bits}`, 'uint8', [V, (blocks * w.blockSize * w.bits) / 8], w.packed);
      const scales = g.externalInit(`${EMBEDDING_NAME}.scales`, 'float32', [V, blocks], w.scales);
      rows = g.op('GatherBlockQuantized', [data, ids, scales], { gather_axis: 0, quantize_axis: 1, block_size: w.blockSize, bits: w.bits }, undefined, 'com.microsoft');
      if (blocks * w.blockSize !== H) rows = g.op('Slice', [rows, g.int64s([0]), g.int64s([H]), g.int64s([2])]);
    }
    x = g.op('Reshape', [rows, g.int64s([-1, H])]);
  } else {
    x = g.op('Reshape', [g.input(STAGE_IO.hiddenIn, 'float32', ['B', 'Tq', H]), g.int64s([-1, H])]);
  }

  const half = options.kvCache === 'float16';
  const kvType = half ? 'float16' : 'float32';
  const eps = { float: config.layernormEpsilon };
  // q comes scaled: P = softmax(q·Kᵀ / sqrt(HD) + mask); the reference's 1/(i+1) trick cancels (§5.4).
  const rotate = rotaryEmbedding(g, cos, sin, NH, HD, 1 / Math.sqrt(HD));
  const onDevice = options.kvResidence === 'device';
  // Attention over the cache and the step's new tokens: [B*Tq, NH, 1, HD] q, k and v (q and k
  // after rotary, q scaled by 1/sqrt(HD)) in, [B*Tq, H] out, heads merged back (head-major features).
  const attention = onDevice ? deviceAttention() : hostAttention();

  /**
   * A host cache: each layer's pools come in as inputs and the new rows go out for the caller to
   * store. Attention runs heads first ([NH, B, ...]), the order the Gather of the pages gives, and
   * splits its softmax into the past (masked by past_bias) and the new tokens (self_bias).
   */
  function hostAttention(): (l: number, q: string, k: string, v: string) => string {
    const pastBias = g.input(STAGE_IO.pastBias, 'float32', ['B', 1, 'L']);
    const selfBias = g.input(STAGE_IO.selfBias, 'float32', ['B', 'Tq', 'Tq']);
    // The past's length L (pages x pageSize), where the softmax's probabilities split into past and new.
    const pastLen = g.op('Slice', [g.op('Shape', [pastBias]), g.int64s([2]), g.int64s([3])]);
    const shapeHeadsFirst = g.op('Concat', [g.int64s([NH]), bt, g.int64s([HD])], { axis: 0 });
    return (l, q, k, v) => {
      // Heads first, [NH, B, Tq, HD]: moved as [B*Tq, NH, HD] -> [NH, B*Tq, HD], a Transpose ONNX
      // Runtime runs as fast copies of HD-element rows, where the same move in four axes
      // ([2, 0, 1, 3]) took 6% of a 1024-token prefill (measured).
      const headsFirst = (t: string, name?: string) =>
        g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [t, g.int64s([-1, NH, HD])])], { perm: [1, 0, 2] }), shapeHeadsFirst], {}, name);
      const qT = headsFirst(q);
      // The new rows go out in the cache's dtype (an fp32 output is the Transpose itself); the new
      // tokens attend to each other unrounded.
      const newRows = (t: string, name: string) => {
        if (!half) return headsFirst(t, name);
        const rows = headsFirst(t);
        g.op('Cast', [rows], { to: 10 /* FLOAT16 */ }, name);
        return rows;
      };
      const kNew = newRows(k, STAGE_IO.newKey(l)); // [NH, B, Tq, HD]
      const vNew = newRows(v, STAGE_IO.newValue(l)); // [NH, B, Tq, HD]
      g.output(STAGE_IO.newKey(l), kvType, [NH, 'B', 'Tq', HD]);
      g.output(STAGE_IO.newValue(l), kvType, [NH, 'B', 'Tq', HD]);
      // The Gather of each sequence's pages gives [NH, B, N, pageSize, HD], which is [NH, B, L, HD]
      // without moving anything. Keys are cached [L, HD] per head like values; q·Kᵀ transposes the
      // last two axes, which ONNX Runtime fuses into the product (FusedMatMul with transB on the
      // CPU) instead of copying. An fp16 cache is widened after the Gather, so only the sequences'
      // own pages are converted.
      const keyPages = g.input(STAGE_IO.keyPages(l), kvType, [NH, 'P', 'S', HD]);
      const valuePages = g.input(STAGE_IO.valuePages(l), kvType, [NH, 'P', 'S', HD]);
      const past = (pages: string) => {
        const rows = g.op('Reshape', [g.op('Gather', [pages, pageTable], { axis: 1 }), g.int64s([0, 0, -1, HD])]);
        return half ? g.op('Cast', [rows], { to: 1 /* FLOAT */ }) : rows;
      };
      const transposed = (t: string) => g.op('Transpose', [t], { perm: [0, 1, 3, 2] });
      const scoresPast = g.op('Add', [g.op('MatMul', [qT, transposed(past(keyPages))]), pastBias]); // [NH, B, Tq, L]
      const scoresSelf = g.op('Add', [g.op('MatMul', [qT, transposed(kNew)]), selfBias]); // [NH, B, Tq, Tq]
      const probs = g.op('Softmax', [g.op('Concat', [scoresPast, scoresSelf], { axis: -1 })], { axis: -1 });
      const probsPast = g.op('Slice', [probs, g.int64s([0]), pastLen, g.int64s([3])]);
      const probsSelf = g.op('Slice', [probs, pastLen, g.int64s([Number.MAX_SAFE_INTEGER]), g.int64s([3])]);
      const context = g.op('Add', [g.op('MatMul', [probsPast, past(valuePages)]), g.op('MatMul', [probsSelf, vNew])]); // [NH, B, Tq, HD]
      return g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [context, g.int64s([NH, -1, HD])])], { perm: [1, 0, 2] }), g.int64s([-1, H])]);
    };
  }

  /**
   * A device cache: position-major pools, [P x S, NH x HD], which the graph writes itself, one
   * new position a contiguous row, by a ScatterElements of the step's rows at `cache_rows` (a GPU
   * thread per element; ONNX Runtime's ScatterND gives each row to one thread, and took 12.7 of a
   * one-stream step's 47 GPU ms on the H200). The pools then read back, new rows included, are
   * each sequence's whole keys and values: a Gather of the page table (which covers the new
   * positions) seen as [P, S, H] gives [B, N, S, H] = [B, L, H], masked by one `attention_bias`
   * (the past, and the new tokens as the prefix mask allows). The new tokens see their own keys
   * and values as the cache holds them (rounded to fp16 with an fp16 cache).
   *
   * A decode step (one new token a sequence) attends with ONNX Runtime's MultiHeadAttention, which
   * takes that layout as it is: one kernel (a flash-attention decode of three programs) where the
   * products take eight (a GPU pays per kernel). A prefill attends with the products (one product,
   * one masked softmax, one product, heads first): the provider's MultiHeadAttention is wrong for
   * 32 queries or more in 1.30 (docs/performance.md, "GPUs"). An If on the step's query count
   * picks one; `fusedDecodeAttention: false` keeps the products for both.
   */
  function deviceAttention(): (l: number, q: string, k: string, v: string) => string {
    const attentionBias = g.input(STAGE_IO.attentionBias, 'float32', ['B', 1, 'Tq', 'L']);
    // A write target per element of a row (ScatterElements takes an index per element): the
    // step's positions widened once for every layer, on the GPU (int32, which the WebGPU provider
    // computes on; its int64 arithmetic would run on the CPU).
    const cacheTargets = g.op('Expand', [g.input(STAGE_IO.cacheRows, 'int32', ['R', 1]), g.int64s([1, H])]);
    // [-1, pageSize, H], to see a pool as pages: the page size from the shapes of the page table
    // [B, N] and the mask [B, 1, Tq, N x pageSize] (shape arithmetic, on the CPU).
    const dim = (t: string, axis: number) => g.op('Slice', [g.op('Shape', [t]), g.int64s([axis]), g.int64s([axis + 1])]);
    const pagesShape = g.op('Concat', [g.int64s([-1]), g.op('Div', [dim(attentionBias, 3), dim(pageTable, 1)]), g.int64s([H])], { axis: 0 });
    const shapeBTNH = g.op('Concat', [bt, g.int64s([NH, HD])], { axis: 0 });
    const fused = options.fusedDecodeAttention !== false;
    // Whether the step is a decode step: its query count is 1 (a boolean on the CPU, for the If).
    const isDecode = fused ? g.op('Squeeze', [g.op('Equal', [dim(attentionBias, 2), g.int64s([1])]), g.int64s([0])]) : '';
    // q [B*Tq, NH, 1, HD] (scaled) over keys and values [B, L, H]: [B*Tq, H], in builder `b`.
    const products = (b: GraphBuilder, q: string, keys: string, values: string, output?: string): string => {
      const heads = (t: string, perm: number[]) => b.op('Transpose', [b.op('Reshape', [t, b.int64s([0, -1, NH, HD])])], { perm });
      const query = b.op('Transpose', [b.op('Reshape', [q, shapeBTNH])], { perm: [0, 2, 1, 3] }); // [B, NH, Tq, HD]
      const probs = b.op('Softmax', [b.op('Add', [b.op('MatMul', [query, heads(keys, [0, 2, 3, 1])]), attentionBias])], { axis: -1 }); // [B, NH, Tq, L]
      const context = b.op('MatMul', [probs, heads(values, [0, 2, 1, 3])]); // [B, NH, Tq, HD]
      return b.op('Reshape', [b.op('Transpose', [context], { perm: [0, 2, 1, 3] }), b.int64s([-1, H])], {}, output);
    };
    return (l, q, k, v) => {
      const keyPages = g.input(STAGE_IO.keyPages(l), kvType, ['N', H]);
      const valuePages = g.input(STAGE_IO.valuePages(l), kvType, ['N', H]);
      const write = (pages: string, t: string, name: string) => {
        const rows = g.op('Reshape', [t, g.int64s([-1, H])]);
        g.op('ScatterElements', [pages, cacheTargets, half ? g.op('Cast', [rows], { to: 10 /* FLOAT16 */ }) : rows], { axis: 0 }, name);
        g.output(name, kvType, ['N', H]);
        return name;
      };
      // A pool's pages for each sequence, [B, L, H] in fp32.
      const all = (pages: string) => {
        const rows = g.op('Reshape', [g.op('Gather', [g.op('Reshape', [pages, pagesShape]), pageTable], { axis: 0 }), g.int64s([0, -1, H])]);
        return half ? g.op('Cast', [rows], { to: 1 /* FLOAT */ }) : rows;
      };
      const keys = all(write(keyPages, k, STAGE_IO.keyPagesOut(l)));
      const values = all(write(valuePages, v, STAGE_IO.valuePagesOut(l)));
      if (!fused) return products(g, q, keys, values);
      const decode = g.branch(`layer${l}_decode`);
      const fusedContext = decode.op('MultiHeadAttention', [decode.op('Reshape', [q, shapeBTH]), keys, values, '', '', attentionBias], { num_heads: NH, scale: { float: 1 } }, undefined, 'com.microsoft');
      decode.output(decode.op('Reshape', [fusedContext, decode.int64s([-1, H])], {}, decode.tmp('context')), 'float32', ['BTq', H]);
      const prefill = g.branch(`layer${l}_prefill`);
      prefill.output(products(prefill, q, keys, values, prefill.tmp('context')), 'float32', ['BTq', H]);
      return g.op('If', [isDecode], { then_branch: decode.branchGraph('decode'), else_branch: prefill.branchGraph('prefill') });
    };
  }

  // The residual stream x = alpha·m + mlp (docs/model.md §5.2 steps 9 and 12) is carried between a
  // stage's layers as `carried` = m + mlp/alpha: the LayerNorm that follows it is scale-free
  // (LN(alpha·y) with epsilon = LN(y) with epsilon/alpha²), so ONNX Runtime's
  // SkipLayerNormalization normalizes m + mlp/alpha in one kernel, where the scaling Mul, the
  // residual Add and the LayerNorm took three (twice a layer; a GPU pays per kernel). The output
  // projections produce attn/alpha and mlp/alpha (their weights' scale, folded in when the graph
  // is built). The stage's input and output are x itself.
  const skipEps = { float: config.layernormEpsilon / RESIDUAL_ALPHA ** 2 };
  const inverseAlpha = 1 / RESIDUAL_ALPHA;
  const skipNorm = (input: string, skip: string, weightName: string, biasName: string) =>
    g.op('SkipLayerNormalization', [input, skip, weight(weightName, [H]), weight(biasName, [H])], { epsilon: skipEps }, undefined, 'com.microsoft');
  let carried: { normed: string; update: string } | undefined;
  const norm = (weightName: string, biasName: string) =>
    carried ? skipNorm(carried.update, carried.normed, weightName, biasName) : g.op('LayerNormalization', [x, weight(weightName, [H]), weight(biasName, [H])], { axis: -1, epsilon: eps });

  for (let l = range.start; l < range.end; l++) {
    const n = layerTensorNames(l);
    // 1. input LayerNorm; its output (not x) feeds the residual (docs/model.md §5.2 step 9).
    const a = norm(n.ln1Weight, n.ln1Bias);
    // 2-3. fused QKV, laid out per head as [q | k | v] (interleaved, not all-Q-then-all-K).
    const qkv = linear(a, n.qkvWeight, n.qkvBias, 3 * H, H);
    // 4. 2-D rotary on q and k, as [B*Tq, NH, 1, HD] each with v.
    const [q, k, v] = rotate(qkv);
    // 5-8. attention, back as [B*Tq, H] (head-major features) for the output projection (/alpha).
    const attnScaled = linear(attention(l, q, k, v), n.denseWeight, n.denseBias, H, H, inverseAlpha);
    // 9-10. DeepNorm-style residual on the normed input, then the post-attention LayerNorm.
    const m = skipNorm(attnScaled, a, n.ln2Weight, n.ln2Bias);
    // 11-12. tanh-GELU MLP (/alpha), its residual on the normed input carried to the next norm.
    const u = linear(m, n.h4hWeight, n.h4hBias, config.innerHiddenSize, H);
    const mlpScaled = linear(g.op('Gelu', [u], { approximate: 'tanh' }), n.fourhhWeight, n.fourhhBias, H, config.innerHiddenSize, inverseAlpha);
    carried = { normed: m, update: mlpScaled };
  }

  if (isLast) {
    const final = norm(FINAL_LN_WEIGHT, FINAL_LN_BIAS);
    const hidden3 = g.op('Reshape', [final, shapeBTH], {}, STAGE_IO.hiddenOut);
    // Only each sequence's last row is needed for the next token (docs/model.md §11).
    const last = g.op('Reshape', [g.op('Slice', [hidden3, g.int64s([-1]), g.int64s([Number.MAX_SAFE_INTEGER]), g.int64s([1])]), g.int64s([-1, H])]);
    // The lm_head is tied to the embedding (docs/model.md §2.3): logits = h·Eᵀ.
    const head = embedding as MatrixTensor;
    if (head.kind === 'float') g.op('Gemm', [last, weight(EMBEDDING_NAME, [V, H], head.data)], { transB: 1 }, STAGE_IO.logits);
    // A quantized head gets MatMulNBits' own initializers: it prepacks them at load, and a stage
    // holding both ends (one-stage pipelines) keeps a second copy of the small quantized table.
    else g.op('Identity', [project(last, `${EMBEDDING_NAME}.head`, head, V, H)], {}, STAGE_IO.logits);
    g.output(STAGE_IO.logits, 'float32', ['B', config.vocabSize]);
  } else {
    const out = carried ? g.op('Mul', [g.op('Add', [carried.normed, carried.update]), g.scalar(RESIDUAL_ALPHA)]) : x;
    g.op('Reshape', [out, shapeBTH], {}, STAGE_IO.hiddenOut);
  }
  g.output(STAGE_IO.hiddenOut, 'float32', ['B', 'Tq', H]);

  const { model, external } = g.build(`chatglm_layers_${range.start}_${range.end}`);
  return { model, external, range, isFirst, isLast };
}

/**
 * q, k and v of each head, [B*Tq, NH, 1, HD] each, from the fused QKV rows [B*Tq, 3H] (per head
 * [q | k | v]), q and k after the 2-D rotary (docs/model.md §5.3) and q times `qScale`, as ONNX
 * Runtime's RotaryEmbedding and one Split: where the same as elementwise operators (x·cos +
 * rotateHalves(x)·sin) took a Split, two Negs, a Concat, two Muls and an Add, q's scaling a Mul, and
 * q, k and v a Split of their own; a GPU pays per kernel. Each half of a head is a rotate-half
 * rotation of its own (by the position id, then by the block position), so the rows are seen as
 * [B*Tq, NH, 6, HD/2]: a "batch" row per token, a "head" per head, a "sequence" of six halves (q's
 * two, k's two, v's two), whose "position ids" pick each one's row of a cos/sin table made of the
 * step's own rows, taken once per graph from the rotary inputs (which hold each angle twice): after
 * a few rows of cos 1 and sin 0, which v's halves take and pass unrotated, row LEAD + 2r is token
 * r's first half and LEAD + 2r + 1 its second, for k; then the same rows times qScale, for q
 * (scaling cos and sin scales the rotated q).
 */
function rotaryEmbedding(g: GraphBuilder, cos: string, sin: string, heads: number, headDim: number, qScale: number): (qkv: string) => [string, string, string] {
  const quarter = headDim / 4;
  // The unrotated rows come LEAD times: the CPU's kernel wants a table of at least as many rows as
  // the "sequence" (six), and a one-token step brings four.
  const LEAD = 4;
  const lead = (value: number) => g.op('Expand', [g.scalar(value), g.int64s([LEAD, quarter])]);
  const stepRows = (t: string) => g.op('Slice', [g.op('Reshape', [t, g.int64s([-1, 2 * quarter])]), g.int64s([0]), g.int64s([quarter]), g.int64s([1])]); // [B*Tq*2, HD/4]
  const table = (t: string, unrotated: number) => {
    const rows = stepRows(t);
    return g.op('Concat', [lead(unrotated), rows, g.op('Mul', [rows, g.scalar(qScale)])], { axis: 0 }); // [LEAD + 2 x B*Tq*2, HD/4]
  };
  const cosTable = table(cos, 1);
  const sinTable = table(sin, 0);
  // [[q: LEAD+2R, LEAD+2R+1, k: LEAD, LEAD+1, v: 0, 0], ...], [B*Tq, 6], for R = B*Tq tokens (shape arithmetic, on the CPU).
  const scalar = (t: string) => g.op('Squeeze', [t, g.int64s([0])]);
  const halvesCount = scalar(g.op('Slice', [g.op('Shape', [stepRows(cos)]), g.int64s([0]), g.int64s([1])]));
  const kHalves = g.op('Reshape', [g.op('Range', [scalar(g.int64s([LEAD])), g.op('Add', [halvesCount, scalar(g.int64s([LEAD]))]), scalar(g.int64s([1]))]), g.int64s([-1, 2])]);
  const qHalves = g.op('Add', [kHalves, halvesCount]);
  const positionIds = g.op('Concat', [qHalves, kHalves, g.op('Expand', [g.int64s([0]), g.op('Shape', [kHalves])])], { axis: 1 });
  return (qkv) => {
    const rotated = g.op('RotaryEmbedding', [g.op('Reshape', [qkv, g.int64s([-1, heads, 6, 2 * quarter])]), positionIds, cosTable, sinTable], { interleaved: 0 }, undefined, 'com.microsoft');
    return g.node('Split', [g.op('Reshape', [rotated, g.int64s([-1, heads, 3, headDim])])], 3, { axis: 2, num_outputs: 3 }) as [string, string, string];
  };
}
