// The KV cache of one stage, held in JS typed arrays (docs/architecture.md, "Model runtime"): ONNX Runtime reads it as
// zero-copy inputs and the stage writes each step's new rows itself, so the cache is never an output.
// A WebGPU stage's pools are on the GPU instead (DeviceKvPools, storage 'device'); this class then
// keeps the same pages' bookkeeping, and says where each new row goes (rowTargets).
//
// The cache is paged. Per layer one pool of keys and one of values, both [heads, pages, pageSize,
// headDim]; a sequence holds a list of pages (its page table), one page per KV_PAGE_SIZE positions,
// taken from the pool as it grows and handed back when it ends. Every layer's pool is indexed by
// the same page numbers, so one table serves all of a stage's layers. The graph gathers a batch's
// pages by their tables; a position is a contiguous row of headDim elements per head within its
// page, so an append is a copy per head and page it touches.
//
// Memory follows the positions held, not the sequences' maximum length: the pools hold a budget of
// positions shared by all sequences (by default every slot at full length; `totalPositions` sets it
// lower, and the pipeline head then admits requests by the pages they hold, preempting the latest
// when they outgrow them, see @chatglm/scheduler), the operating system commits a page of memory
// on its first write, and a freed page is the next one handed out (a 16-position page of one head
// at headDim 128 is exactly one 4 KiB memory page in fp16). What stays committed is the most
// positions ever held at once, whichever sequences held them (docs/performance.md, "KV cache").
//
// Elements are fp32 (Float32Array) or fp16 (their bits in a Uint16Array, as ONNX Runtime's Node
// binding takes and gives float16 tensors); the graph's new rows come in the cache's own dtype, so
// an append copies bits and never converts.
//
// A P-tuning v2 prefix (docs/model.md §10) occupies positions [0, P) of every sequence: its whole
// pages are written once, when the cache is made, and shared by every sequence's table; the rest of
// it (P mod pageSize positions) is copied into each sequence's first own page. Nothing overwrites
// it, because appends start at a sequence's length, which never drops below P.
import { ChatGlmError, float16ToFloat32, float32ToFloat16 } from '@chatglm/common';
import type { KvCacheDtype, PrefixLayerKv } from '@chatglm/glm';

/** Positions per page. */
export const KV_PAGE_SIZE = 16;

/** The page every table is padded with (and the past of a sequence with none): never handed out, masked wherever it is read. */
const PADDING_PAGE = 0;

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
  /** Positions per page (default KV_PAGE_SIZE). */
  pageSize?: number;
  /**
   * Positions the pools hold for all sequences together (rounded up to whole pages; the shared
   * prefix pages come on top). Default: every slot at full capacity. At least one sequence of full
   * capacity must fit.
   */
  totalPositions?: number;
  /**
   * Where the pools are: 'host' (default), typed arrays this class holds and writes; or 'device',
   * pools on the GPU that the stage graph writes itself (DeviceKvPools), this class then keeping only
   * the pages' bookkeeping and the prefix for the device to write.
   */
  storage?: 'host' | 'device';
}

/** A pool, or a graph output of new rows, in the cache's dtype. */
export type KvElements = Float32Array | Uint16Array;

/** The prefix written ahead of every sequence: `layers` in the same order as KvCacheShape.layers. */
export interface CachePrefix {
  length: number;
  layers: PrefixLayerKv[];
}

/** Where one sequence's new rows are in a graph output of [heads, rows, tokens, headDim]. */
export interface NewRows {
  row: number;
  rows: number;
  tokens: number;
}

export class KvCapacityError extends ChatGlmError {
  constructor(message: string) {
    super('kv_capacity', message);
  }
}

export class KvCache {
  /** Each layer's pools, [heads, pages, pageSize, headDim]. */
  readonly keys = new Map<number, KvElements>();
  readonly values = new Map<number, KvElements>();
  readonly dtype: KvCacheDtype;
  readonly pageSize: number;
  /** Pages in each pool, the padding page and the shared prefix pages included. */
  readonly pages: number;
  /** Pages the sequences can hold together: `pages` less the padding page and the shared prefix pages. */
  readonly sequencePages: number;
  /** P-tuning prefix positions at the start of every sequence (0 without a prefix). */
  readonly prefixLength: number;

  /** False when the pools are on the device (KvCacheShape.storage). */
  readonly onHost: boolean;
  private readonly lengths: Int32Array;
  private readonly owner: (string | undefined)[];
  private readonly slotOf = new Map<string, number>();
  private readonly tables: number[][];
  /** Whole pages of the prefix, at the start of every table. */
  private readonly sharedPages: number[] = [];
  /** Per layer, the prefix's positions past its whole pages, [heads, tail, headDim] in the cache's dtype. */
  private readonly prefixTail = new Map<number, { keys: KvElements; values: KvElements }>();
  private readonly freePages: number[] = [];
  /** Pages never handed out start here. */
  private nextFreshPage: number;
  private pagesHeld = 0;

  constructor(readonly shape: KvCacheShape, readonly prefix?: CachePrefix) {
    this.prefixLength = prefix?.length ?? 0;
    if (this.prefixLength >= shape.capacity) {
      throw new ChatGlmError('invalid_stage_spec', `${shape.capacity} cached positions per sequence leave no room for tokens after the ${this.prefixLength}-position P-tuning prefix; raise it above ${this.prefixLength}`);
    }
    this.dtype = shape.dtype ?? 'float32';
    this.pageSize = shape.pageSize ?? KV_PAGE_SIZE;
    const sharedCount = Math.floor(this.prefixLength / this.pageSize);
    const ownPerSequence = Math.ceil((shape.capacity - sharedCount * this.pageSize) / this.pageSize);
    this.sequencePages = shape.totalPositions === undefined ? shape.slots * ownPerSequence : Math.ceil(shape.totalPositions / this.pageSize);
    if (!(this.sequencePages >= ownPerSequence)) {
      const prefix = this.prefixLength > 0 ? ` (with the ${this.prefixLength}-position P-tuning prefix)` : '';
      throw new ChatGlmError('invalid_stage_spec', `a KV cache of ${shape.totalPositions} positions cannot hold one sequence of ${shape.capacity} positions${prefix}: that takes ${ownPerSequence * this.pageSize}; raise the cache's positions or lower the positions per sequence`);
    }
    this.pages = 1 + sharedCount + this.sequencePages;
    this.onHost = shape.storage !== 'device';
    const total = shape.heads * this.pages * this.pageSize * shape.headDim;
    const pool = () => (this.dtype === 'float16' ? new Uint16Array(total) : new Float32Array(total));
    for (const l of this.onHost ? shape.layers : []) {
      this.keys.set(l, pool());
      this.values.set(l, pool());
    }
    for (let i = 0; i < sharedCount; i++) this.sharedPages.push(1 + i);
    this.nextFreshPage = 1 + sharedCount;
    if (prefix && this.onHost) this.writePrefix(prefix);
    this.lengths = new Int32Array(shape.slots).fill(this.prefixLength);
    this.owner = new Array<string | undefined>(shape.slots).fill(undefined);
    this.tables = Array.from({ length: shape.slots }, () => []);
  }

  get activeSequences(): number {
    return this.slotOf.size;
  }

  /** Positions the active sequences have cached, not counting the P-tuning prefix each holds. */
  get cachedTokens(): number {
    let total = 0;
    for (const slot of this.slotOf.values()) total += this.length(slot) - this.prefixLength;
    return total;
  }

  /** Pages the active sequences hold, not counting the shared prefix pages. */
  get pagesInUse(): number {
    return this.pagesHeld;
  }

  /** Pages ever handed out (their memory is committed), not counting the shared prefix pages. */
  get pagesTouched(): number {
    return this.nextFreshPage - 1 - this.sharedPages.length;
  }

  /** Bytes of the pages the active sequences hold. */
  get bytesHeld(): number {
    return this.pagesHeld * this.pageSize * this.bytesPerPosition;
  }

  /** Bytes of every page ever handed out and of the shared prefix pages (written, so committed). */
  get bytesCommitted(): number {
    return (this.pagesTouched + this.sharedPages.length) * this.pageSize * this.bytesPerPosition;
  }

  /** Gives a new sequence the lowest free slot and the prefix's pages. */
  allocate(seqId: string): number {
    if (this.slotOf.has(seqId)) throw new ChatGlmError('duplicate_sequence', `sequence ${seqId} already holds a KV slot; release it first`);
    const slot = this.owner.indexOf(undefined);
    if (slot < 0) throw new KvCapacityError(`all ${this.shape.slots} KV slots are in use`);
    const tail = this.prefixLength % this.pageSize > 0;
    if (tail) this.requirePages(1);
    this.owner[slot] = seqId;
    this.slotOf.set(seqId, slot);
    this.lengths[slot] = this.prefixLength;
    this.tables[slot] = [...this.sharedPages];
    // The prefix's last, partial page is the sequence's own: written here on the host, by the
    // stage on a device (on the page prefixTailPage() names; prefixTail is then empty).
    if (tail) {
      const page = this.takePage(slot);
      for (const [layer, tail] of this.prefixTail) {
        const rows = { row: 0, rows: 1, tokens: tail.keys.length / (this.shape.heads * this.shape.headDim) };
        this.writeRows(layer, page, 0, tail.keys, tail.values, rows, 0, rows.tokens);
      }
    }
    return slot;
  }

  release(seqId: string): boolean {
    const slot = this.slotOf.get(seqId);
    if (slot === undefined) return false;
    this.slotOf.delete(seqId);
    this.owner[slot] = undefined;
    this.lengths[slot] = this.prefixLength;
    const table = this.tables[slot] as number[];
    // The most recently used pages go out first: they are committed and likely still in the CPU's caches.
    for (let i = table.length - 1; i >= this.sharedPages.length; i--) this.freePages.push(table[i] as number);
    this.pagesHeld -= table.length - this.sharedPages.length;
    this.tables[slot] = [];
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

  /** Bytes one cached position takes across this stage's layers (keys and values). */
  get bytesPerPosition(): number {
    return this.shape.layers.length * 2 * this.shape.heads * this.shape.headDim * (this.dtype === 'float16' ? 2 : 4);
  }

  /** Makes room for `extra` more positions of a sequence, taking the pages they need. */
  reserve(slot: number, extra: number): void {
    const needed = this.length(slot) + extra;
    if (needed > this.shape.capacity) {
      const prefix = this.prefixLength > 0 ? ` (${this.prefixLength} of them the P-tuning prefix)` : '';
      throw new KvCapacityError(`sequence ${this.owner[slot]} needs ${needed} cached positions${prefix} but this stage holds ${this.shape.capacity} per sequence`);
    }
    const table = this.tables[slot] as number[];
    // All or nothing: a step that cannot have its pages fails before any is taken.
    this.requirePages(Math.ceil(needed / this.pageSize) - table.length);
    while (table.length * this.pageSize < needed) this.takePage(slot);
  }

  /** Pages not held by any sequence (free or never handed out). */
  get pagesAvailable(): number {
    return this.freePages.length + this.pages - this.nextFreshPage;
  }

  private requirePages(count: number): void {
    if (count > this.pagesAvailable) {
      throw new KvCapacityError(`the KV cache's ${this.sequencePages} pages (${this.sequencePages * this.pageSize} positions) are held by running sequences; ${count} more are needed`);
    }
  }

  /**
   * The page tables of `slots` as one int64 [slots, pages] tensor's data, covering each sequence's
   * cached positions and `ahead` more (reserved) ones, padded to the longest; `pages` is at least
   * 1, so the past is never empty.
   */
  pageTable(slots: readonly number[], ahead = 0): { table: BigInt64Array; pages: number } {
    const used = (s: number) => Math.ceil((this.length(s) + ahead) / this.pageSize);
    let pages = 1;
    for (const s of slots) pages = Math.max(pages, used(s));
    const table = new BigInt64Array(slots.length * pages).fill(BigInt(PADDING_PAGE));
    slots.forEach((s, r) => {
      const own = this.tables[s] as number[];
      for (let i = 0; i < used(s); i++) table[r * pages + i] = BigInt(own[i] as number);
    });
    return { table, pages };
  }

  /**
   * Appends a sequence's new rows in one layer: `rows.tokens` positions from where it stands, taken
   * from graph outputs of [heads, rows, tokens, headDim] in the cache's dtype. The positions must
   * have been reserved.
   */
  append(layer: number, slot: number, newKeys: KvElements, newValues: KvElements, rows: NewRows): void {
    const keys = this.keys.get(layer);
    const values = this.values.get(layer);
    if (!keys || !values) throw new ChatGlmError('unknown_layer', `layer ${layer} is not held by this stage`);
    if (newKeys.constructor !== keys.constructor || newValues.constructor !== values.constructor) {
      throw new ChatGlmError('stage_internal', `new KV rows of layer ${layer} are not in the cache's ${this.dtype} (does the graph's KV dtype match the cache's?)`);
    }
    const table = this.tables[slot] as number[];
    const at = this.length(slot);
    if ((table.length * this.pageSize) < at + rows.tokens) throw new ChatGlmError('stage_internal', `sequence ${this.owner[slot]} appends ${rows.tokens} positions at ${at} without having reserved them`);
    // A run of positions that stays within one page is contiguous per head.
    for (let t = 0; t < rows.tokens; ) {
      const position = at + t;
      const offset = position % this.pageSize;
      const run = Math.min(this.pageSize - offset, rows.tokens - t);
      this.writeRows(layer, table[Math.floor(position / this.pageSize)] as number, offset, newKeys, newValues, rows, t, run);
      t += run;
    }
  }

  /**
   * A copy of one sequence's cache in one layer, [heads, length, headDim], as fp32 whatever the
   * cache's dtype; the first `prefixLength` positions are the P-tuning prefix.
   */
  read(seqId: string, layer: number): { keys: Float32Array; values: Float32Array; length: number } {
    const { heads, headDim } = this.shape;
    const slot = this.slot(seqId);
    const length = this.length(slot);
    const table = this.tables[slot] as number[];
    const k = this.keys.get(layer);
    const v = this.values.get(layer);
    if (!k || !v) throw new ChatGlmError('unknown_layer', `layer ${layer} is not held by this stage`);
    const gather = (pool: KvElements) => {
      const out = pool instanceof Float32Array ? new Float32Array(heads * length * headDim) : new Uint16Array(heads * length * headDim);
      for (let h = 0; h < heads; h++) {
        for (let p = 0; p < length; p += this.pageSize) {
          const count = Math.min(this.pageSize, length - p);
          copyElements(out, (h * length + p) * headDim, pool, this.at(h, table[p / this.pageSize] as number, 0), count * headDim);
        }
      }
      return out instanceof Float32Array ? out : float16ToFloat32(out);
    };
    return { keys: gather(k), values: gather(v), length };
  }

  /**
   * Where positions [length, length + count) of a sequence go in a pool seen as one row per
   * position (page x pageSize + offset), written to `out` from `at` (a device cache's
   * `cache_rows`). The positions must have been reserved.
   */
  rowTargets(slot: number, count: number, out: Int32Array, at: number): void {
    const table = this.tables[slot] as number[];
    const from = this.length(slot);
    if (table.length * this.pageSize < from + count) throw new ChatGlmError('stage_internal', `sequence ${this.owner[slot]} writes ${count} positions at ${from} without having reserved them`);
    this.poolRows(table, from, count, out, at);
  }

  /**
   * The rows, in a pool seen as one row per position (page x pageSize + offset), of positions
   * [from, from + count) laid on `pages` in order; written to `out` from `at`.
   */
  poolRows(pages: readonly number[], from: number, count: number, out: Int32Array = new Int32Array(count), at = 0): Int32Array {
    for (let t = 0; t < count; t++) {
      const position = from + t;
      out[at + t] = (pages[Math.floor(position / this.pageSize)] as number) * this.pageSize + (position % this.pageSize);
    }
    return out;
  }

  /** The pages holding a sequence's first `length` positions, in order. */
  pagesOf(slot: number, length = this.length(slot)): number[] {
    return (this.tables[slot] as number[]).slice(0, Math.ceil(length / this.pageSize));
  }

  /** The pages every sequence shares for the prefix's whole pages (positions [0, their count x pageSize)). */
  get prefixPages(): readonly number[] {
    return this.sharedPages;
  }

  /** The page a sequence holds the prefix's last, partial page's positions in, if the prefix has one. */
  prefixTailPage(slot: number): number | undefined {
    return this.prefixLength % this.pageSize > 0 ? (this.tables[slot] as number[])[this.sharedPages.length] : undefined;
  }

  /** Marks `count` appended positions as valid (after every layer has been written). */
  advance(slot: number, count: number): void {
    this.lengths[slot] = this.length(slot) + count;
  }

  /** The element index of position `offset` of `page`, head `head`, in a pool. */
  private at(head: number, page: number, offset: number): number {
    return ((head * this.pages + page) * this.pageSize + offset) * this.shape.headDim;
  }

  private takePage(slot: number): number {
    this.requirePages(1);
    const page = this.freePages.pop() ?? this.nextFreshPage++;
    (this.tables[slot] as number[]).push(page);
    this.pagesHeld++;
    return page;
  }

  /** Copies `count` positions from token `from` of a sequence's new rows into `page` at `offset`, every head. */
  private writeRows(layer: number, page: number, offset: number, newKeys: KvElements, newValues: KvElements, rows: NewRows, from: number, count: number): void {
    const { heads, headDim } = this.shape;
    const keys = this.keys.get(layer) as KvElements;
    const values = this.values.get(layer) as KvElements;
    for (let h = 0; h < heads; h++) {
      const src = ((h * rows.rows + rows.row) * rows.tokens + from) * headDim;
      const dst = this.at(h, page, offset);
      copyElements(keys, dst, newKeys, src, count * headDim);
      copyElements(values, dst, newValues, src, count * headDim);
    }
  }

  /** Writes each layer's prefix ([heads, P, headDim] keys and values): its whole pages once, its tail kept for each sequence. */
  private writePrefix(prefix: CachePrefix): void {
    const { heads, headDim, layers } = this.shape;
    const P = prefix.length;
    const shared = this.sharedPages.length * this.pageSize;
    layers.forEach((l, i) => {
      const src = prefix.layers[i];
      if (!src || src.layer !== l || src.keys.length !== heads * P * headDim || src.values.length !== heads * P * headDim) {
        throw new ChatGlmError('invalid_stage_spec', `the P-tuning prefix has no [${heads}, ${P}, ${headDim}] keys and values for layer ${l}`);
      }
      // The prefix is computed in fp32; an fp16 cache holds it rounded, like every other position.
      const half = this.dtype === 'float16';
      const keys = half ? float32ToFloat16(src.keys) : src.keys;
      const values = half ? float32ToFloat16(src.values) : src.values;
      const all = { row: 0, rows: 1, tokens: P };
      this.sharedPages.forEach((page, p) => this.writeRows(l, page, 0, keys, values, all, p * this.pageSize, this.pageSize));
      if (P > shared) {
        const tail = (rows: KvElements) => {
          const out = half ? new Uint16Array(heads * (P - shared) * headDim) : new Float32Array(heads * (P - shared) * headDim);
          for (let h = 0; h < heads; h++) copyElements(out, h * (P - shared) * headDim, rows, (h * P + shared) * headDim, (P - shared) * headDim);
          return out;
        };
        this.prefixTail.set(l, { keys: tail(keys), values: tail(values) });
      }
    });
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
