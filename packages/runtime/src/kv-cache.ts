// The KV cache of one stage, held in JS typed arrays (docs/architecture.md, "Model runtime"): ONNX Runtime reads it as
// zero-copy inputs and the stage writes each step's new rows itself, so the cache is never an output.
//
// Per layer one slab of keys and one of values, both [slots, heads, capacity, headDim]. A sequence
// owns one slot; a batch reads the contiguous slot range that covers its sequences as one tensor.
// A new position is one contiguous row of headDim elements per head, so an append is `heads` copies,
// and the memory a slot touches grows with its length: the operating system commits a slab's pages
// on first write, 8 positions of one head per 4 KiB page at headDim 128 in fp32, 16 in fp16
// (docs/performance.md, "KV cache").
//
// Elements are fp32 (Float32Array) or fp16 (their bits in a Uint16Array, as ONNX Runtime's Node
// binding takes and gives float16 tensors); the graph's new rows come in the cache's own dtype, so
// an append copies bits and never converts.
//
// A P-tuning v2 prefix (docs/model.md §10) occupies positions [0, P) of every slot of every layer: it is
// written once, when the cache is made, and a sequence starts at length P. Nothing overwrites it,
// because appends start at a slot's length, which never drops below P.
import { ChatGlmError, float16ToFloat32, float32ToFloat16 } from '@chatglm/common';
import type { KvCacheDtype, PrefixLayerKv } from '@chatglm/glm';

export interface KvCacheShape {
  /** Absolute indices of the layers this stage holds. */
  layers: number[];
  heads: number;
  headDim: number;
  /** Sequences held at once. */
  slots: number;
  /** Positions per sequence (any P-tuning prefix + prompt + generated). */
  capacity: number;
  /** Default 'float32'. */
  dtype?: KvCacheDtype;
}

/** A slab, or a graph output of new rows, in the cache's dtype. */
export type KvElements = Float32Array | Uint16Array;

/** The prefix written ahead of every sequence: `layers` in the same order as KvCacheShape.layers. */
export interface CachePrefix {
  length: number;
  layers: PrefixLayerKv[];
}

export class KvCapacityError extends ChatGlmError {
  constructor(message: string) {
    super('kv_capacity', message);
  }
}

export class KvCache {
  readonly keys = new Map<number, KvElements>();
  readonly values = new Map<number, KvElements>();
  readonly dtype: KvCacheDtype;
  /** Elements per slot in one layer's slab. */
  readonly slotSize: number;
  private readonly lengths: Int32Array;
  private readonly owner: (string | undefined)[];
  private readonly slotOf = new Map<string, number>();

  /** P-tuning prefix positions at the start of every slot (0 without a prefix). */
  readonly prefixLength: number;

  constructor(readonly shape: KvCacheShape, prefix?: CachePrefix) {
    this.slotSize = shape.heads * shape.headDim * shape.capacity;
    this.prefixLength = prefix?.length ?? 0;
    if (this.prefixLength >= shape.capacity) {
      throw new ChatGlmError('invalid_stage_spec', `${shape.capacity} cached positions per sequence leave no room for tokens after the ${this.prefixLength}-position P-tuning prefix; raise it above ${this.prefixLength}`);
    }
    this.dtype = shape.dtype ?? 'float32';
    const total = this.slotSize * shape.slots;
    const slab = () => (this.dtype === 'float16' ? new Uint16Array(total) : new Float32Array(total));
    for (const l of shape.layers) {
      this.keys.set(l, slab());
      this.values.set(l, slab());
    }
    if (prefix) this.writePrefix(prefix);
    this.lengths = new Int32Array(shape.slots).fill(this.prefixLength);
    this.owner = new Array<string | undefined>(shape.slots).fill(undefined);
  }

  get activeSequences(): number {
    return this.slotOf.size;
  }

  /** Positions the active sequences have cached, not counting the P-tuning prefix each slot holds. */
  get cachedTokens(): number {
    let total = 0;
    for (const slot of this.slotOf.values()) total += this.length(slot) - this.prefixLength;
    return total;
  }

  /** Gives a new sequence the lowest free slot (keeping batches' slot ranges compact). */
  allocate(seqId: string): number {
    if (this.slotOf.has(seqId)) throw new ChatGlmError('duplicate_sequence', `sequence ${seqId} already holds a KV slot; release it first`);
    const slot = this.owner.indexOf(undefined);
    if (slot < 0) throw new KvCapacityError(`all ${this.shape.slots} KV slots are in use`);
    this.owner[slot] = seqId;
    this.slotOf.set(seqId, slot);
    this.lengths[slot] = this.prefixLength;
    return slot;
  }

  release(seqId: string): boolean {
    const slot = this.slotOf.get(seqId);
    if (slot === undefined) return false;
    this.slotOf.delete(seqId);
    this.owner[slot] = undefined;
    this.lengths[slot] = this.prefixLength;
    return true;
  }

  slot(seqId: string): number {
    const slot = this.slotOf.get(seqId);
    if (slot === undefined) throw new ChatGlmError('unknown_sequence', `sequence ${seqId} has no KV slot on this stage (never prefilled, or released)`);
    return slot;
  }

  length(slot: number): number {
    return this.lengths[slot] as number;
  }

  /** Zero-copy views of one layer's keys and values for slots [first, last]. */
  view(layer: number, first: number, last: number): { keys: KvElements; values: KvElements } {
    const from = first * this.slotSize;
    const to = (last + 1) * this.slotSize;
    return { keys: (this.keys.get(layer) as KvElements).subarray(from, to), values: (this.values.get(layer) as KvElements).subarray(from, to) };
  }

  /** Bytes one cached position takes across this stage's layers (keys and values). */
  get bytesPerPosition(): number {
    return this.shape.layers.length * 2 * this.shape.heads * this.shape.headDim * (this.dtype === 'float16' ? 2 : 4);
  }

  ensureRoom(slot: number, extra: number): void {
    const needed = this.length(slot) + extra;
    if (needed > this.shape.capacity) {
      const prefix = this.prefixLength > 0 ? ` (${this.prefixLength} of them the P-tuning prefix)` : '';
      throw new KvCapacityError(`sequence ${this.owner[slot]} needs ${needed} cached positions${prefix} but this stage holds ${this.shape.capacity} per sequence`);
    }
  }

  /**
   * Appends `count` new rows for one sequence in one layer. `newKeys` and `newValues` are
   * [heads, tokens, headDim] per sequence in the cache's dtype, starting at `keyOffset`/`valueOffset`
   * elements of the graph's output buffers (which hold the rows of the whole batch; `stride.tokens` >= count).
   */
  append(layer: number, slot: number, count: number, newKeys: KvElements, keyOffset: number, newValues: KvElements, valueOffset: number, stride: { tokens: number }): void {
    const { heads, headDim, capacity } = this.shape;
    const at = this.length(slot);
    const keys = this.keys.get(layer) as KvElements;
    const values = this.values.get(layer) as KvElements;
    if (newKeys.constructor !== keys.constructor || newValues.constructor !== values.constructor) {
      throw new ChatGlmError('stage_internal', `new KV rows of layer ${layer} are not in the cache's ${this.dtype} (does the graph's KV dtype match the cache's?)`);
    }
    const base = slot * this.slotSize;
    const rows = count * headDim;
    for (let h = 0; h < heads; h++) {
      const src = h * stride.tokens * headDim;
      const dst = base + (h * capacity + at) * headDim;
      copyElements(keys, dst, newKeys, keyOffset + src, rows);
      copyElements(values, dst, newValues, valueOffset + src, rows);
    }
  }

  /**
   * A copy of one sequence's cache in one layer, [heads, length, headDim], as fp32 whatever the
   * cache's dtype; the first `prefixLength` positions are the P-tuning prefix.
   */
  read(seqId: string, layer: number): { keys: Float32Array; values: Float32Array; length: number } {
    const { heads, headDim, capacity } = this.shape;
    const slot = this.slot(seqId);
    const length = this.length(slot);
    const base = slot * this.slotSize;
    const k = this.keys.get(layer);
    const v = this.values.get(layer);
    if (!k || !v) throw new ChatGlmError('unknown_layer', `layer ${layer} is not held by this stage`);
    const rows = (slab: KvElements) => {
      const out = slab instanceof Float32Array ? new Float32Array(heads * length * headDim) : new Uint16Array(heads * length * headDim);
      for (let h = 0; h < heads; h++) copyElements(out, h * length * headDim, slab, base + h * capacity * headDim, length * headDim);
      return out instanceof Float32Array ? out : float16ToFloat32(out);
    };
    return { keys: rows(k), values: rows(v), length };
  }

  /** Copies each layer's prefix ([heads, P, headDim] keys and values) into positions [0, P) of every slot. */
  private writePrefix(prefix: CachePrefix): void {
    const { heads, headDim, capacity, slots, layers } = this.shape;
    const P = prefix.length;
    layers.forEach((l, i) => {
      const src = prefix.layers[i];
      if (!src || src.layer !== l || src.keys.length !== heads * P * headDim || src.values.length !== heads * P * headDim) {
        throw new ChatGlmError('invalid_stage_spec', `the P-tuning prefix has no [${heads}, ${P}, ${headDim}] keys and values for layer ${l}`);
      }
      const keys = this.keys.get(l) as KvElements;
      const values = this.values.get(l) as KvElements;
      // The prefix is computed in fp32; an fp16 cache holds it rounded, like every other position.
      const srcKeys = keys instanceof Float32Array ? src.keys : float32ToFloat16(src.keys);
      const srcValues = values instanceof Float32Array ? src.values : float32ToFloat16(src.values);
      for (let s = 0; s < slots; s++) {
        const base = s * this.slotSize;
        for (let h = 0; h < heads; h++) {
          copyElements(keys, base + h * capacity * headDim, srcKeys, h * P * headDim, P * headDim);
          copyElements(values, base + h * capacity * headDim, srcValues, h * P * headDim, P * headDim);
        }
      }
    });
  }

  /** Marks `count` appended positions as valid (after every layer has been written). */
  advance(slot: number, count: number): void {
    this.lengths[slot] = this.length(slot) + count;
  }
}

/**
 * Copies `count` elements of `src` from `from` into `dst` at `at`. Both hold the cache's one dtype
 * (fp32 values, or fp16 bits), so this copies bits; a Float32Array given a Uint16Array would
 * convert numbers instead, which is why append() checks the dtypes first.
 */
function copyElements(dst: KvElements, at: number, src: KvElements, from: number, count: number): void {
  (dst as Float32Array).set((src as Float32Array).subarray(from, from + count), at);
}
