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
import { deviceSessionOptions, deviceTensorMaker, runScatter, scatterModel } from './device-tensors.ts';

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
    private readonly fill: { release: () => Promise<void> },
    private readonly writer: ort.InferenceSession,
    private readonly reader: ort.InferenceSession,
  ) {}

  /** Zeroed pools for every layer, made on the device (no host memory of their size is ever taken). */
  static async create(shape: DevicePoolShape): Promise<DeviceKvPools> {
    const { pages, pageSize, heads, headDim, dtype } = shape;
    const row = heads * headDim;
    const dims: [number, number] = [pages * pageSize, row];
    const fill = await deviceTensorMaker(dims, dtype);

    // Rows from the host into a layer's keys and values, in place (the P-tuning prefix).
    const writer = await ort.InferenceSession.create(scatterModel(2, dims, 'R', dtype), deviceSessionOptions());

    // Positions of a pool back to the host as fp32 (tests and debugging).
    const r = new GraphBuilder();
    const gathered = r.op('Gather', [r.input('pool', dtype, dims), r.input('positions', 'int32', ['T'])], { axis: 0 });
    r.op('Identity', [dtype === 'float16' ? r.op('Cast', [gathered], { to: 1 /* FLOAT */ }) : gathered], {}, 'rows');
    r.output('rows', 'float32', ['T', row]);
    const reader = await ort.InferenceSession.create(r.build('kv_pool_read').model, deviceSessionOptions());

    const keys = new Map<number, ort.Tensor>();
    const values = new Map<number, ort.Tensor>();
    for (const l of shape.layers) {
      keys.set(l, await fill.make());
      values.set(l, await fill.make());
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
    const pools = [this.keys.get(layer), this.values.get(layer)];
    if (!pools[0] || !pools[1]) throw new Error(`layer ${layer} has no device pool`);
    const sources = [keys, values].map((src) => new ort.Tensor(dtype, this.rowsOf(src, from, count), [count, heads * headDim]));
    await runScatter(this.writer, pools as ort.Tensor[], sources, rows);
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
    const u = new GraphBuilder();
    u.op('Identity', [u.input('host', dtype, [count, row])], {}, 'device');
    u.output('device', dtype, [count, row]);
    const upload = await ort.InferenceSession.create(u.build('kv_tail_upload').model, { ...deviceSessionOptions(), preferredOutputLocation: { device: 'gpu-buffer' } });
    const rows: ort.Tensor[] = [];
    for (const layer of prefix) {
      for (const src of [layer.keys, layer.values]) rows.push((await upload.run({ host: new ort.Tensor(dtype, this.rowsOf(src, from, count), [count, row]) })).device as ort.Tensor);
    }
    const writer = await ort.InferenceSession.create(scatterModel(rows.length, [pages * pageSize, row], count, dtype), deviceSessionOptions());
    this.tail = { rows, upload, writer };
  }

  /** Writes the held tail (holdTail) into every layer's pools at `rows` (KvCache.poolRows), in one run. */
  async writeTail(rows: Int32Array): Promise<void> {
    if (!this.tail) throw new Error('writeTail: no prefix tail is held');
    const pools = this.shape.layers.flatMap((l) => [this.keys.get(l) as ort.Tensor, this.values.get(l) as ort.Tensor]);
    await runScatter(this.tail.writer, pools, this.tail.rows, rows);
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

