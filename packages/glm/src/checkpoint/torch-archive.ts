// One torch.save file (PyTorch >= 1.6 zip format): `<archive>/data.pkl` describes the tensors,
// `<archive>/data/<key>` holds each storage's raw bytes. Only the pickle and the zip directory are
// read here; the result locates every tensor's bytes in the file for reading one at a time.
import { CheckpointError } from './checkpoint-error.ts';
import type { LocatedTensor } from './located-tensors.ts';
import { PickleError } from './pickle-machine.ts';
import { RAW_DTYPE_BYTES, elementCount, formatDims } from './raw-tensor-source.ts';
import { parseTorchStateDict, type TorchTensorRef } from './torch-pickle.ts';
import { ZipArchive, type ZipEntry } from './zip-archive.ts';

/** ChatGLM-6B's data.pkl files are ~40 KB; a pickle far over that is not a state dict. */
const MAX_PICKLE_BYTES = 64 * 2 ** 20;

export function readTorchArchive(file: string): Map<string, LocatedTensor> {
  const head = ZipArchive.head(file);
  if (!ZipArchive.hasZipMagic(head)) {
    // The pre-1.6 format starts with a pickled magic number (PROTO 2, LONG1).
    const legacy = head[0] === 0x80 && head[1] === 0x02 && head[2] === 0x8a;
    throw new CheckpointError(
      legacy
        ? `${file}: a torch.save file in the legacy (pre-1.6, non-zip) format, which is not read; re-save it with torch.save from PyTorch >= 1.6`
        : `${file}: not a torch.save zip archive (no PK\\x03\\x04 magic${head.length === 0 ? '; the file is empty' : ''})`,
    );
  }
  const zip = ZipArchive.open(file);
  const pklName = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (!pklName) throw new CheckpointError(`${file}: zip archive has no <archive>/data.pkl: not a torch.save file`);
  const prefix = pklName.slice(0, -'data.pkl'.length);
  const byteorder = zip.entries.get(`${prefix}byteorder`);
  if (byteorder) {
    const order = new TextDecoder().decode(zip.read(byteorder, 16)).trim();
    if (order !== 'little') throw new CheckpointError(`${file}: tensors were saved ${order}-endian; only little-endian checkpoints are read`);
  }
  let refs: Map<string, TorchTensorRef>;
  try {
    refs = parseTorchStateDict(zip.read(zip.entries.get(pklName) as ZipEntry, MAX_PICKLE_BYTES));
  } catch (err) {
    if (err instanceof PickleError) throw new CheckpointError(`${file}: ${pklName} at byte ${err.at}: ${err.message}`, { cause: err });
    throw err;
  }
  const storageStart = new Map<string, number>();
  const out = new Map<string, LocatedTensor>();
  for (const [name, ref] of refs) {
    const entry = zip.entries.get(`${prefix}data/${ref.storage.key}`);
    if (!entry) throw new CheckpointError(`${file}: tensor "${name}" refers to storage ${ref.storage.key}, which the archive lacks`);
    let start = storageStart.get(entry.name);
    if (start === undefined) {
      start = zip.dataOffset(entry);
      storageStart.set(entry.name, start);
    }
    out.set(name, locate(file, name, ref, entry, start));
  }
  return out;
}

function locate(file: string, name: string, ref: TorchTensorRef, entry: ZipEntry, start: number): LocatedTensor {
  const { storage, storageOffset, size, stride } = ref;
  const elem = RAW_DTYPE_BYTES[storage.dtype];
  const where = `${file}: tensor "${name}"`;
  if (storage.numel * elem > entry.size) {
    throw new CheckpointError(`${where}: storage ${storage.key} should hold ${storage.numel} ${storage.dtype} elements (${storage.numel * elem} bytes) but has ${entry.size} bytes`);
  }
  if (!isContiguous(size, stride)) {
    throw new CheckpointError(`${where} is not contiguous (size ${formatDims(size)}, stride ${formatDims(stride)}); save tensor.contiguous() instead`);
  }
  const numel = elementCount(size);
  if (storageOffset + numel > storage.numel) {
    throw new CheckpointError(`${where} needs elements ${storageOffset}..${storageOffset + numel} of storage ${storage.key}, which holds only ${storage.numel} (storage shorter than its tensor)`);
  }
  return { name, file, dtype: storage.dtype, dims: [...size], byteLength: numel * elem, offset: start + storageOffset * elem };
}

/** Row-major with no gaps; a dimension of size 1 may have any stride, and an empty tensor is trivially contiguous. */
function isContiguous(size: readonly number[], stride: readonly number[]): boolean {
  if (size.includes(0)) return true;
  let expected = 1;
  for (let i = size.length - 1; i >= 0; i--) {
    const n = size[i] as number;
    if (n !== 1 && stride[i] !== expected) return false;
    expected *= n;
  }
  return true;
}
