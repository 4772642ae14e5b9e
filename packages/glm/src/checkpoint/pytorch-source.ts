// PyTorch checkpoints: `pytorch_model-0000X-of-0000N.bin` shards resolved through
// `pytorch_model.bin.index.json` (its weight_map; the stale total_size is ignored, docs/model.md §2.4), or a
// single `pytorch_model.bin`. Other .bin files in the directory (training_args.bin, optimizer
// states) are never opened: they are not state dicts and may pickle arbitrary objects.
import fs from 'node:fs';
import path from 'node:path';
import { CheckpointError } from './checkpoint-error.ts';
import { LocatedTensorSource } from './located-tensors.ts';
import { assembleFiles, assembleIndexedShards } from './shard-index.ts';
import { readTorchArchive } from './torch-archive.ts';

export const PYTORCH_INDEX = 'pytorch_model.bin.index.json';
export const PYTORCH_SINGLE = 'pytorch_model.bin';
const PYTORCH_FILE = /^pytorch_model.*\.bin$/;

export class PytorchSource extends LocatedTensorSource {
  constructor(dir: string) {
    const indexFile = path.join(dir, PYTORCH_INDEX);
    if (fs.existsSync(indexFile)) {
      super(dir, assembleIndexedShards(dir, indexFile, readTorchArchive), `the shards of ${PYTORCH_INDEX}`);
    } else {
      const files = PytorchSource.files(dir);
      if (files.length === 0) throw new CheckpointError(`${dir}: no ${PYTORCH_SINGLE} or ${PYTORCH_INDEX}`);
      super(dir, assembleFiles(files, readTorchArchive), files.map((f) => path.basename(f)).join(', '));
    }
  }

  /** `pytorch_model*.bin` in the directory, sorted (used when there is no index). */
  static files(dir: string): string[] {
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => PYTORCH_FILE.test(f)).sort().map((f) => path.join(dir, f)) : [];
  }

  static isCheckpointDir(dir: string): boolean {
    return fs.existsSync(path.join(dir, PYTORCH_INDEX)) || PytorchSource.files(dir).length > 0;
  }
}
