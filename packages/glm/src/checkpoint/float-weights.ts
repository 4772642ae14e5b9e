// The graph builder's view of a checkpoint: every float tensor widened to fp32. Quantized (THUDM
// int4/int8) and integer tensors are refused by name: they need dequantizing, not widening.
import { bfloat16ToFloat32, float16ToFloat32 } from '@chatglm/common';
import type { HostTensor, WeightSource } from '../model/weights.ts';
import { CheckpointError } from './checkpoint-error.ts';
import type { RawTensorSource } from './raw-tensor-source.ts';

export class FloatWeightSource implements WeightSource {
  constructor(readonly source: RawTensorSource) {}

  has(name: string): boolean {
    return this.source.has(name);
  }

  names(): string[] {
    return this.source.names();
  }

  get(name: string): HostTensor {
    const info = this.source.info(name);
    if (info.dtype === 'I8' || info.dtype === 'U8') {
      throw new CheckpointError(`${info.file}: tensor "${name}" is quantized (${info.dtype}); it needs dequantizing with its weight_scale (THUDM int4/int8 layout), not widening to fp32`);
    }
    if (info.dtype === 'I32' || info.dtype === 'I64') throw new CheckpointError(`${info.file}: tensor "${name}" holds integers (${info.dtype}), not weights`);
    const bytes = this.source.read(name);
    // read() returns a fresh ArrayBuffer at offset 0, so these views are aligned.
    let data: Float32Array;
    if (info.dtype === 'F32') data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    else if (info.dtype === 'F16') data = float16ToFloat32(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2));
    else data = bfloat16ToFloat32(new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2));
    return { dims: info.dims, data };
  }
}

/** Widens a checkpoint's F32/F16/BF16 tensors to fp32 on read; I8/U8 tensors throw (they are quantized). */
export function floatWeights(source: RawTensorSource): WeightSource {
  return new FloatWeightSource(source);
}
