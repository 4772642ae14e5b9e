// Continuous batching for one pipeline (docs/architecture.md, "The pipeline head"). The scheduler is the single owner of
// every request's state; the pipeline head's loop only asks it what to run (`schedule()`), reports
// what came back (`complete()` / `fail()`), and forwards submissions and cancellations. It does no
// I/O, so every policy here is unit-tested with small factories.
//
// Policy: requests are admitted in arrival order while fewer than `maxRunning` hold a KV slot (every
// stage has that many). Each admitted request gets its own prefill step; running requests decode
// together in up to `microBatches` steps in flight at once, so that every stage of the pipeline has
// work. New requests join between decode steps; finished or cancelled ones leave at once.
//
// When the stages' KV caches hold fewer positions than every slot at full length (`kvPages`), pages
// limit admission too. A request claims the pages of what it has cached, as the stages take them:
// its prefill's at admission (admitted only with room for one more position beside them), one more
// page whenever a decode step crosses into it. When a decode step would need more pages than are
// free and no other step is in flight, the requests admitted last are preempted (vLLM's
// "recompute"): their caches are released (takePreempted), and they wait at the front of the queue
// to be prefilled again with their prompt and every token they generated, from which they go on
// exactly as before (their sampling is counter-based). The oldest request is preempted last, so it
// always progresses; a waiting request holds back the ones behind it (arrival order).
import { ChatGlmError } from '@chatglm/common';
import { SequenceTracker, type FinishReason, type SampledToken, type SamplingParams, type SequenceTrackerOptions } from '@chatglm/generation';
import { BatchSizeStats } from './batch-size-stats.ts';
import type { GenerationRequest, ScheduledDecode, SchedulerStats, SequenceUpdate, Step, StepFailure, StepResult } from './types.ts';

export interface SchedulerOptions {
  /** Requests holding a KV slot at once: the smallest `max_sequences` of the pipeline's stages. */
  maxRunning: number;
  /** Cached positions per sequence: the smallest `max_tokens_per_sequence` of the stages. */
  maxTokensPerSequence: number;
  /**
   * The KV cache pages every stage holds for its sequences (the smallest stage's), their size and
   * the P-tuning prefix each sequence starts with. Default: none; slots alone limit admission.
   */
  kvPages?: KvPageBudget;
  /** Decode steps in flight at once. Default 1; a pipeline of N stages keeps all busy with N. */
  microBatches?: number;
  /** Tokenizer facts and text functions for the sequences' trackers. */
  text: Omit<SequenceTrackerOptions, 'resumeFrom'>;
}

export interface KvPageBudget {
  pages: number;
  pageSize: number;
  /** Positions of a P-tuning prefix ahead of every sequence (its part past whole pages sits in each sequence's first page). */
  prefixLength: number;
}

/** Pages a sequence with `positions` cached holds on a stage: its first own page also holds the prefix's part past whole pages. */
export function kvPagesFor(positions: number, budget: Pick<KvPageBudget, 'pageSize' | 'prefixLength'>): number {
  return Math.ceil(((budget.prefixLength % budget.pageSize) + positions) / budget.pageSize);
}

type Phase = 'waiting' | 'prefilling' | 'running';

interface Sequence<C> {
  id: string;
  context: C;
  tracker: SequenceTracker;
  phase: Phase;
  /** The step this sequence is part of, if one is in flight. */
  inFlight: number | null;
  cancelled: boolean;
  /** KV pages it holds on each stage (0 without a page budget, or while waiting). */
  pages: number;
  /** Positions it will have cached when its steps in flight are done. */
  positions: number;
}

/** `C`: the caller's context of each request, handed back with its steps and updates. */
export class Scheduler<C> {
  private readonly waiting: Sequence<C>[] = [];
  private readonly admitted = new Map<string, Sequence<C>>();
  private readonly steps = new Map<number, { kind: Step<C>['kind']; ids: string[] }>();
  private nextStepId = 1;
  private decodeStepsInFlight = 0;
  private readonly microBatches: number;
  private readonly batches = new BatchSizeStats();
  private readonly preempted: string[] = [];
  private preemptions = 0;

  constructor(private readonly options: SchedulerOptions) {
    if (!(options.maxRunning >= 1)) throw new ChatGlmError('invalid_scheduler', 'maxRunning must be >= 1');
    if (options.kvPages && !(options.kvPages.pages >= 1 && options.kvPages.pageSize >= 1)) throw new ChatGlmError('invalid_scheduler', 'kvPages needs pages and pageSize >= 1');
    this.microBatches = Math.max(1, options.microBatches ?? 1);
  }

  /** Queues a request. Returns its final update right away when no model step is needed. */
  submit(request: GenerationRequest<C>): SequenceUpdate<C>[] {
    if (this.has(request.id)) throw new ChatGlmError('duplicate_request', `request ${request.id} is already scheduled`);
    // The cache bounds the total length too: cap max_length there rather than overflow a stage.
    const params: SamplingParams = { ...request.params, maxLength: Math.min(request.params.maxLength, this.options.maxTokensPerSequence) };
    const tracker = new SequenceTracker(request.promptIds, params, { ...this.options.text, resumeFrom: request.resumeFrom ?? [] });
    const seq: Sequence<C> = { id: request.id, context: request.context, tracker, phase: 'waiting', inFlight: null, cancelled: false, pages: 0, positions: 0 };
    if (tracker.prefillIds.length > this.options.maxTokensPerSequence) {
      return [this.finishUpdate(seq, 'error', { code: 'context_length_exceeded', message: `the prompt needs ${tracker.prefillIds.length} cached positions but the pipeline holds ${this.options.maxTokensPerSequence} per sequence` })];
    }
    const budget = this.options.kvPages;
    const longest = Math.min(params.maxLength, params.maxNewTokens === undefined ? Infinity : request.promptIds.length + params.maxNewTokens);
    if (budget && this.pagesAt(longest) > budget.pages) {
      // Only stages that disagree get here (each holds one sequence of full length at least); it could never finish alone.
      return [this.finishUpdate(seq, 'error', { code: 'context_length_exceeded', message: `the request may take ${this.pagesAt(longest)} KV cache pages but the pipeline's caches hold ${budget.pages}; lower max_length or max_tokens` })];
    }
    const early = tracker.finishedBeforeStart();
    if (early !== null) return [this.finishUpdate(seq, early)];
    this.waiting.push(seq);
    return [];
  }

  has(id: string): boolean {
    return this.contextOf(id) !== undefined;
  }

  /** The context a request was submitted with, while it is in the scheduler. */
  contextOf(id: string): C | undefined {
    return (this.admitted.get(id) ?? this.waiting.find((s) => s.id === id))?.context;
  }

  /** Every request in the scheduler: admitted, then waiting. */
  ids(): string[] {
    return [...this.admitted.keys(), ...this.waiting.map((s) => s.id)];
  }

  /**
   * Stops a request. A waiting one, or one between steps, finishes now (reason "cancelled"); one
   * whose step is in flight finishes when that step completes. Unknown ids are ignored.
   */
  cancel(id: string): SequenceUpdate<C>[] {
    const waiting = this.waiting.findIndex((s) => s.id === id);
    const [unadmitted] = waiting >= 0 ? this.waiting.splice(waiting, 1) : [];
    if (unadmitted) return [this.finishUpdate(unadmitted, 'cancelled')];
    const seq = this.admitted.get(id);
    if (!seq) return [];
    seq.cancelled = true;
    if (seq.inFlight !== null) return [];
    this.admitted.delete(id);
    return [this.finishUpdate(seq, 'cancelled', undefined, true)];
  }

  /** The steps to send now: prefills of newly admitted requests, then decode micro-batches. */
  schedule(): Step<C>[] {
    const out: Step<C>[] = [];
    for (let seq = this.nextAdmission(); seq; seq = this.nextAdmission()) {
      seq.phase = 'prefilling';
      seq.positions = seq.tracker.prefillIds.length;
      seq.pages = this.pagesAt(seq.positions);
      this.admitted.set(seq.id, seq);
      const id = this.register('prefill', [seq]);
      out.push({ id, kind: 'prefill', seqId: seq.id, tokenIds: seq.tracker.prefillIds, params: seq.tracker.params, sampleIndex: seq.tracker.sampleIndex, context: seq.context });
    }
    const ready = this.pagesForDecode([...this.admitted.values()].filter((s) => s.phase === 'running' && s.inFlight === null));
    const running = [...this.admitted.values()].filter((s) => s.phase === 'running').length;
    // Split the running requests evenly over the micro-batches so each step carries its share.
    const perStep = Math.max(1, Math.ceil(running / this.microBatches));
    while (ready.length > 0 && this.decodeStepsInFlight < this.microBatches) {
      const group = ready.splice(0, perStep);
      for (const s of group) {
        s.positions += 1;
        s.pages = this.pagesAt(s.positions);
      }
      const id = this.register('decode', group);
      this.batches.record(group.length);
      out.push({ id, kind: 'decode', entries: group.map((s) => this.decodeEntry(s)) });
    }
    return out;
  }

  /** A step's sampled tokens came back (one per sequence, any order). */
  complete(stepId: number, results: readonly StepResult[]): SequenceUpdate<C>[] {
    const ids = this.unregister(stepId);
    const byId = new Map<string, SampledToken>(results.map((r) => [r.seqId, r]));
    const updates: SequenceUpdate<C>[] = [];
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
      const sampled = byId.get(id);
      if (sampled === undefined) {
        this.admitted.delete(id);
        updates.push(this.finishUpdate(seq, 'error', { code: 'missing_result', message: `step ${stepId} returned no token for ${id}` }, true));
        continue;
      }
      const { delta, finishReason } = seq.tracker.push(sampled.tokenId);
      const token: SampledToken = { tokenId: sampled.tokenId, logprob: sampled.logprob, ...(sampled.topLogprobs && { topLogprobs: sampled.topLogprobs }) };
      if (finishReason !== null) {
        this.admitted.delete(id);
        updates.push(this.finishUpdate(seq, finishReason, undefined, true, delta, [token]));
      } else {
        updates.push({ id, context: seq.context, delta, text: seq.tracker.text, newTokens: [token], tokenIds: seq.tracker.tokenIds });
      }
    }
    return updates;
  }

  /** A step failed: its requests end with the error (their caller decides whether to retry them). */
  fail(stepId: number, error: StepFailure): SequenceUpdate<C>[] {
    const updates: SequenceUpdate<C>[] = [];
    for (const id of this.unregister(stepId)) {
      const seq = this.admitted.get(id);
      if (!seq) continue;
      this.admitted.delete(id);
      updates.push(this.finishUpdate(seq, 'error', error, true));
    }
    return updates;
  }

  /** The pipeline is gone: every admitted and waiting request ends with the error. */
  failAll(error: StepFailure): SequenceUpdate<C>[] {
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
      kvPagesClaimed: this.pagesClaimed(),
      kvPages: this.options.kvPages?.pages ?? 0,
      preemptions: this.preemptions,
      ...this.batches.snapshot(),
    };
  }

  /** Ids of the requests preempted since the last call: their caches must be released before they are prefilled again. */
  takePreempted(): string[] {
    return this.preempted.splice(0);
  }

  /**
   * The next waiting request, if there is one and a KV slot is free for it, and the pages of its
   * prefill and one more position, beside those the running requests' next positions take (so that
   * admitting it does not preempt it at the next step).
   */
  private nextAdmission(): Sequence<C> | undefined {
    const next = this.waiting[0];
    if (!next || this.admitted.size >= this.options.maxRunning) return undefined;
    const budget = this.options.kvPages;
    if (budget) {
      let nextSteps = 0;
      for (const s of this.admitted.values()) nextSteps += this.growth(s);
      if (this.pagesClaimed() + nextSteps + this.pagesAt(next.tracker.prefillIds.length + 1) > budget.pages) return undefined;
    }
    return this.waiting.shift();
  }

  /**
   * `ready` (in admission order) less the requests that cannot decode now for want of pages: the
   * pages their next positions need are free, or once every step is back, the requests admitted
   * last are preempted until they are (with a step in flight, the ones short of pages wait for it).
   */
  private pagesForDecode(ready: Sequence<C>[]): Sequence<C>[] {
    const budget = this.options.kvPages;
    if (!budget) return ready;
    let needed = ready.reduce((sum, s) => sum + this.growth(s), 0);
    let free = budget.pages - this.pagesClaimed();
    if (needed <= free) return ready;
    if (this.steps.size > 0) {
      // In arrival order, those whose next page is free decode; the others wait for the steps in flight.
      return ready.filter((s) => {
        const g = this.growth(s);
        if (g > free) return false;
        free -= g;
        return true;
      });
    }
    // Every admitted request is here (none is in flight): the oldest can always grow, since each
    // stage holds one sequence of full length at least.
    while (needed > free && ready.length > 1) {
      const victim = ready.pop() as Sequence<C>;
      needed -= this.growth(victim);
      free += victim.pages;
      this.preempt(victim);
    }
    return ready;
  }

  /** Pages a request's next position adds (0 or 1). */
  private growth(seq: Sequence<C>): number {
    return this.pagesAt(seq.positions + 1) - seq.pages;
  }

  /** Sends a running request back to the front of the queue, its cache to be released. */
  private preempt(seq: Sequence<C>): void {
    this.admitted.delete(seq.id);
    seq.phase = 'waiting';
    seq.pages = 0;
    seq.positions = 0;
    this.waiting.unshift(seq);
    this.preempted.push(seq.id);
    this.preemptions += 1;
  }

  /** Pages the admitted requests hold on each stage. */
  private pagesClaimed(): number {
    let pages = 0;
    for (const seq of this.admitted.values()) pages += seq.pages;
    return pages;
  }

  /** Pages of a request with `positions` cached (0 without a page budget). */
  private pagesAt(positions: number): number {
    const budget = this.options.kvPages;
    return budget ? kvPagesFor(positions, budget) : 0;
  }

  private decodeEntry(seq: Sequence<C>): ScheduledDecode<C> {
    const t = seq.tracker;
    const last = t.tokenIds.at(-1);
    // Only sequences whose prefill sampled a token are running, so there is always one.
    if (last === undefined) throw new ChatGlmError('invalid_scheduler', `sequence ${seq.id} runs without a sampled token`);
    // The fed-back token sits at absolute index prompt + generated - 1.
    return { seqId: seq.id, tokenId: last, index: t.promptIds.length + t.tokenIds.length - 1, sampleIndex: t.sampleIndex, context: seq.context };
  }

  private register(kind: Step<C>['kind'], seqs: Sequence<C>[]): number {
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

  private finishUpdate(seq: Sequence<C>, reason: FinishReason, error?: StepFailure, release = false, lastDelta = '', newTokens: readonly SampledToken[] = []): SequenceUpdate<C> {
    const { delta, finishReason } = seq.tracker.finish(reason);
    return {
      id: seq.id,
      context: seq.context,
      delta: lastDelta + delta,
      text: seq.tracker.text,
      newTokens,
      tokenIds: seq.tracker.tokenIds,
      finish: { reason: finishReason, promptTokens: seq.tracker.promptIds.length, release, ...(error && { error }) },
    };
  }
}
