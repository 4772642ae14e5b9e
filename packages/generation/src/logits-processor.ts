/** What a processor may look at besides the logits. */
export interface LogitsContext {
  /** Every id of the sequence so far: the prompt, then the generated tokens. */
  readonly tokenIds: readonly number[];
}

/**
 * Rewrites the logits of one sequence's next token IN PLACE. Processors run once per token per
 * sequence, so they allocate nothing per call (scratch buffers live in their closures; a processor
 * instance must therefore not be called re-entrantly, which synchronous code never does).
 */
export type LogitsProcessor = (logits: Float32Array, context: LogitsContext) => void;

/** Runs `processors` left to right. */
export function composeProcessors(processors: readonly LogitsProcessor[]): LogitsProcessor {
  const list = [...processors];
  return (logits, context) => {
    for (const process of list) process(logits, context);
  };
}
