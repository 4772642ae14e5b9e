import type { DecodeFn, ProcessResponseFn } from './incremental-detokenizer.ts';
import type { FinishReason } from './finish-reason.ts';
import type { LogitsSource } from './logits-source.ts';
import type { SamplingParams } from './sampling-params.ts';
import { SequenceTracker } from './sequence-tracker.ts';
import { createTokenSelector } from './token-selector.ts';
import type { VocabInfo } from './vocab-info.ts';

export interface GenerateOptions {
  /** Tokenizer facts: vocabulary size, `<eop>` and the forced `▁` id. */
  readonly vocab: VocabInfo;
  readonly decode: DecodeFn;
  readonly processResponse: ProcessResponseFn;
  /**
   * Stops the reply with finish reason "cancelled", keeping the text so far. Checked between
   * model calls: a prefill or decode already running completes first, so the source is never
   * left with a call in flight.
   */
  readonly signal?: AbortSignal;
  /**
   * Tokens an earlier attempt of this request already generated and streamed. They are prefilled
   * after the prompt, count as completion tokens, and their text is not emitted again; the next
   * token is drawn at index resumeFrom.length, so a seeded reply continues exactly as it would
   * have. Default none.
   */
  readonly resumeFrom?: readonly number[];
}

/** One generated token. `delta` is the text it made final; concatenated with later ones it is the reply. */
export interface TokenEvent {
  readonly type: 'token';
  readonly tokenId: number;
  readonly logprob: number;
  readonly delta: string;
}

/** The last event. `delta` is the held-back rest of the text (shown after the token deltas). */
export interface FinishEvent {
  readonly type: 'finish';
  readonly finishReason: FinishReason;
  readonly delta: string;
  /** The whole reply: process_response(decode(tokenIds)), cut before a stop string. */
  readonly text: string;
  /** Generated ids, resumed ones first, `<eop>` included when it ended the reply. */
  readonly tokenIds: readonly number[];
  readonly promptTokens: number;
  readonly completionTokens: number;
}

export type GenerateEvent = TokenEvent | FinishEvent;

/**
 * Generates one reply: wires the token selector, stopping criteria and text stream around a
 * LogitsSource. Yields a TokenEvent per generated token and a FinishEvent last (also the return
 * value). Errors from the source propagate; the caller reports them as "error".
 *
 * @example
 *   for await (const event of generate(source, promptIds, resolveSamplingParams(), options)) {
 *     if (event.type === 'token') process.stdout.write(event.delta);
 *     else process.stdout.write(event.delta + '\n');
 *   }
 */
export async function* generate(
  source: LogitsSource,
  promptIds: readonly number[],
  params: SamplingParams,
  options: GenerateOptions,
): AsyncGenerator<GenerateEvent, FinishEvent, undefined> {
  const tracker = new SequenceTracker(promptIds, params, options);
  const reason = yield* steps(source, tracker, options);
  const { delta, finishReason } = tracker.finish(reason);
  const event: FinishEvent = {
    type: 'finish',
    finishReason,
    delta,
    text: tracker.text,
    tokenIds: [...tracker.tokenIds],
    promptTokens: promptIds.length,
    completionTokens: tracker.tokenIds.length,
  };
  yield event;
  return event;
}

/** The token loop; returns why it ended. */
async function* steps(source: LogitsSource, tracker: SequenceTracker, { vocab, signal }: GenerateOptions): AsyncGenerator<TokenEvent, FinishReason, undefined> {
  const early = tracker.finishedBeforeStart();
  if (early !== null) return early;
  if (signal?.aborted) return 'cancelled';

  const select = createTokenSelector(tracker.params, vocab);
  const sequence = tracker.prefillIds;
  let logits = await source.prefill(sequence);
  for (;;) {
    if (signal?.aborted) return 'cancelled';
    const { tokenId, logprob } = select(logits, { tokenIds: sequence, tokenIndex: tracker.sampleIndex });
    sequence.push(tokenId);
    const { delta, finishReason } = tracker.push(tokenId);
    yield { type: 'token', tokenId, logprob, delta };
    if (finishReason !== null) return finishReason;
    if (signal?.aborted) return 'cancelled';
    logits = await source.decode(tokenId);
  }
}
