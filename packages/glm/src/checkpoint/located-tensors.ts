// A RawTensorSource over a table of tensors whose bytes sit at known file offsets: what every
// format's reader produces once it has parsed its headers.
import { CheckpointError } from './checkpoint-error.ts';
import { readFileRange } from './file-range.ts';
import type { RawTensorInfo, RawTensorSource } from './raw-tensor-source.ts';

export interface LocatedTensor extends RawTensorInfo {
  /** Absolute byte offset of the first element in `file`. */
  offset: number;
}

export class LocatedTensorSource implements RawTensorSource {
  constructor(
    readonly dir: string,
    private readonly tensors: ReadonlyMap<string, LocatedTensor>,
    /** Where the tensors were looked for, for the "missing" message (e.g. "3 shards"). */
    private readonly where: string,
  ) {}

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): RawTensorInfo {
    const { offset: _offset, ...info } = this.located(name);
    return { ...info, dims: [...info.dims] };
  }

  read(name: string): Uint8Array {
    const t = this.located(name);
    return readFileRange(t.file, t.offset, t.byteLength);
  }

  private located(name: string): LocatedTensor {
    const t = this.tensors.get(name);
    if (!t) throw new CheckpointError(`${this.dir}: tensor "${name}" is missing from the checkpoint (not in ${this.where})`);
    return t;
  }
}
