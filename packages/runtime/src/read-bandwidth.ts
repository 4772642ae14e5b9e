// How fast ONNX Runtime can stream memory on this machine: the roofline for weight-bound decoding,
// measured (not assumed) so a benchmark can put its timings beside it in the same run.
import os from 'node:os';
import ort from 'onnxruntime-node';
import { GraphBuilder } from '@chatglm/glm';

/** Best-of-`repeats` read bandwidth in bytes per second of a ReduceSum over `bytes` (default 1 GiB). */
export async function measureReadBandwidth(options: { bytes?: number; threads?: number; repeats?: number } = {}): Promise<number> {
  const cols = 1 << 20;
  const rows = Math.max(1, Math.round((options.bytes ?? 2 ** 30) / 4 / cols));
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [rows, cols]);
  g.op('ReduceSum', [x, g.int64s([1])], { keepdims: 0 }, 'y');
  g.output('y', 'float32', [rows]);
  const session = await ort.InferenceSession.create(g.build('read_bandwidth').model, { intraOpNumThreads: options.threads ?? os.availableParallelism(), logSeverityLevel: 3 });
  try {
    const input = new ort.Tensor('float32', new Float32Array(rows * cols).fill(1), [rows, cols]);
    let best = Infinity;
    for (let i = 0; i < (options.repeats ?? 6); i++) {
      const t0 = performance.now();
      await session.run({ x: input });
      best = Math.min(best, performance.now() - t0);
    }
    return (rows * cols * 4) / (best / 1000);
  } finally {
    await session.release();
  }
}
