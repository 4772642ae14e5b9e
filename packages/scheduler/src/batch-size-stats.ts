/** Counts decode steps by batch size: the scheduler's own account of how well it batches. */
export class BatchSizeStats {
  private readonly counts = new Map<number, number>();
  private steps = 0;
  private max = 0;

  record(size: number): void {
    this.counts.set(size, (this.counts.get(size) ?? 0) + 1);
    this.steps += 1;
    this.max = Math.max(this.max, size);
  }

  snapshot(): { decodeSteps: number; maxBatchSize: number; batchSizes: Record<number, number> } {
    return { decodeSteps: this.steps, maxBatchSize: this.max, batchSizes: Object.fromEntries(this.counts) };
  }
}
