// The prefix encoder's projection (y = x·Wᵀ + b) on ONNX Runtime: at ChatGLM-6B size it is ~120
// GFLOP for a whole model, ~70 s in plain JS but ~3.6 s here on the 2-core development VM
// (measured 2026-11-27: 128 ms per layer's [128 x 4096] x [4096 x 8192], weights fed zero-copy).
import ort from 'onnxruntime-node';
import { LINEAR_IO, buildLinearGraph, type LinearFn } from '@chatglm/glm';

export interface OnnxLinear {
  linear: LinearFn;
  close(): Promise<void>;
}

export async function createOnnxLinear(threads: number): Promise<OnnxLinear> {
  const session = await ort.InferenceSession.create(buildLinearGraph(), { intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 3 });
  const linear: LinearFn = async (x, rows, inFeatures, weight, outFeatures, bias) => {
    const out = await session.run({
      [LINEAR_IO.x]: new ort.Tensor('float32', x.subarray(0, rows * inFeatures), [rows, inFeatures]),
      [LINEAR_IO.weight]: new ort.Tensor('float32', weight.subarray(0, outFeatures * inFeatures), [outFeatures, inFeatures]),
      [LINEAR_IO.bias]: new ort.Tensor('float32', bias.subarray(0, outFeatures), [outFeatures]),
    });
    return (out[LINEAR_IO.y] as ort.Tensor).data as Float32Array;
  };
  return { linear, close: () => session.release() };
}
