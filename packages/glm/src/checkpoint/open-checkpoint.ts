// Opens a checkpoint directory in whichever format it holds. safetensors wins when both are present
// (Hugging Face does the same): it needs no pickle and its header is cheaper to read.
import { CheckpointError } from './checkpoint-error.ts';
import { PYTORCH_INDEX, PYTORCH_SINGLE, PytorchSource } from './pytorch-source.ts';
import type { RawTensorSource } from './raw-tensor-source.ts';
import { SAFETENSORS_INDEX, SafetensorsSource } from './safetensors.ts';

export type CheckpointFormat = 'safetensors' | 'pytorch';

/** The format of the weights in `dir`, or null when it holds none. */
export function detectCheckpointFormat(dir: string): CheckpointFormat | null {
  if (SafetensorsSource.isCheckpointDir(dir)) return 'safetensors';
  if (PytorchSource.isCheckpointDir(dir)) return 'pytorch';
  return null;
}

/** Reads the headers (safetensors) or pickles (PyTorch) of a checkpoint; tensors are read later, one at a time. */
export function openCheckpoint(dir: string): RawTensorSource {
  switch (detectCheckpointFormat(dir)) {
    case 'safetensors':
      return new SafetensorsSource(dir);
    case 'pytorch':
      return new PytorchSource(dir);
    default:
      throw new CheckpointError(`${dir} has no weights: expected model.safetensors, ${SAFETENSORS_INDEX}, ${PYTORCH_SINGLE} or ${PYTORCH_INDEX}`);
  }
}
