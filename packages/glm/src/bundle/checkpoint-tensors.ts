// The stage tensors of a checkpoint directory, whatever its format: the one place that turns a
// model folder into what the graph builder consumes.
import fs from 'node:fs';
import path from 'node:path';
import { ChatGlmError, float16ToFloat32 } from '@chatglm/common';
import { floatWeights } from '../checkpoint/float-weights.ts';
import type { ModelDirectory } from '../checkpoint/model-directory.ts';
import { openCheckpoint } from '../checkpoint/open-checkpoint.ts';
import type { RawTensorSource } from '../checkpoint/raw-tensor-source.ts';
import { stageTensors, type QuantizationOptions, type StageTensors, type ThudmSource } from '../model/stage-tensors.ts';

/** A checkpoint's tensors for the graph builder: safetensors or PyTorch .bin, float or THUDM int8/int4. */
export function checkpointTensors(model: ModelDirectory, quantization: QuantizationOptions = {}): StageTensors {
  const raw = openCheckpoint(model.dir);
  const halves = (name: string): Uint16Array | undefined => {
    if (!raw.has(name) || raw.info(name).dtype !== 'F16') return undefined;
    const bytes = raw.read(name);
    return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2);
  };
  return stageTensors(floatWeights(raw), quantization, thudmLinears(raw, model), halves);
}

/** THUDM int8/int4 linears (docs/model.md §9.1): an int8 `.weight` beside an fp16 `.weight_scale`. */
function thudmLinears(raw: RawTensorSource, model: ModelDirectory): ThudmSource | undefined {
  const bits = model.config.quantizationBit;
  if (bits !== 4 && bits !== 8) return undefined;
  return {
    thudmLinear(weightName) {
      const scaleName = `${weightName}_scale`;
      if (!raw.has(scaleName) || !raw.has(weightName)) return undefined;
      if (raw.info(weightName).dtype !== 'I8') throw new ChatGlmError('invalid_checkpoint', `${raw.info(weightName).file}: "${weightName}" has a weight_scale but is ${raw.info(weightName).dtype}, not int8`);
      const codes = raw.read(weightName);
      const scales = raw.read(scaleName);
      const scaleInfo = raw.info(scaleName);
      const rowScales =
        scaleInfo.dtype === 'F16'
          ? float16ToFloat32(new Uint16Array(scales.buffer, scales.byteOffset, scales.byteLength / 2))
          : floatWeights(raw).get(scaleName).data;
      return { bits, codes: new Int8Array(codes.buffer, codes.byteOffset, codes.byteLength), rowScales };
    },
  };
}

/** fp16 checkpoints (ChatGLM-6B's torch_dtype) stay fp16 in a bundle; fp32 and bf16 ones become fp32 (bf16's range exceeds fp16's). */
export function checkpointStorage(dir: string): 'float16' | 'float32' {
  try {
    const dtype = (JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as { torch_dtype?: string }).torch_dtype;
    return dtype === 'float32' || dtype === 'bfloat16' ? 'float32' : 'float16';
  } catch {
    return 'float16';
  }
}
