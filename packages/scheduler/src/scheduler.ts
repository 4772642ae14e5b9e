// Continuous batching for one pipeline (DESIGN.md §1 step 2). The scheduler is the single owner of
// every request's state; the pipeline head's loop only asks it what to run (`schedule()`), reports
// what came back (`complete()` / `fail()`), and forwards submissions and cancellations. It does no
// I/O, so every policy here is unit-tested with small factories.
//
// Policy: requests are admitted in arrival order while fewer than `maxRunning` hold a KV slot (every
// stage has that many); each admitted request gets its own prefill step; running requests decode
// together in up to `microBatches` steps in flight at once, so that every stage of the pipeline has
// work. New requests join between decode steps; finished or cancelled ones leave at once.
import { ChatGlmError } from '@chatglm/common';
import { SequenceTracker, type FinishReason, type SamplingParams, type SequenceTrackerOptions } from '@chatglm/generation';
import { BatchSizeStats } from './batch-size-stats.ts';
import type { DecodeEntry, GenerationRequest, SchedulerStats, SequenceUpdate, Step, StepFailure } from './types.ts';

export interface SchedulerOptions {
  /** Requests holding a KV slot at once: the smallest `max_sequences` of the pipeline's stages. */
  maxRunning: number;
  /** Cached positions per sequence: the smallest `max_tokens_per_sequence` of the stages. */
  maxTokensPerSequence: number;
  /** Decode steps in flight at once. Default 1; a pipeline of N stages keeps all busy with N. */
  microBatches?: number;
  /** Tokenizer facts and text functions for the sequences' trackers. */
  text: Omit<SequenceTrackerOptions, 'resumeFrom'>;
}

type Phase = 'waiting' | 'prefilling' | 'running';

interface Sequence {
  id: string;
  tracker: SequenceTracker;
  phase: Phase;
  /** The step this sequence is part of, if one is in flight. */
  inFlight: number | null;
  cancelled: boolean;
}

export class Scheduler {
  private readonly waiting: Sequence[] = [];
  private readonly admitted = new Map<string, Sequence>();
  private readonly steps = new Map<number, { kind: Step['kind']; ids: string[] }>();
  private nextStepId = 1;
  private decodeStepsInFlight = 0;
  private readonly microBatches: number;
  private readonly batches = new BatchSizeStats();

  constructor(private readonly options: SchedulerOptions) {
    if (!(options.maxRunning >= 1)) throw new ChatGlmError('invalid_scheduler', 'maxRunning must be >= 1');
    this.microBatches = Math.max(1, options.microBatches ?? 1);
  }

  /** Queues a request. Returns its final update right away when no model step is needed. */
  submit(request: GenerationRequest): SequenceUpdate[] {
    if (this.has(request.id)) throw new ChatGlmError('duplicate_request', `request ${request.id} is already scheduled`);
    // The cache bounds the total length too: cap max_length there rather than overflow a stage.
    const params: SamplingParams = { ...request.params, maxLength: Math.min(request.params.maxLength, this.options.maxTokensPerSequence) };
    const tracker = new SequenceTracker(request.promptIds, params, { ...this.options.text, resumeFrom: request.resumeFrom ?? [] });
    const seq: Sequence = { id: request.id, tracker, phase: 'waiting', inFlight: null, cancelled: false };
    if (tracker.prefillIds.length > this.options.maxTokensPerSequence) {
      return [this.finishUpdate(seq, 'error', { code: 'context_length_exceeded', message: `the prompt needs ${tracker.prefillIds.length} cached positions but the pipeline holds ${this.options.maxTokensPerSequence} per sequence` })];
    }
    const early = tracker.finishedBeforeStart();
    if (early !== null) return [this.finishUpdate(seq, early)];
    this.waiting.push(seq);
    return [];
  }

  has(id: string): boolean {
    return this.admitted.has(id) || this.waiting.some((s) => s.id === id);
  }

  /**
   * Stops a request. A waiting one, or one between steps, finishes now (reason "cancelled"); one
   * whose step is in flight finishes when that step completes. Unknown ids are ignored.
   */
  cancel(id: string): SequenceUpdate[] {
    const w = this.waiting.findIndex((s) => s.id === id);
    if (w >= 0) {
      const [seq] = this.waiting.splice(w, 1) as [Sequence];
      return [this.finishUpdate(seq, 'cancelled')];
    }
    const seq = this.admitted.get(id);
    if (!seq) return [];
    seq.cancelled = true;
    if (seq.inFlight !== null) return [];
    this.admitted.delete(id);
    return [this.finishUpdate(seq, 'cancelled', undefined, true)];
  }

  /** The steps to send now: prefills of newly admitted requests, then decode micro-batches. */
  schedule(): Step[] {
    const out: Step[] = [];
    while (this.waiting.length > 0 && this.admitted.size < this.options.maxRunning) {
      const seq = this.waiting.shift() as Sequence;
      seq.phase = 'prefilling';
      this.admitted.set(seq.id, seq);
      const id = this.register('prefill', [seq]);
      out.push({ id, kind: 'prefill', seqId: seq.id, tokenIds: seq.tracker.prefillIds, params: seq.tracker.params, sampleIndex: seq.tracker.sampleIndex });
    }
    const ready = [...this.admitted.values()].filter((s) => s.phase === 'running' && s.inFlight === null);
    const running = [...this.admitted.values()].filter((s) => s.phase === 'running').length;
    // Split the running requests evenly over the micro-batches so each step carries its share.
    const perStep = Math.max(1, Math.ceil(running / this.microBatches));
    while (ready.length > 0 && this.decodeStepsInFlight < this.microBatches) {
      const group = ready.splice(0, perStep);
      const id = this.register('decode', group);
      this.batches.record(group.length);
      out.push({ id, kind: 'decode', entries: group.map((s) => this.decodeEntry(s)) });
    }
    return out;
  }

  /** A step's sampled tokens came back (one per sequence, any order). */
  complete(stepId: number, results: readonly { seqId: string; tokenId: number }[]): SequenceUpdate[] {
    const ids = this.unregister(stepId);
    const byId = new Map(results.map((r) => [r.seqId, r.tokenId]));
    const updates: SequenceUpdate[] = [];
    for (const id of ids) {
      const seq = this.admitted.get(id);
      if (!seq) continue;
      seq.inFlight = null;
      seq.phase = 'running';
      if (seq.cancelled) {
        this.admitted.delete(id);
        updates.push(this.finishUpdate(seq, 'cancelled', undefined, true));
        continue;
      }
      const tokenId = byId.get(id);
      if (tokenId === undefined) {
        this.admitted.delete(id);
        updates.push(this.finishUpdate(seq, 'error', { code: 'missing_result', message: `step ${stepId} returned no token for ${id}` }, true));
        continue;
      }
      const { delta, finishReason } = seq.tracker.push(tokenId);
      if (finishReason !== null) {
        this.admitted.delete(id);
        updates.push(this.finishUpdate(seq, finishReason, undefined, true, delta));
      } else {
        updates.push({ id, delta, text: seq.tracker.text, tokenIds: seq.tracker.tokenIds });
      }
    }
    return updates;
  }

  /** A step failed: its requests end with the error (their caller decides whether to retry them). */
  fail(stepId: number, error: StepFailure): SequenceUpdate[] {
    const updates: SequenceUpdate[] = [];
    for (const id of this.unregister(stepId)) {
      const seq = this.admitted.get(id);
      if (!seq) continue;
      this.admitted.delete(id);
      updates.push(this.finishUpdate(seq, 'error', error, true));
    }
    return updates;
  }

  /** The pipeline is gone: every admitted and waiting request ends with the error. */
  failAll(error: StepFailure): SequenceUpdate[] {
    const all = [...this.admitted.values(), ...this.waiting];
    this.admitted.clear();
    this.waiting.length = 0;
    this.steps.clear();
    this.decodeStepsInFlight = 0;
    return all.map((seq) => this.finishUpdate(seq, 'error', error, false));
  }

  stats(): SchedulerStats {
    const admitted = [...this.admitted.values()];
    return {
      waiting: this.waiting.length,
      running: admitted.length,
      stepsInFlight: this.steps.size,
      ...this.batches.snapshot(),
    };
  }

  private decodeEntry(seq: Sequence): DecodeEntry {
    const t = seq.tracker;
    const last = t.tokenIds[t.tokenIds.length - 1] as number;
    // The fed-back token sits at absolute index prompt + generated - 1.
    return { seqId: seq.id, tokenId: last, index: t.promptIds.length + t.tokenIds.length - 1, sampleIndex: t.sampleIndex };
  }

  private register(kind: Step['kind'], seqs: Sequence[]): number {
    const id = this.nextStepId++;
    for (const s of seqs) s.inFlight = id;
    this.steps.set(id, { kind, ids: seqs.map((s) => s.id) });
    if (kind === 'decode') this.decodeStepsInFlight += 1;
    return id;
  }

  private unregister(stepId: number): string[] {
    const step = this.steps.get(stepId);
    if (!step) throw new ChatGlmError('unknown_step', `step ${stepId} is not in flight`);
    this.steps.delete(stepId);
    if (step.kind === 'decode') this.decodeStepsInFlight -= 1;
    return step.ids;
  }

  private finishUpdate(seq: Sequence, reason: FinishReason, error?: StepFailure, release = false, lastDelta = ''): SequenceUpdate {
    const { delta, finishReason } = seq.tracker.finish(reason);
    return {
      id: seq.id,
      delta: lastDelta + delta,
      text: seq.tracker.text,
      tokenIds: seq.tracker.tokenIds,
      finish: { reason: finishReason, promptTokens: seq.tracker.promptIds.length, release, ...(error && { error }) },
    };
  }
}
