// The stage tensors of a checkpoint directory, whatever its format: the one place that turns a
// model folder into what the graph builder consumes.
import fs from 'node:fs';
import path from 'node:path';
import { ChatGlmError } from '@chatglm/common';
import type { ModelDirectory } from '../checkpoint/model-directory.ts';
import { SafetensorsWeightSource } from '../checkpoint/safetensors.ts';
import { stageTensors, type QuantizationOptions, type StageTensors } from '../model/stage-tensors.ts';

export function checkpointTensors(model: ModelDirectory, quantization: QuantizationOptions = {}): StageTensors {
  if (model.weightsFormat !== 'safetensors') throw new ChatGlmError('invalid_checkpoint', `${model.dir}: cannot read ${model.weightsFormat} weights yet`);
  return stageTensors(new SafetensorsWeightSource(model.dir), quantization);
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
