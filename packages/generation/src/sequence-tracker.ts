import type { DecodeFn, ProcessResponseFn } from './incremental-detokenizer.ts';
import type { FinishReason } from './finish-reason.ts';
import type { SamplingParams } from './sampling-params.ts';
import { createStoppingCriteria, remainingTokens, type StoppingCriterion } from './stopping-criteria.ts';
import { TextStream } from './text-stream.ts';
import type { VocabInfo } from './vocab-info.ts';

export interface SequenceTrackerOptions {
  readonly vocab: VocabInfo;
  readonly decode: DecodeFn;
  readonly processResponse: ProcessResponseFn;
  /** Tokens an earlier attempt already generated and streamed; their text is not shown again. */
  readonly resumeFrom?: readonly number[];
}

/** What one generated token did to a sequence. */
export interface TrackedToken {
  /** New text to show ("" while held back). */
  readonly delta: string;
  /** Why the sequence ends now, or null to go on. */
  readonly finishReason: FinishReason | null;
}

/**
 * The progress of one sequence between model steps: its generated ids, its streamed text and its
 * stopping criteria. generate() drives one; the pipeline head's scheduler drives one per request
 * in a batch. Sampling is not here: it needs logits (the last stage's job).
 */
export class SequenceTracker {
  private readonly stream: TextStream;
  private readonly shouldStop: StoppingCriterion;
  private readonly completionIds: number[];
  private ended: FinishReason | null = null;

  constructor(
    readonly promptIds: readonly number[],
    readonly params: SamplingParams,
    private readonly options: SequenceTrackerOptions,
  ) {
    this.stream = new TextStream({ decode: options.decode, processResponse: options.processResponse, stop: params.stop });
    this.shouldStop = createStoppingCriteria(params, options.vocab.eopId);
    this.completionIds = [...(options.resumeFrom ?? [])];
    for (const id of this.completionIds) if (id !== options.vocab.eopId) this.stream.push(id);
  }

  /** The ids to prefill: the prompt and any resumed tokens. */
  get prefillIds(): number[] {
    return [...this.promptIds, ...this.completionIds];
  }

  /** Generated ids so far (resumed ones first; `<eop>` included when it ended the reply). */
  get tokenIds(): readonly number[] {
    return this.completionIds;
  }

  /** Index of the next token to sample, counted from the first generated token (the RNG counter). */
  get sampleIndex(): number {
    return this.completionIds.length;
  }

  /** Text shown so far. */
  get text(): string {
    return this.stream.text;
  }

  /**
   * Why the sequence is finished before any step runs (a resumed reply that had ended, a prompt
   * that leaves no room), or null when it needs the model.
   */
  finishedBeforeStart(): FinishReason | null {
    if (this.completionIds.at(-1) === this.options.vocab.eopId || this.stream.stopped) return 'stop';
    if (remainingTokens(this.params, this.promptIds.length, this.completionIds.length) === 0) return 'length';
    return null;
  }

  /** Appends a sampled token. */
  push(tokenId: number): TrackedToken {
    this.completionIds.push(tokenId);
    const delta = tokenId === this.options.vocab.eopId ? '' : this.stream.push(tokenId);
    if (this.stream.stopped) return { delta, finishReason: 'stop' };
    return { delta, finishReason: this.shouldStop({ promptTokens: this.promptIds.length, completionTokens: this.completionIds.length, lastTokenId: tokenId }) };
  }

  /**
   * Ends the sequence and releases the held-back text. A stop string first seen in that tail turns
   * the reason into "stop" (unless the reply was cancelled). Idempotent: later calls return "".
   */
  finish(reason: FinishReason): { delta: string; finishReason: FinishReason } {
    if (this.ended !== null) return { delta: '', finishReason: this.ended };
    const delta = this.stream.finish();
    this.ended = this.stream.stopped && reason !== 'cancelled' && reason !== 'error' ? 'stop' : reason;
    return { delta, finishReason: this.ended };
  }
}
