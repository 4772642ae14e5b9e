// Small measurements of the WebGPU device that decide how a stage should use it: how fast it
// streams memory (the roofline of a weight-bound decode), what one kernel dispatch costs, and what
// the two ways of keeping a KV cache on the device cost per step, since onnxruntime-node cannot
// write into an input: a slab of every sequence's cache rewritten whole, or each sequence's own
// cache copied with its new row appended.
import ort from 'onnxruntime-node';
import { GraphBuilder } from '@chatglm/glm';

type Dtype = 'float32' | 'float16';
const EP: ort.InferenceSession.SessionOptions = { executionProviders: ['webgpu'], logSeverityLevel: 3 };

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
  const g = new GraphBuilder();
  const seed = g.input('seed', 'float32', [1]);
  const filled = g.op('Expand', [dtype === 'float32' ? seed : g.op('Cast', [seed], { to: 10 /* FLOAT16 */ }), g.int64s(dims)], {}, 'filled');
  g.output(filled, dtype, dims);
  const session = await ort.InferenceSession.create(g.build('fill').model, { ...EP, preferredOutputLocation: { filled: 'gpu-buffer' } });
  const out = await session.run({ seed: new ort.Tensor('float32', Float32Array.of(value), [1]) });
  return { tensor: out.filled as ort.Tensor, release: () => session.release() };
}

/** Memory bandwidth of the device in bytes/s, reads and writes counted together: `y = x + 1` over `bytes` of fp32 held on the device. */
export async function deviceBandwidth(bytes: number): Promise<number> {
  const n = Math.max(1024, Math.floor(bytes / 4 / 1024) * 1024);
  const g = new GraphBuilder();
  g.op('Add', [g.input('x', 'float32', [n]), g.scalar(1)], {}, 'y');
  g.output('y', 'float32', [n]);
  const session = await ort.InferenceSession.create(g.build('bandwidth').model, { ...EP, preferredOutputLocation: { y: 'gpu-buffer' } });
  const x = await deviceTensor([n], 'float32');
  try {
    const ms = await bestOf(5, async () => {
      const out = await session.run({ x: x.tensor });
      // Reading one element back waits for the GPU to finish the run.
      (out.y as ort.Tensor).dispose();
      await syncDevice();
    });
    return (2 * n * 4) / (ms / 1000);
  } finally {
    x.tensor.dispose();
    await x.release();
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
    syncSession = await ort.InferenceSession.create(g.build('sync').model, EP);
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
  const session = await ort.InferenceSession.create(g.build('dispatch').model, { ...EP, graphOptimizationLevel: 'disabled' });
  try {
    const input = new ort.Tensor('float32', new Float32Array(256), [256]);
    const ms = await bestOf(5, async () => void (await session.run({ x: input })));
    return (ms * 1000) / count;
  } finally {
    await session.release();
  }
}

export interface CacheShape {
  /** Sequences held. */
  slots: number;
  heads: number;
  headDim: number;
  /** Positions held per sequence (the slab's capacity; each sequence's length for the per-sequence scheme). */
  length: number;
  /** Layers the cost is multiplied by, for a per-token figure. */
  layers: number;
}

/**
 * ms per decode step (all layers) to add one position to every sequence's cache, keys and values:
 * `slab`, one [slots, heads, length, headDim] tensor per layer rewritten whole around the new rows;
 * `perSequence`, each sequence's [heads, length, headDim] copied with its row appended (one Concat
 * per sequence, keys and values). Undefined where the dtype is not supported by the device.
 */
export async function cacheUpdateMs(shape: CacheShape, dtype: Dtype): Promise<{ slab: number; perSequence: number } | undefined> {
  const { slots: S, heads: NH, headDim: HD, length: C } = shape;
  try {
    // Slab: present = Where(position == slot's length, new row, past).
    const gs = new GraphBuilder();
    const past = gs.input('past', dtype, [S, NH, C, HD]);
    const row = gs.input('row', dtype, [S, NH, 1, HD]);
    const at = gs.input('at', 'bool', [S, 1, C, 1]);
    gs.op('Where', [at, row, past], {}, 'present');
    gs.output('present', dtype, [S, NH, C, HD]);
    const slab = await ort.InferenceSession.create(gs.build('slab').model, { ...EP, preferredOutputLocation: { present: 'gpu-buffer' } });
    // Per sequence: present_s = Concat(past_s, row_s) for every sequence, in one run.
    const gp = new GraphBuilder();
    const loc: Record<string, 'gpu-buffer'> = {};
    for (let s = 0; s < S; s++) {
      gp.op('Concat', [gp.input(`past${s}`, dtype, [NH, C, HD]), gp.input(`row${s}`, dtype, [NH, 1, HD])], { axis: 1 }, `present${s}`);
      gp.output(`present${s}`, dtype, [NH, C + 1, HD]);
      loc[`present${s}`] = 'gpu-buffer';
    }
    const perSeq = await ort.InferenceSession.create(gp.build('per_sequence').model, { ...EP, preferredOutputLocation: loc });
    const slabPast = await deviceTensor([S, NH, C, HD], dtype);
    const slabRow = await deviceTensor([S, NH, 1, HD], dtype);
    const seqPast = await Promise.all(Array.from({ length: S }, () => deviceTensor([NH, C, HD], dtype)));
    const seqRow = await deviceTensor([NH, 1, HD], dtype);
    const mask = new Uint8Array(S * C);
    for (let s = 0; s < S; s++) mask[s * C + (C >> 1)] = 1;
    const atTensor = new ort.Tensor('bool', mask, [S, 1, C, 1]);
    try {
      const slabMs = await bestOf(3, async () => {
        const out = await slab.run({ past: slabPast.tensor, row: slabRow.tensor, at: atTensor });
        (out.present as ort.Tensor).dispose();
        await syncDevice();
      });
      const feeds: Record<string, ort.Tensor> = {};
      seqPast.forEach((p, s) => {
        feeds[`past${s}`] = p.tensor;
        feeds[`row${s}`] = seqRow.tensor;
      });
      const perSeqMs = await bestOf(3, async () => {
        const out = await perSeq.run(feeds);
        for (const t of Object.values(out)) (t as ort.Tensor).dispose();
        await syncDevice();
      });
      // Keys and values: two updates per layer.
      return { slab: 2 * shape.layers * slabMs, perSequence: 2 * shape.layers * perSeqMs };
    } finally {
      for (const t of [slabPast, slabRow, seqRow, ...seqPast]) {
        t.tensor.dispose();
        await t.release();
      }
      await slab.release();
      await perSeq.release();
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
