// Test helper: writes torch.save-style .bin files without Python, so that tests can make big
// checkpoints (the memory test), ZIP64 forms and damaged variants on the spot. It follows what
// torch 2 writes (scripts/checkpoints/make_tiny_checkpoints.py has real ones): a stored zip whose
// `<archive>/data.pkl` is a protocol-2 pickle of an OrderedDict of _rebuild_tensor_v2 calls, and one
// `<archive>/data/<key>` entry per storage, each aligned to 64 bytes by local-header padding.
import fs from 'node:fs';
import zlib from 'node:zlib';
import { RAW_DTYPE_BYTES, type RawDtype } from '@chatglm/glm';

const STORAGE_CLASS: Record<RawDtype, string> = {
  F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage', I8: 'CharStorage', U8: 'ByteStorage', I32: 'IntStorage', I64: 'LongStorage',
};

export interface TensorSpec {
  name: string;
  dtype: RawDtype;
  dims: number[];
  /** Storage entry key (default: the tensor's index); tensors naming the same key share it. */
  key?: string;
  /** In elements (default 0). */
  storageOffset?: number;
  /** Default: contiguous. */
  stride?: number[];
  /** Elements the pickle claims for the storage (default: what the stored bytes hold). */
  storageNumel?: number;
}

export interface StorageSpec {
  key: string;
  /** Raw bytes, or a generator called once while writing (so big files never sit in memory). */
  bytes: Uint8Array | (() => Uint8Array);
  byteLength: number;
}

export function contiguousStride(dims: readonly number[]): number[] {
  const out = new Array<number>(dims.length);
  let s = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    out[i] = s;
    s *= dims[i] as number;
  }
  return out;
}

/** Pickle opcodes, spelled out (same bytes as Python's pickle module writes). */
export class PickleBuilder {
  private readonly parts: Buffer[] = [];

  op(code: number, ...payload: Buffer[]): this {
    this.parts.push(Buffer.of(code), ...payload);
    return this;
  }
  proto(): this { return this.op(0x80, Buffer.of(2)); }
  mark(): this { return this.op(0x28); }
  global(module: string, name: string): this { return this.op(0x63, Buffer.from(`${module}\n${name}\n`)); }
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    return this.op(0x58, len, b);
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, Buffer.of(n));
    if (n >= 0 && n < 65536) { const b = Buffer.alloc(2); b.writeUInt16LE(n); return this.op(0x4d, b); }
    if (n >= -(2 ** 31) && n < 2 ** 31) { const b = Buffer.alloc(4); b.writeInt32LE(n); return this.op(0x4a, b); }
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(n));
    return this.op(0x8a, Buffer.of(8), b);
  }
  tuple(items: number[]): this {
    this.mark();
    for (const n of items) this.int(n);
    return this.op(0x74);
  }
  emptyTuple(): this { return this.op(0x29); }
  reduce(): this { return this.op(0x52); }
  stop(): Buffer { return Buffer.concat([...this.parts, Buffer.of(0x2e)]); }
}

/** The pickle torch.save writes for an OrderedDict state dict. */
export function stateDictPickle(tensors: TensorSpec[], storageNumel: (key: string) => number): Buffer {
  const p = new PickleBuilder().proto().global('collections', 'OrderedDict').emptyTuple().reduce().mark();
  tensors.forEach((t, i) => {
    const key = t.key ?? String(i);
    p.str(t.name).global('torch._utils', '_rebuild_tensor_v2').mark();
    p.mark().str('storage').global('torch', STORAGE_CLASS[t.dtype]).str(key).str('cpu').int(t.storageNumel ?? storageNumel(key)).op(0x74).op(0x51);
    p.int(t.storageOffset ?? 0).tuple(t.dims).tuple(t.stride ?? contiguousStride(t.dims));
    p.op(0x89).global('collections', 'OrderedDict').emptyTuple().reduce().op(0x74).reduce();
  });
  return p.op(0x75).stop();
}

export interface ZipOptions {
  /** 'full' saturates every 32-bit field and puts the real values in ZIP64 records. */
  zip64?: 'none' | 'eocd' | 'full';
  /** Deflate this entry (torch never does; readers must refuse it). */
  compress?: string;
}

interface Written {
  name: string;
  offset: number;
  size: number;
  compressedSize: number;
  crc: number;
  method: number;
}

/** Writes a zip of stored entries (torch-style 64-byte data alignment), streaming each entry's bytes. */
export function writeZip(file: string, entries: { name: string; bytes: Uint8Array | (() => Uint8Array) }[], options: ZipOptions = {}): void {
  const fd = fs.openSync(file, 'w');
  let pos = 0;
  const write = (b: Uint8Array) => {
    fs.writeSync(fd, b, 0, b.length, pos);
    pos += b.length;
  };
  const written: Written[] = [];
  try {
    for (const e of entries) {
      let data = typeof e.bytes === 'function' ? e.bytes() : e.bytes;
      const crc = zlib.crc32(data);
      const size = data.length;
      const method = options.compress === e.name ? 8 : 0;
      if (method === 8) data = zlib.deflateRawSync(data);
      const name = Buffer.from(e.name);
      // Pad the local extra field (id 0x4246 "FB", as torch does) so the data starts 64-byte aligned.
      const base = pos + 30 + name.length + 4;
      const pad = (64 - (base % 64)) % 64;
      const extra = Buffer.alloc(4 + pad);
      extra.writeUInt16LE(0x4246, 0);
      extra.writeUInt16LE(pad, 2);
      const h = Buffer.alloc(30);
      h.writeUInt32LE(0x04034b50, 0);
      h.writeUInt16LE(45, 4);
      h.writeUInt16LE(method, 8);
      h.writeUInt32LE(crc, 14);
      h.writeUInt32LE(data.length, 18);
      h.writeUInt32LE(size, 22);
      h.writeUInt16LE(name.length, 26);
      h.writeUInt16LE(extra.length, 28);
      written.push({ name: e.name, offset: pos, size, compressedSize: data.length, crc, method });
      write(h);
      write(name);
      write(extra);
      write(data);
      data = new Uint8Array(0); // let a generated entry go before the next is made
    }
    const full = options.zip64 === 'full';
    const cdStart = pos;
    for (const w of written) {
      const name = Buffer.from(w.name);
      const extra = full ? Buffer.alloc(4 + 24) : Buffer.alloc(0);
      if (full) {
        extra.writeUInt16LE(0x0001, 0);
        extra.writeUInt16LE(24, 2);
        extra.writeBigUInt64LE(BigInt(w.size), 4);
        extra.writeBigUInt64LE(BigInt(w.compressedSize), 12);
        extra.writeBigUInt64LE(BigInt(w.offset), 20);
      }
      const c = Buffer.alloc(46);
      c.writeUInt32LE(0x02014b50, 0);
      c.writeUInt16LE(45, 4);
      c.writeUInt16LE(45, 6);
      c.writeUInt16LE(w.method, 10);
      c.writeUInt32LE(w.crc, 16);
      c.writeUInt32LE(full ? 0xffffffff : w.compressedSize, 20);
      c.writeUInt32LE(full ? 0xffffffff : w.size, 24);
      c.writeUInt16LE(name.length, 28);
      c.writeUInt16LE(extra.length, 30);
      c.writeUInt32LE(full ? 0xffffffff : w.offset, 42);
      write(c);
      write(name);
      write(extra);
    }
    const cdSize = pos - cdStart;
    if (options.zip64 === 'eocd' || full) {
      const recordPos = pos;
      const r = Buffer.alloc(56);
      r.writeUInt32LE(0x06064b50, 0);
      r.writeBigUInt64LE(44n, 4);
      r.writeUInt16LE(45, 12);
      r.writeUInt16LE(45, 14);
      r.writeBigUInt64LE(BigInt(written.length), 24);
      r.writeBigUInt64LE(BigInt(written.length), 32);
      r.writeBigUInt64LE(BigInt(cdSize), 40);
      r.writeBigUInt64LE(BigInt(cdStart), 48);
      write(r);
      const l = Buffer.alloc(20);
      l.writeUInt32LE(0x07064b50, 0);
      l.writeBigUInt64LE(BigInt(recordPos), 8);
      l.writeUInt32LE(1, 16);
      write(l);
    }
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(full ? 0xffff : written.length, 8);
    eocd.writeUInt16LE(full ? 0xffff : written.length, 10);
    eocd.writeUInt32LE(full ? 0xffffffff : cdSize, 12);
    eocd.writeUInt32LE(full ? 0xffffffff : cdStart, 16);
    write(eocd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A torch.save-style state dict file. `storages` default to one per tensor holding exactly its
 * bytes; pass them to share storages or to make damaged files.
 */
export function writeTorchBin(
  file: string,
  tensors: TensorSpec[],
  storages: StorageSpec[],
  options: ZipOptions & { archive?: string; pickle?: Buffer } = {},
): void {
  const archive = options.archive ?? 'archive';
  const byKey = new Map(storages.map((s) => [s.key, s]));
  const dtypeOf = new Map(tensors.map((t, i) => [t.key ?? String(i), t.dtype]));
  const numel = (key: string) => (byKey.get(key)?.byteLength ?? 0) / RAW_DTYPE_BYTES[dtypeOf.get(key) ?? 'U8'];
  const pickle = options.pickle ?? stateDictPickle(tensors, numel);
  writeZip(
    file,
    [
      { name: `${archive}/data.pkl`, bytes: pickle },
      { name: `${archive}/byteorder`, bytes: Buffer.from('little') },
      ...storages.map((s) => ({ name: `${archive}/data/${s.key}`, bytes: s.bytes })),
      { name: `${archive}/version`, bytes: Buffer.from('3\n') },
    ],
    options,
  );
}
