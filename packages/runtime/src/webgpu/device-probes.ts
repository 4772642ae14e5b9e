// Small measurements of the WebGPU device that decide how a stage should use it: how fast it
// streams memory (the roofline of a weight-bound decode), what one kernel dispatch costs, and what
// a decode step's KV cache write costs on the device, in place (as the stages do it) and as a
// copy of the whole pool (the alternative, when an output cannot be bound to an input's buffer).
import ort from 'onnxruntime-node';
import { GraphBuilder } from '@chatglm/glm';
import { onWebGpu } from './webgpu-session-options.ts';
import { deviceTensorMaker, runScatter, scatterModel } from './device-tensors.ts';

type Dtype = 'float32' | 'float16';
/** The probes' sessions, made as the stages' are (the first session sets the process's WebGPU context up). */
const EP = (): ort.InferenceSession.SessionOptions => onWebGpu({ logSeverityLevel: 3 });

/** The fastest of `repeats` calls of `run`, in ms (the first call warms the kernels up and is dropped). */
async function bestOf(repeats: number, run: () => Promise<void>): Promise<number> {
  await run();
  let best = Infinity;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await run();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** A device tensor of `dims` filled with `value`, made by a run whose output stays on the device. */
async function deviceTensor(dims: number[], dtype: Dtype, value = 1): Promise<{ tensor: ort.Tensor; release: () => Promise<void> }> {
  const maker = await deviceTensorMaker(dims, dtype);
  return { tensor: await maker.make(value), release: maker.release };
}

/**
 * Memory bandwidth of the device in bytes/s, reads and writes counted together: `y = x + 1` over
 * `bytes` of fp32, both held on the device. y is a pre-allocated output (a session without
 * preferredOutputLocation honours one), so the time is the kernel's, not a fresh buffer's
 * allocation and clearing; runs are queued back to back and waited for once.
 */
export async function deviceBandwidth(bytes: number): Promise<number> {
  const n = Math.max(1024, Math.floor(bytes / 4 / 1024) * 1024);
  const g = new GraphBuilder();
  g.op('Add', [g.input('x', 'float32', [n]), g.scalar(1)], {}, 'y');
  g.output('y', 'float32', [n]);
  const session = await ort.InferenceSession.create(g.build('bandwidth').model, EP());
  const x = await deviceTensor([n], 'float32');
  const y = await deviceTensor([n], 'float32');
  const runs = 10;
  try {
    const ms = await bestOf(3, async () => {
      for (let i = 0; i < runs; i++) await session.run({ x: x.tensor }, { y: y.tensor });
      await syncDevice();
    });
    return (runs * 2 * n * 4) / (ms / 1000);
  } finally {
    for (const t of [x, y]) {
      t.tensor.dispose();
      await t.release();
    }
    await session.release();
  }
}

let syncSession: ort.InferenceSession | undefined;
/** Waits for the device queue to drain: a tiny run whose output comes back to the host. */
async function syncDevice(): Promise<void> {
  if (!syncSession) {
    const g = new GraphBuilder();
    g.op('Add', [g.input('a', 'float32', [1]), g.scalar(1)], {}, 'b');
    g.output('b', 'float32', [1]);
    syncSession = await ort.InferenceSession.create(g.build('sync').model, EP());
  }
  await syncSession.run({ a: new ort.Tensor('float32', Float32Array.of(0), [1]) });
}

/** Cost of one kernel dispatch in µs: a chain of `count` tiny Adds, per Add. */
export async function dispatchMicros(count: number): Promise<number> {
  const g = new GraphBuilder();
  let x = g.input('x', 'float32', [256]);
  for (let i = 0; i < count; i++) x = g.op('Add', [x, g.scalar(1)]);
  g.op('Identity', [x], {}, 'y');
  g.output('y', 'float32', [256]);
  const session = await ort.InferenceSession.create(g.build('dispatch').model, { ...EP(), graphOptimizationLevel: 'disabled' });
  try {
    const input = new ort.Tensor('float32', new Float32Array(256), [256]);
    const ms = await bestOf(5, async () => void (await session.run({ x: input })));
    return (ms * 1000) / count;
  } finally {
    await session.release();
  }
}

export interface CacheShape {
  /** Sequences held, each writing one new position per step. */
  slots: number;
  heads: number;
  headDim: number;
  /** Positions the pool holds per sequence. */
  length: number;
  /** Layers the cost is multiplied by, for a per-token figure. */
  layers: number;
}

/**
 * ms per decode step (all layers, keys and values) to write one new position of every sequence
 * into a position-major pool [slots x length, heads x headDim], as the stage graph does
 * (DeviceKvPools): `inPlace`, a ScatterElements whose output is bound to the pool's own buffer
 * (what the stages do); `copied`, the same into a fresh output, which copies the whole pool each
 * step (what keeping the cache as a graph output fed back would cost). Each write is a run of its
 * own here, so the figures include a run's overhead, which a stage pays once per step, not per
 * layer. Undefined where the dtype is not supported by the device.
 */
export async function cacheUpdateMs(shape: CacheShape, dtype: Dtype): Promise<{ inPlace: number; copied: number } | undefined> {
  const { slots: S, heads: NH, headDim: HD, length: C } = shape;
  try {
    const model = scatterModel(1, [S * C, NH * HD], S, dtype);
    const inPlace = await ort.InferenceSession.create(model, EP());
    const copied = await ort.InferenceSession.create(model, { ...EP(), preferredOutputLocation: { pool_out_0: 'gpu-buffer' } });
    const pool = await deviceTensor([S * C, NH * HD], dtype);
    const rows = await deviceTensor([S, NH * HD], dtype);
    // Each sequence's next position, halfway through its share of the pool.
    const at = Int32Array.from({ length: S }, (_, s) => s * C + (C >> 1));
    const atTensor = new ort.Tensor('int32', at, [S, 1]);
    const runs = 2 * shape.layers;
    try {
      const inPlaceMs = await bestOf(3, async () => {
        for (let i = 0; i < runs; i++) await runScatter(inPlace, [pool.tensor], [rows.tensor], at);
        await syncDevice();
      });
      const copiedMs = await bestOf(3, async () => {
        for (let i = 0; i < runs; i++) (await copied.run({ pool_in_0: pool.tensor, targets: atTensor, rows_0: rows.tensor })).pool_out_0!.dispose();
        await syncDevice();
      });
      return { inPlace: inPlaceMs, copied: copiedMs };
    } finally {
      for (const t of [pool, rows]) {
        t.tensor.dispose();
        await t.release();
      }
      await inPlace.release();
      await copied.release();
    }
  } catch (err) {
    if (/requires f16|does not support/i.test((err as Error).message)) return undefined;
    throw err;
  }
}

export async function releaseProbes(): Promise<void> {
  await syncSession?.release();
  syncSession = undefined;
}
