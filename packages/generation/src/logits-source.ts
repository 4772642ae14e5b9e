/**
 * The model as generate() sees it: one sequence, logits of the last position only (docs/model.md §11).
 * A local engine implements it directly; the cluster's pipeline head does the same work batched.
 */
export interface LogitsSource {
  /** Runs the prompt and returns the logits for the first generated token. */
  prefill(promptIds: readonly number[]): Promise<Float32Array>;
  /** Feeds one generated token and returns the logits for the next. */
  decode(tokenId: number): Promise<Float32Array>;
}
