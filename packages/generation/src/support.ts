/**
 * The ids that still carry probability (logit > -Infinity), gathered in one pass with the maximum.
 * After top-k only ~50 of 130,528 logits remain, so later steps (top-p, the sampler) can work on
 * this short list instead of sweeping the whole vocabulary again. Reused per call: no allocation.
 */
export class Support {
  /** Ids in increasing order; valid up to `count` when `complete`. */
  readonly ids: Int32Array;
  count = 0;
  max = -Infinity;

  constructor(limit = 4096) {
    this.ids = new Int32Array(limit);
  }

  /** True when every id with a logit > -Infinity fit in `ids` (`max` is exact either way). */
  get complete(): boolean {
    return this.count <= this.ids.length;
  }

  scan(logits: Float32Array): this {
    const ids = this.ids;
    const limit = ids.length;
    let count = 0;
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) {
      const x = logits[i]!;
      if (x > -Infinity) {
        if (count < limit) ids[count] = i;
        count++;
        if (x > max) max = x;
      }
    }
    this.count = count;
    this.max = max;
    return this;
  }
}
