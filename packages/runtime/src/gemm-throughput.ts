// How fast ONNX Runtime multiplies matrices on this machine, with the kernel the layers use
// (MatMulNBits, blocks of 128, accuracy_level 4): the ceiling a prefill is compared with in the
// same run, as the read bandwidth is for decoding.
import os from 'node:os';
import ort from 'onnxruntime-node';
import { DEFAULT_BLOCK_SIZE, GraphBuilder, type Quantization } from '@chatglm/glm';

/**
 * Best-of-`repeats` floating-point operations per second (2 per multiply-add) of x[rows, k] times a
 * [n, k] weight quantized as `quantization` (random codes: speed does not depend on the values), or
 * as fp32 for 'none'.
 */
export async function measureGemmThroughput(options: { rows: number; n: number; k: number; quantization: Quantization; threads?: number; repeats?: number }): Promise<number> {
  const { rows, n, k } = options;
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [rows, k]);
  if (options.quantization === 'none') {
    g.op('Gemm', [x, g.externalInit('w', 'float32', [n, k], new Float32Array(n * k).fill(0.01))], { transB: 1 }, 'y');
  } else {
    const bits = options.quantization === 'int8' ? 8 : 4;
    const blocks = Math.ceil(k / DEFAULT_BLOCK_SIZE);
    const packed = new Uint8Array((n * blocks * DEFAULT_BLOCK_SIZE * bits) / 8).map((_, i) => (i * 2654435761) >>> 24);
    const scales = new Float32Array(n * blocks).fill(0.003);
    g.op('MatMulNBits', [x, g.externalInit('b', 'uint8', [n, blocks, (DEFAULT_BLOCK_SIZE * bits) / 8], packed), g.externalInit('s', 'float32', [n * blocks], scales)], { K: k, N: n, bits, block_size: DEFAULT_BLOCK_SIZE, accuracy_level: 4 }, 'y', 'com.microsoft');
  }
  g.output('y', 'float32', [rows, n]);
  const { model, external } = g.build('gemm_throughput');
  const session = await ort.InferenceSession.create(model, { externalData: external, intraOpNumThreads: options.threads ?? os.availableParallelism(), logSeverityLevel: 3 });
  try {
    const input = new ort.Tensor('float32', new Float32Array(rows * k).fill(0.5), [rows, k]);
    await session.run({ x: input });
    let best = Infinity;
    for (let i = 0; i < (options.repeats ?? 4); i++) {
      const t0 = performance.now();
      await session.run({ x: input });
      best = Math.min(best, performance.now() - t0);
    }
    return (2 * rows * n * k) / (best / 1000);
  } finally {
    await session.release();
  }
}
