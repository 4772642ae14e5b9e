/**
 * Finds the k-th largest value (1-based, duplicates counted) of an array without sorting it.
 * NaN entries are ignored. Returns -Infinity when fewer than k values are not NaN.
 *
 * Small k (the common top-k = 50) keeps a size-k min-heap: one pass where almost every element
 * costs a single comparison with the heap's root. Large k copies into scratch and runs a three-way
 * quickselect, which stays linear on the many equal values real logits have (e.g. -Infinity runs).
 */
export class KthLargest {
  private heap = new Float64Array(0);
  private scratch = new Float32Array(0);

  static readonly HEAP_LIMIT = 1024;

  find(values: Float32Array, k: number): number {
    if (!Number.isSafeInteger(k) || k < 1) throw new RangeError(`KthLargest: k must be >= 1, got ${k}`);
    return k <= KthLargest.HEAP_LIMIT ? this.byHeap(values, k) : this.bySelect(values, k);
  }

  private byHeap(values: Float32Array, k: number): number {
    if (this.heap.length < k) this.heap = new Float64Array(KthLargest.HEAP_LIMIT);
    const heap = this.heap;
    let size = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v !== v) continue;
      if (size < k) {
        let at = size++;
        while (at > 0) {
          const parent = (at - 1) >> 1;
          if (heap[parent]! <= v) break;
          heap[at] = heap[parent]!;
          at = parent;
        }
        heap[at] = v;
      } else if (v > heap[0]!) {
        siftDown(heap, size, v);
      }
    }
    return size < k ? -Infinity : heap[0]!;
  }

  private bySelect(values: Float32Array, k: number): number {
    if (this.scratch.length < values.length) this.scratch = new Float32Array(values.length);
    const a = this.scratch;
    let n = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (v === v) a[n++] = v;
    }
    if (n < k) return -Infinity;
    // Select the (k-1)-th element of a descending order over a[lo, hi).
    let lo = 0;
    let hi = n;
    let target = k - 1;
    let seed = 0x9e3779b9;
    for (;;) {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      const pivot = a[lo + (seed % (hi - lo))]!;
      // Dutch-flag partition: [lo, gt) > pivot, [gt, lt) == pivot, [lt, hi) < pivot.
      let gt = lo;
      let lt = hi;
      let i = lo;
      while (i < lt) {
        const v = a[i]!;
        if (v > pivot) {
          a[i] = a[gt]!;
          a[gt++] = v;
          i++;
        } else if (v < pivot) {
          a[i] = a[--lt]!;
          a[lt] = v;
        } else {
          i++;
        }
      }
      if (target < gt - lo) {
        hi = gt;
      } else if (target < lt - lo) {
        return pivot;
      } else {
        target -= lt - lo;
        lo = lt;
      }
    }
  }
}

function siftDown(heap: Float64Array, size: number, value: number): void {
  let at = 0;
  for (;;) {
    const left = 2 * at + 1;
    if (left >= size) break;
    const right = left + 1;
    const child = right < size && heap[right]! < heap[left]! ? right : left;
    if (heap[child]! >= value) break;
    heap[at] = heap[child]!;
    at = child;
  }
  heap[at] = value;
}
