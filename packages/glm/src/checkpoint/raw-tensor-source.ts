// What every checkpoint format offers: named tensors as raw little-endian bytes, read one at a time
// straight from their file offsets. Widening to fp32 (float-weights.ts) and dequantizing THUDM int4/int8
// tensors are separate steps on top of this.

/** Element types the readers understand (safetensors spelling; torch storages map onto them). */
export type RawDtype = 'F32' | 'F16' | 'BF16' | 'I8' | 'U8' | 'I32' | 'I64';

export const RAW_DTYPE_BYTES: Readonly<Record<RawDtype, number>> = { F32: 4, F16: 2, BF16: 2, I8: 1, U8: 1, I32: 4, I64: 8 };

export function isRawDtype(s: string): s is RawDtype {
  return Object.hasOwn(RAW_DTYPE_BYTES, s);
}

export function isFloatDtype(d: RawDtype): d is 'F32' | 'F16' | 'BF16' {
  return d === 'F32' || d === 'F16' || d === 'BF16';
}

export interface RawTensorInfo {
  name: string;
  dtype: RawDtype;
  dims: number[];
  /** File it lives in, for messages. */
  file: string;
  byteLength: number;
}

export interface RawTensorSource {
  /** The checkpoint directory. */
  readonly dir: string;
  names(): string[];
  has(name: string): boolean;
  /** Throws a CheckpointError naming the tensor when it is missing. */
  info(name: string): RawTensorInfo;
  /** The tensor's bytes: little-endian, contiguous row-major, in a fresh (aligned) ArrayBuffer. */
  read(name: string): Uint8Array;
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function formatDims(dims: readonly number[]): string {
  return `[${dims.join(', ')}]`;
}
