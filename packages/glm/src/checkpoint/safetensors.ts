// safetensors files: an 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then the raw tensor bytes. Tensors are read one at a time straight
// from their file offsets, so a stage loads only the layers it holds.
import fs from 'node:fs';
import path from 'node:path';
import type { HostTensor } from '../model/weights.ts';
import { CheckpointError } from './checkpoint-error.ts';
import { FloatWeightSource } from './float-weights.ts';
import { LocatedTensorSource, type LocatedTensor } from './located-tensors.ts';
import { RAW_DTYPE_BYTES, elementCount, formatDims, isFloatDtype, isRawDtype } from './raw-tensor-source.ts';
import { assembleFiles, assembleIndexedShards } from './shard-index.ts';

export { CheckpointError } from './checkpoint-error.ts';

export const SAFETENSORS_INDEX = 'model.safetensors.index.json';

/** A header over this size is not a checkpoint header (ChatGLM-6B's are a few tens of KB). */
const MAX_HEADER_BYTES = 100 * 2 ** 20;

/** Reads the header of one safetensors file; entries carry absolute file offsets. */
export function readSafetensorsHeader(file: string): Map<string, LocatedTensor> {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const lenBuf = Buffer.alloc(8);
    if (size < 8 || fs.readSync(fd, lenBuf, 0, 8, 0) !== 8) throw new CheckpointError(`${file}: too short to be a safetensors file`);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > size - 8 || headerLen > MAX_HEADER_BYTES) throw new CheckpointError(`${file}: header length ${headerLen} exceeds the file (truncated or not safetensors)`);
    const headerBuf = Buffer.alloc(headerLen);
    fs.readSync(fd, headerBuf, 0, headerLen, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBuf.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new CheckpointError(`${file}: header is not valid JSON`);
    }
    const dataStart = 8 + headerLen;
    const out = new Map<string, LocatedTensor>();
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e.dtype !== 'string' || !isRawDtype(e.dtype)) {
        throw new CheckpointError(`${file}: tensor "${name}" has unsupported dtype ${String(e.dtype)} (supported: ${Object.keys(RAW_DTYPE_BYTES).join(', ')})`);
      }
      const shape = e.shape ?? [];
      const offsets = e.data_offsets ?? [0, 0];
      if (!isIntArray(shape) || !isIntArray(offsets) || offsets.length !== 2) throw new CheckpointError(`${file}: tensor "${name}" has a malformed shape or data_offsets`);
      const [b, en] = offsets as [number, number];
      if (en - b !== elementCount(shape) * RAW_DTYPE_BYTES[e.dtype]) throw new CheckpointError(`${file}: tensor "${name}" byte range ${b}..${en} does not match shape ${formatDims(shape)} ${e.dtype}`);
      if (dataStart + en > size) throw new CheckpointError(`${file}: tensor "${name}" ends at byte ${dataStart + en} beyond the file size ${size} (truncated file?)`);
      out.set(name, { name, file, dtype: e.dtype, dims: shape, byteLength: en - b, offset: dataStart + b });
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

function isIntArray(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && x >= 0);
}

/** Raw tensors of `model.safetensors`, or of the shards listed in `model.safetensors.index.json`. */
export class SafetensorsSource extends LocatedTensorSource {
  constructor(dir: string) {
    const indexFile = path.join(dir, SAFETENSORS_INDEX);
    if (fs.existsSync(indexFile)) {
      super(dir, assembleIndexedShards(dir, indexFile, readSafetensorsHeader), `the shards of ${SAFETENSORS_INDEX}`);
    } else {
      const files = SafetensorsSource.files(dir);
      if (files.length === 0) throw new CheckpointError(`${dir}: no *.safetensors files`);
      super(dir, assembleFiles(files, readSafetensorsHeader), files.map((f) => path.basename(f)).join(', '));
    }
  }

  static files(dir: string): string[] {
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort().map((f) => path.join(dir, f)) : [];
  }

  static isCheckpointDir(dir: string): boolean {
    return fs.existsSync(path.join(dir, SAFETENSORS_INDEX)) || SafetensorsSource.files(dir).length > 0;
  }
}

/**
 * A safetensors checkpoint as fp32 weights (F32/F16/BF16 only: a tensor of another dtype is refused
 * when the directory is opened, not when the stage first needs it).
 */
export class SafetensorsWeightSource extends FloatWeightSource {
  constructor(readonly dir: string) {
    const source = new SafetensorsSource(dir);
    for (const name of source.names()) {
      const info = source.info(name);
      if (!isFloatDtype(info.dtype)) {
        throw new CheckpointError(`${info.file}: tensor "${name}" has unsupported dtype ${info.dtype} here (SafetensorsWeightSource widens F32, F16 and BF16; open it with openCheckpoint for raw access)`);
      }
    }
    super(source);
  }

  static isCheckpointDir(dir: string): boolean {
    return SafetensorsSource.isCheckpointDir(dir);
  }
}

/** Writes fp32 tensors as one safetensors file (generated models, test fixtures). */
export function writeSafetensors(file: string, tensors: Map<string, HostTensor>, metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: 'F32', shape: t.dims, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  // Pad with spaces so tensor data starts 8-byte aligned, as the format recommends.
  const headerBytes = Buffer.concat([json, Buffer.from(' '.repeat((8 - (json.length % 8)) % 8))]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, len);
    fs.writeSync(fd, headerBytes);
    for (const t of tensors.values()) fs.writeSync(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  } finally {
    fs.closeSync(fd);
  }
}
