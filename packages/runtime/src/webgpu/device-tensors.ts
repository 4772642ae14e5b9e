// Two small graphs the device cache and the device probes both need: filling tensors that live on
// the GPU, and writing rows into such tensors in place.
import ort from 'onnxruntime-node';
import { GraphBuilder, type KvCacheDtype } from '@chatglm/glm';
import { onWebGpu } from './webgpu-session-options.ts';

/** The options of these small sessions. */
export function deviceSessionOptions(): ort.InferenceSession.SessionOptions {
  return onWebGpu({ logSeverityLevel: 3, graphOptimizationLevel: 'all' });
}

/**
 * Makes tensors of `dims` on the device, each filled with a value, never taking host memory of
 * their size. The session owns the tensors' buffers: release it only after disposing of them.
 */
export async function deviceTensorMaker(dims: number[], dtype: KvCacheDtype): Promise<{ make: (value?: number) => Promise<ort.Tensor>; release: () => Promise<void> }> {
  const g = new GraphBuilder();
  const seed = g.input('seed', 'float32', [1]);
  g.op('Expand', [dtype === 'float16' ? g.op('Cast', [seed], { to: 10 /* FLOAT16 */ }) : seed, g.int64s(dims)], {}, 'filled');
  g.output('filled', dtype, dims);
  const session = await ort.InferenceSession.create(g.build('fill').model, { ...deviceSessionOptions(), preferredOutputLocation: { filled: 'gpu-buffer' } });
  return {
    make: async (value = 0) => (await session.run({ seed: new ort.Tensor('float32', Float32Array.of(value), [1]) })).filled as ort.Tensor,
    release: () => session.release(),
  };
}

/**
 * A graph that writes rows into `count` tensors of `dims` [positions, row] at the same positions,
 * as the stage graph writes a step's keys and values (one GPU thread per element): `rows_i`
 * [rows, row] into `pool_in_i` at `targets` [rows, 1], given back as `pool_out_i`. Bound to the
 * tensor itself (a pre-allocated output, on a session without preferredOutputLocation), the write
 * happens in place: runScatter.
 */
export function scatterModel(count: number, dims: [number, number], rows: number | string, dtype: KvCacheDtype): Uint8Array {
  const w = new GraphBuilder();
  const targets = w.op('Expand', [w.input('targets', 'int32', [rows, 1]), w.int64s([1, dims[1]])]);
  for (let i = 0; i < count; i++) {
    w.op('ScatterElements', [w.input(`pool_in_${i}`, dtype, dims), targets, w.input(`rows_${i}`, dtype, [rows, dims[1]])], { axis: 0 }, `pool_out_${i}`);
    w.output(`pool_out_${i}`, dtype, dims);
  }
  return w.build('scatter').model;
}

/** Runs a scatterModel session: `sources[i]` into `pools[i]` at `targets`, in place. */
export async function runScatter(session: ort.InferenceSession, pools: ort.Tensor[], sources: ort.Tensor[], targets: Int32Array): Promise<void> {
  const feeds: Record<string, ort.Tensor> = { targets: new ort.Tensor('int32', targets, [targets.length, 1]) };
  const fetches: Record<string, ort.Tensor> = {};
  pools.forEach((pool, i) => {
    feeds[`pool_in_${i}`] = pool;
    feeds[`rows_${i}`] = sources[i] as ort.Tensor;
    fetches[`pool_out_${i}`] = pool;
  });
  await session.run(feeds, fetches);
}
