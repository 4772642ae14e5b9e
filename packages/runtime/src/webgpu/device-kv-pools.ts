// A stage's KV cache on the GPU (docs/architecture.md, "Model runtime"): per layer a pool of keys and
// one of values, [pages x pageSize, heads x headDim] (a row per position), held as WebGPU buffers
// from the stage's start to its end. The stage graph reads them as inputs and writes each step's
// rows into them itself (STAGE_IO.keyPagesOut), bound as pre-allocated outputs to the same
// buffers, so the write happens in place and nothing of the cache crosses to the host. KvCache
// keeps the pages' bookkeeping.
//
// onnxruntime-node honours a pre-allocated output only on a session made without
// `preferredOutputLocation` (its IO-binding path ignores them, and then the write would land in a
// fresh buffer), so the stage session and the writer here are made without one: their other
// outputs come back to the host, as they should.
import ort from 'onnxruntime-node';
import { float32ToFloat16 } from '@chatglm/common';
import { GraphBuilder, type KvCacheDtype } from '@chatglm/glm';
import type { KvElements } from '../kv-cache.ts';
import { onWebGpu } from './webgpu-session-options.ts';

export interface DevicePoolShape {
  layers: number[];
  pages: number;
  pageSize: number;
  heads: number;
  headDim: number;
  dtype: KvCacheDtype;
}

/**
 * The P-tuning prefix's positions past its whole pages, which every sequence's first page holds:
 * their rows kept on the device, and one session that writes them into every layer's pools.
 */
interface PrefixTail {
  /** Per layer, keys then values: gpu-buffer tensors of [positions, heads x headDim]. */
  rows: ort.Tensor[];
  /** Made `rows` and owns their buffers (releasing it frees them): released last. */
  upload: ort.InferenceSession;
  writer: ort.InferenceSession;
}

export class DeviceKvPools {
  private tail: PrefixTail | undefined;

  private constructor(
    readonly shape: DevicePoolShape,
    /** Each layer's pools, gpu-buffer tensors of [pages x pageSize, heads x headDim]. */
    readonly keys: Map<number, ort.Tensor>,
    readonly values: Map<number, ort.Tensor>,
    /** Made the pools, and owns their buffers: released last. */
    private readonly fill: ort.InferenceSession,
    private readonly writer: ort.InferenceSession,
    private readonly reader: ort.InferenceSession,
  ) {}

  /** Zeroed pools for every layer, made on the device (no host memory of their size is ever taken). */
  static async create(shape: DevicePoolShape): Promise<DeviceKvPools> {
    const { pages, pageSize, heads, headDim, dtype } = shape;
    const EP = onWebGpu({ logSeverityLevel: 3, graphOptimizationLevel: 'all' });
    const row = heads * headDim;
    const dims = [pages * pageSize, row];
    const f = new GraphBuilder();
    const seed = f.input('zero', 'float32', [1]);
    f.op('Expand', [dtype === 'float16' ? f.op('Cast', [seed], { to: 10 /* FLOAT16 */ }) : seed, f.int64s(dims)], {}, 'pool');
    f.output('pool', dtype, dims);
    const fill = await ort.InferenceSession.create(f.build('kv_pool_fill').model, { ...EP, preferredOutputLocation: { pool: 'gpu-buffer' } });

    // Rows from the host into a pool, in place (the P-tuning prefix), as the stage graph writes them.
    const w = new GraphBuilder();
    const targets = w.op('Expand', [w.input('targets', 'int32', ['R', 1]), w.int64s([1, row])]);
    w.op('ScatterElements', [w.input('pool_in', dtype, dims), targets, w.input('rows', dtype, ['R', row])], { axis: 0 }, 'pool_out');
    w.output('pool_out', dtype, dims);
    const writer = await ort.InferenceSession.create(w.build('kv_pool_write').model, EP);

    // Positions of a pool back to the host as fp32 (tests and debugging).
    const r = new GraphBuilder();
    const gathered = r.op('Gather', [r.input('pool', dtype, dims), r.input('positions', 'int32', ['T'])], { axis: 0 });
    r.op('Identity', [dtype === 'float16' ? r.op('Cast', [gathered], { to: 1 /* FLOAT */ }) : gathered], {}, 'rows');
    r.output('rows', 'float32', ['T', row]);
    const reader = await ort.InferenceSession.create(r.build('kv_pool_read').model, EP);

    const zero = new ort.Tensor('float32', new Float32Array(1), [1]);
    const make = async () => (await fill.run({ zero })).pool as ort.Tensor;
    const keys = new Map<number, ort.Tensor>();
    const values = new Map<number, ort.Tensor>();
    for (const l of shape.layers) {
      keys.set(l, await make());
      values.set(l, await make());
    }
    return new DeviceKvPools(shape, keys, values, fill, writer, reader);
  }

  /** Bytes the pools take on the device, all of it from the start (a GPU buffer is not committed page by page). */
  get bytes(): number {
    const { layers, pages, pageSize, heads, headDim, dtype } = this.shape;
    return 2 * layers.length * pages * pageSize * heads * headDim * (dtype === 'float16' ? 2 : 4);
  }

  /**
   * Writes positions from the host into one layer: positions [from, from + rows.length) of `keys`
   * and `values`, [heads, positions, headDim] fp32 (the prefix's layout), go to the pool's `rows`
   * (KvCache.poolRows), in order.
   */
  async writePositions(layer: number, rows: Int32Array, keys: Float32Array, values: Float32Array, from: number): Promise<void> {
    const { heads, headDim, dtype } = this.shape;
    const count = rows.length;
    for (const [pool, src] of [[this.keys.get(layer), keys], [this.values.get(layer), values]] as const) {
      if (!pool) throw new Error(`layer ${layer} has no device pool`);
      await this.writer.run(
        { pool_in: pool, targets: new ort.Tensor('int32', rows, [count, 1]), rows: new ort.Tensor(dtype, this.rowsOf(src, from, count), [count, heads * headDim]) },
        { pool_out: pool },
      );
    }
  }

  /**
   * Keeps positions [from, from + count) of the prefix of every layer (`prefix[i]` for
   * shape.layers[i], [heads, positions, headDim] fp32) on the device, for writeTail(): a new
   * sequence then takes its share of the prefix in one run, where a run per layer and pool took 2 x
   * layers runs and uploads.
   */
  async holdTail(prefix: readonly { keys: Float32Array; values: Float32Array }[], from: number, count: number): Promise<void> {
    const { layers, heads, headDim, dtype, pages, pageSize } = this.shape;
    if (prefix.length !== layers.length) throw new Error(`holdTail: ${prefix.length} prefix layers for ${layers.length} layers`);
    const row = heads * headDim;
    const EP = onWebGpu({ logSeverityLevel: 3, graphOptimizationLevel: 'all' });
    const u = new GraphBuilder();
    u.op('Identity', [u.input('host', dtype, [count, row])], {}, 'device');
    u.output('device', dtype, [count, row]);
    const upload = await ort.InferenceSession.create(u.build('kv_tail_upload').model, { ...EP, preferredOutputLocation: { device: 'gpu-buffer' } });
    const rows: ort.Tensor[] = [];
    for (const layer of prefix) {
      for (const src of [layer.keys, layer.values]) rows.push((await upload.run({ host: new ort.Tensor(dtype, this.rowsOf(src, from, count), [count, row]) })).device as ort.Tensor);
    }
    const dims = [pages * pageSize, row];
    const w = new GraphBuilder();
    const targets = w.op('Expand', [w.input('targets', 'int32', [count, 1]), w.int64s([1, row])]);
    rows.forEach((_, i) => {
      w.op('ScatterElements', [w.input(`pool_in_${i}`, dtype, dims), targets, w.input(`rows_${i}`, dtype, [count, row])], { axis: 0 }, `pool_out_${i}`);
      w.output(`pool_out_${i}`, dtype, dims);
    });
    const writer = await ort.InferenceSession.create(w.build('kv_tail_write').model, EP);
    this.tail = { rows, upload, writer };
  }

  /** Writes the held tail (holdTail) into every layer's pools at `rows` (KvCache.poolRows), in one run. */
  async writeTail(rows: Int32Array): Promise<void> {
    const tail = this.tail;
    if (!tail) throw new Error('writeTail: no prefix tail is held');
    const pools = this.shape.layers.flatMap((l) => [this.keys.get(l) as ort.Tensor, this.values.get(l) as ort.Tensor]);
    const feeds: Record<string, ort.Tensor> = { targets: new ort.Tensor('int32', rows, [rows.length, 1]) };
    const fetches: Record<string, ort.Tensor> = {};
    pools.forEach((pool, i) => {
      feeds[`pool_in_${i}`] = pool;
      feeds[`rows_${i}`] = tail.rows[i] as ort.Tensor;
      fetches[`pool_out_${i}`] = pool;
    });
    await tail.writer.run(feeds, fetches);
  }

  /** [heads, total, headDim] -> rows [count, heads x headDim] of positions from..from+count, in the pools' dtype. */
  private rowsOf(src: Float32Array, from: number, count: number): KvElements {
    const { heads, headDim, dtype } = this.shape;
    const total = src.length / (heads * headDim);
    const out = new Float32Array(count * heads * headDim);
    for (let t = 0; t < count; t++) {
      for (let h = 0; h < heads; h++) out.set(src.subarray((h * total + from + t) * headDim, (h * total + from + t + 1) * headDim), (t * heads + h) * headDim);
    }
    return dtype === 'float16' ? float32ToFloat16(out) : out;
  }

  /** The positions at the pool's `rows` (KvCache.poolRows), as [heads, positions, headDim] fp32 keys and values. */
  async read(layer: number, rows: Int32Array): Promise<{ keys: Float32Array; values: Float32Array }> {
    const { heads, headDim } = this.shape;
    const length = rows.length;
    const index = new ort.Tensor('int32', rows, [length]);
    const headsFirst = (data: Float32Array) => {
      const out = new Float32Array(heads * length * headDim);
      for (let t = 0; t < length; t++) {
        for (let h = 0; h < heads; h++) out.set(data.subarray((t * heads + h) * headDim, (t * heads + h + 1) * headDim), (h * length + t) * headDim);
      }
      return out;
    };
    const gather = async (pool: ort.Tensor | undefined) => {
      if (!pool) throw new Error(`layer ${layer} has no device pool`);
      return headsFirst((await this.reader.run({ pool, positions: index })).rows!.data as Float32Array);
    };
    return { keys: await gather(this.keys.get(layer)), values: await gather(this.values.get(layer)) };
  }

  async release(): Promise<void> {
    for (const t of [...this.keys.values(), ...this.values.values(), ...(this.tail?.rows ?? [])]) t.dispose();
    this.keys.clear();
    this.values.clear();
    await this.tail?.writer.release();
    await this.tail?.upload.release();
    this.tail = undefined;
    await this.writer.release();
    await this.reader.release();
    await this.fill.release();
  }
}
