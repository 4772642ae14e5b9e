// safetensors files: an 8-byte little-endian header length, a JSON header mapping tensor names to
// {dtype, shape, data_offsets}, then the raw tensor bytes. Tensors are read one at a time straight
// from their file offsets, so a stage loads only the layers it holds.
import fs from 'node:fs';
import path from 'node:path';
import { ChatGlmError } from '@chatglm/common';
import { bfloat16ToFloat32, float16ToFloat32 } from '../model/float16.ts';
import type { HostTensor, WeightSource } from '../model/weights.ts';

export class CheckpointError extends ChatGlmError {
  constructor(message: string) {
    super('invalid_checkpoint', message);
  }
}

type SafetensorsDtype = 'F32' | 'F16' | 'BF16';
const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };

interface TensorEntry {
  file: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

/** Reads the header of one safetensors file. */
export function readSafetensorsHeader(file: string): Map<string, TensorEntry> {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const lenBuf = Buffer.alloc(8);
    if (size < 8 || fs.readSync(fd, lenBuf, 0, 8, 0) !== 8) throw new CheckpointError(`${file}: too short to be a safetensors file`);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > size - 8 || headerLen > 100 * 2 ** 20) throw new CheckpointError(`${file}: header length ${headerLen} exceeds the file (truncated or not safetensors)`);
    const headerBuf = Buffer.alloc(headerLen);
    fs.readSync(fd, headerBuf, 0, headerLen, 8);
    let header: Record<string, unknown>;
    try {
      header = JSON.parse(headerBuf.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new CheckpointError(`${file}: header is not valid JSON`);
    }
    const dataStart = 8 + headerLen;
    const out = new Map<string, TensorEntry>();
    for (const [name, raw] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const e = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
      if (!e.dtype || !(e.dtype in BYTES)) throw new CheckpointError(`${file}: tensor "${name}" has unsupported dtype ${e.dtype} (supported: F32, F16, BF16)`);
      const dtype = e.dtype as SafetensorsDtype;
      const shape = e.shape ?? [];
      const [b, en] = e.data_offsets ?? [0, 0];
      const count = shape.reduce((x, y) => x * y, 1);
      if (en - b !== count * BYTES[dtype]) throw new CheckpointError(`${file}: tensor "${name}" byte range ${b}..${en} does not match shape [${shape.join(', ')}] ${dtype}`);
      if (dataStart + en > size) throw new CheckpointError(`${file}: tensor "${name}" ends at byte ${dataStart + en} beyond the file size ${size} (truncated file?)`);
      out.set(name, { file, dtype, shape, begin: dataStart + b, end: dataStart + en });
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** A checkpoint directory holding `model.safetensors` or shards listed in `model.safetensors.index.json`. */
export class SafetensorsWeightSource implements WeightSource {
  private readonly entries = new Map<string, TensorEntry>();

  constructor(readonly dir: string) {
    const indexFile = path.join(dir, 'model.safetensors.index.json');
    let files: string[];
    if (fs.existsSync(indexFile)) {
      const index = JSON.parse(fs.readFileSync(indexFile, 'utf8')) as { weight_map?: Record<string, string> };
      if (!index.weight_map) throw new CheckpointError(`${indexFile}: no "weight_map"`);
      files = [...new Set(Object.values(index.weight_map))].map((f) => path.join(dir, f));
      for (const f of files) if (!fs.existsSync(f)) throw new CheckpointError(`${indexFile} lists shard ${path.basename(f)}, which is missing from ${dir}`);
    } else {
      files = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).sort().map((f) => path.join(dir, f));
      if (files.length === 0) throw new CheckpointError(`${dir}: no *.safetensors files (this version reads safetensors checkpoints)`);
    }
    for (const f of files) for (const [name, e] of readSafetensorsHeader(f)) this.entries.set(name, e);
  }

  static isCheckpointDir(dir: string): boolean {
    return fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.endsWith('.safetensors'));
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  get(name: string): HostTensor {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(`${this.dir}: tensor "${name}" is missing from the checkpoint`);
    const bytes = readRange(e.file, e.begin, e.end);
    const count = (e.end - e.begin) / BYTES[e.dtype];
    let data: Float32Array;
    if (e.dtype === 'F32') data = new Float32Array(bytes.buffer, bytes.byteOffset, count);
    else if (e.dtype === 'F16') data = float16ToFloat32(new Uint16Array(bytes.buffer, bytes.byteOffset, count));
    else data = bfloat16ToFloat32(new Uint16Array(bytes.buffer, bytes.byteOffset, count));
    return { dims: [...e.shape], data };
  }
}

function readRange(file: string, begin: number, end: number): Uint8Array {
  // A fresh ArrayBuffer (not Buffer's pool) so that the data is aligned for typed-array views.
  const out = new Uint8Array(end - begin);
  const fd = fs.openSync(file, 'r');
  try {
    let done = 0;
    while (done < out.length) {
      const n = fs.readSync(fd, out, done, Math.min(out.length - done, 1 << 30), begin + done);
      if (n === 0) throw new CheckpointError(`${file}: unexpected end of file at byte ${begin + done}`);
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
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
