// What a torch.save'd state dict pickles to, and the allow-list that turns it into plain data:
// an (Ordered)dict of name -> _rebuild_tensor_v2(storage, offset, size, stride, ...), each storage a
// persistent id ('storage', <storage class>, key, location, numel) pointing at `data/<key>` in the
// archive. Nothing else is accepted; an unknown GLOBAL stops the read before anything runs.
import { PickleError, PyDict, PyTuple, unpickle, type PickleHooks } from './pickle-machine.ts';
import type { RawDtype } from './raw-tensor-source.ts';

/** The storage classes torch writes in persistent ids, and the element type each means. */
const STORAGE_DTYPES: Readonly<Record<string, RawDtype>> = {
  'torch.HalfStorage': 'F16',
  'torch.FloatStorage': 'F32',
  'torch.BFloat16Storage': 'BF16',
  'torch.CharStorage': 'I8',
  'torch.ByteStorage': 'U8',
  'torch.IntStorage': 'I32',
  'torch.LongStorage': 'I64',
  // An untyped storage (torch 2) is bytes: torch.load gives its tensors dtype uint8 too.
  'torch.UntypedStorage': 'U8',
  'torch.storage.UntypedStorage': 'U8',
};

/** Storage classes torch has but RawDtype cannot hold: named in the error so the user knows why. */
const UNSUPPORTED_STORAGES = new Set(['DoubleStorage', 'ShortStorage', 'BoolStorage', 'ComplexFloatStorage', 'ComplexDoubleStorage', 'QInt8Storage', 'QUInt8Storage', 'QInt32Storage', 'QUInt4x2Storage', 'QUInt2x4Storage']);

const ORDERED_DICT = 'collections.OrderedDict';
const REBUILD_TENSOR = 'torch._utils._rebuild_tensor_v2';
const REBUILD_PARAMETER = 'torch._utils._rebuild_parameter';

class AllowedGlobal {
  constructor(readonly qualified: string) {}
}

class StorageClass {
  constructor(readonly qualified: string, readonly dtype: RawDtype) {}
}

export interface StorageRef {
  /** Entry name under `<archive>/data/`. */
  key: string;
  dtype: RawDtype;
  /** Elements the pickle says the storage holds. */
  numel: number;
}

/** A tensor as torch.save describes it: a window of a storage. */
export interface TorchTensorRef {
  storage: StorageRef;
  /** In elements of the storage's dtype. */
  storageOffset: number;
  size: number[];
  stride: number[];
}

class TensorValue {
  constructor(readonly ref: TorchTensorRef) {}
}

class StorageValue {
  constructor(readonly ref: StorageRef) {}
}

/**
 * Parses a torch.save pickle into name -> tensor reference. Throws PickleError (with the byte
 * offset) for anything that is not a plain state dict of tensors.
 */
export function parseTorchStateDict(pickle: Uint8Array): Map<string, TorchTensorRef> {
  const result = unpickle(pickle, torchHooks);
  if (!(result instanceof PyDict)) throw new PickleError(`the pickle holds ${describe(result)}, not a state dict (a dict of tensors)`, 0);
  const out = new Map<string, TorchTensorRef>();
  for (const [key, value] of result.entries) {
    if (typeof key !== 'string') throw new PickleError(`state dict key ${describe(key)} is not a string`, 0);
    if (!(value instanceof TensorValue)) throw new PickleError(`state dict entry "${key}" is ${describe(value)}, not a tensor (is this a training checkpoint rather than model weights?)`, 0);
    out.set(key, value.ref);
  }
  return out;
}

const torchHooks: PickleHooks = {
  global(module, name, at) {
    const qualified = `${module}.${name}`;
    if (qualified === ORDERED_DICT || qualified === REBUILD_TENSOR || qualified === REBUILD_PARAMETER) return new AllowedGlobal(qualified);
    const dtype = STORAGE_DTYPES[qualified];
    if (dtype) return new StorageClass(qualified, dtype);
    if (module === 'torch' && UNSUPPORTED_STORAGES.has(name)) {
      throw new PickleError(`storage type ${qualified} is not supported (the readers take F32, F16, BF16, I8, U8, I32 and I64 tensors)`, at);
    }
    throw new PickleError(
      `refusing pickle GLOBAL ${qualified}: a checkpoint may only reference ${ORDERED_DICT}, ${REBUILD_TENSOR}, ${REBUILD_PARAMETER} and torch storage types (this is not a plain torch.save state dict, or it is malicious; nothing was executed)`,
      at,
    );
  },

  reduce(callable, args, at) {
    if (!(callable instanceof AllowedGlobal)) throw new PickleError(`REDUCE calls ${describe(callable)}, which is not an allowed callable`, at);
    const a = args.items;
    switch (callable.qualified) {
      case ORDERED_DICT:
        // torch writes OrderedDict() then SETITEMS; it never passes initial items.
        if (a.length !== 0) throw new PickleError(`${ORDERED_DICT} called with arguments`, at);
        return new PyDict();
      case REBUILD_PARAMETER: {
        // _rebuild_parameter(data, requires_grad, backward_hooks): the tensor is all we keep.
        if (a.length < 1 || !(a[0] instanceof TensorValue)) throw new PickleError(`${REBUILD_PARAMETER} without a tensor`, at);
        return a[0];
      }
      default:
        return rebuildTensor(a, at);
    }
  },

  build(obj, _state, at) {
    // state_dict() carries `_metadata` (module versions) as the OrderedDict's instance state: ignored.
    if (obj instanceof PyDict) return obj;
    throw new PickleError(`BUILD on ${describe(obj)} (only state dicts may carry state)`, at);
  },

  persistentLoad(pid, at) {
    const p = pid instanceof PyTuple ? pid.items : [];
    const [tag, cls, key, _location, numel] = p;
    if (p.length !== 5 || tag !== 'storage') throw new PickleError(`persistent id ${describe(pid)} is not a torch storage reference`, at);
    if (!(cls instanceof StorageClass)) throw new PickleError(`storage reference with type ${describe(cls)}, not a storage class`, at);
    if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(key)) throw new PickleError(`storage key ${describe(key)} is not a plain name`, at);
    if (!isCount(numel)) throw new PickleError(`storage ${key} has element count ${describe(numel)}`, at);
    return new StorageValue({ key, dtype: cls.dtype, numel });
  },
};

/** _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]). */
function rebuildTensor(a: readonly unknown[], at: number): TensorValue {
  const [storage, offset, size, stride] = a;
  if (a.length < 4 || a.length > 7) throw new PickleError(`${REBUILD_TENSOR} with ${a.length} arguments`, at);
  if (!(storage instanceof StorageValue)) throw new PickleError(`${REBUILD_TENSOR} without a storage`, at);
  if (!isCount(offset)) throw new PickleError(`${REBUILD_TENSOR} with storage offset ${describe(offset)}`, at);
  const dims = counts(size);
  const strides = counts(stride);
  if (!dims || !strides || dims.length !== strides.length) throw new PickleError(`${REBUILD_TENSOR} with size ${describe(size)} and stride ${describe(stride)}`, at);
  return new TensorValue({ storage: storage.ref, storageOffset: offset, size: dims, stride: strides });
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function counts(v: unknown): number[] | null {
  if (!(v instanceof PyTuple) || !v.items.every(isCount)) return null;
  return v.items as number[];
}

function describe(v: unknown): string {
  if (v instanceof AllowedGlobal || v instanceof StorageClass) return v.qualified;
  if (v instanceof TensorValue) return 'a tensor';
  if (v instanceof StorageValue) return 'a storage';
  if (v instanceof PyDict) return 'a dict';
  if (v instanceof PyTuple) return `a tuple of ${v.items.length}`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  return String(v);
}
