// One step on one stage, with the stage's role chosen once when it starts: a stage that is not the
// last forwards activations to the next one (ForwardingStep); the last stage samples a token per
// sequence (SamplingStep). Where the input comes from (token ids or activations) is the stage's
// StageInput. The pipeline head and the stage servers run the same two kinds of step.
import { ChatGlmError, type Logger } from '@chatglm/common';
import type { VocabInfo } from '@chatglm/generation';
import { encodeActivations, type ActivationDtype, type Entry, type Sampled, type StageTiming, type StepReply, type StepRequest } from '@chatglm/protocol';
import type { StageOutput, StageRuntime } from '@chatglm/runtime';
import { SequenceSampler } from './sequence-sampler.ts';
import { activationInput, tokenInput, type StageInput } from './stage-input.ts';
import { fromWireSampling } from './wire-sampling.ts';

/** A stage before the last: runs its layers and hands the step on with its activations. */
export interface ForwardingStep {
  readonly role: 'forward';
  run(request: StepRequest): Promise<{ next: StepRequest; timing: StageTiming }>;
  release(seqIds: readonly string[]): Promise<void>;
}

/** The last stage: runs its layers, the final LayerNorm and lm_head, and samples. */
export interface SamplingStep {
  readonly role: 'sample';
  run(request: StepRequest): Promise<{ results: Sampled[]; timing: StageTiming }>;
  release(seqIds: readonly string[]): Promise<void>;
}

export type StageStep = ForwardingStep | SamplingStep;

export interface StageStepOptions {
  /** The activation dtype this stage receives (its StageInfo); unused on the first stage. */
  inputDtype: ActivationDtype;
  /** The dtype the next stage expects; unused on the last stage. */
  outputDtype: ActivationDtype;
  /** The tokenizer's facts for sampling; used on the last stage. */
  vocab: VocabInfo;
  /** Told every step's compute time and the activation bytes it took and gave (the stage's metrics). */
  observer?: StepObserver;
}

/** What a stage's steps tell whoever watches the stage. */
export interface StepObserver {
  /** One run of the stage's layers: `seconds` of compute, not counting a wait behind another micro-batch. */
  forward(phase: 'prefill' | 'decode', seconds: number): void;
  /** Activation bytes this stage took from the previous stage or handed to the next one. */
  activations(direction: 'received' | 'sent', bytes: number): void;
}

const NO_OBSERVER: StepObserver = { forward: () => undefined, activations: () => undefined };

/** The step of the stage `runtime` runs, for its place in the pipeline. */
export function createStageStep(runtime: StageRuntime, o: StageStepOptions): StageStep {
  const { info } = runtime;
  const input = info.isFirst ? tokenInput() : activationInput(o.inputDtype, info.hiddenSize);
  const layers = new LayerRunner(runtime, input, o.observer ?? NO_OBSERVER);
  return info.isLast ? new LastStageStep(runtime, layers, new SequenceSampler(o.vocab)) : new ForwardingStageStep(runtime, layers, o.outputDtype, o.observer ?? NO_OBSERVER);
}

/** Where a step's result goes: the pipeline head and the stage servers each wire their own. */
export interface StepOutlet {
  /** The last stage's sampled tokens, or a failed step (an error reply: its sequences fail, the stream goes on). */
  reply(reply: StepReply): void;
  /** A forwarding stage's step for the next stage, with this stage's timing. */
  forward(next: StepRequest, timing: StageTiming): void;
}

/** Runs `request` on this stage and hands on what it gives; any failure becomes an error reply with its code. */
export async function runStep(step: StageStep, request: StepRequest, outlet: StepOutlet, log: Logger): Promise<void> {
  try {
    if (step.role === 'sample') {
      const { results, timing } = await step.run(request);
      outlet.reply({ stepId: request.stepId, results, timings: [timing] });
    } else {
      const { next, timing } = await step.run(request);
      outlet.forward(next, timing);
    }
  } catch (err) {
    const e = err instanceof ChatGlmError ? err : new ChatGlmError('stage_internal', err instanceof Error ? err.message : String(err));
    log.warn('step failed', { stepId: request.stepId, error: e });
    outlet.reply({ stepId: request.stepId, results: [], timings: [], error: { code: e.code, message: e.message } });
  }
}

type Phase = { kind: 'prefill'; entry: Entry } | { kind: 'decode'; entries: readonly Entry[] };

/** A step holds one PREFILL entry, or DECODE entries only. */
function phaseOf(request: StepRequest): Phase {
  const [first, ...rest] = request.entries;
  if (!first) throw new ChatGlmError('invalid_step', `step ${request.stepId} holds no entries`);
  if (first.phase === 'PHASE_PREFILL') {
    if (rest.length > 0) throw new ChatGlmError('invalid_step', `step ${request.stepId}: a PREFILL step holds exactly one entry, not ${request.entries.length}`);
    return { kind: 'prefill', entry: first };
  }
  if (request.entries.some((e) => e.phase !== 'PHASE_DECODE')) throw new ChatGlmError('invalid_step', `step ${request.stepId} mixes phases or holds an unknown one; a step holds one PREFILL or DECODE entries only`);
  return { kind: 'decode', entries: request.entries };
}

/**
 * Runs a step's layers on the runtime and times them for the StepReply (up to when timing() is
 * called). A runtime runs one step at a time: with several micro-batches in flight a step may wait
 * behind another, and its compute starts when that one ends, not when it was called; timing from
 * the call would count the wait as work (and a stage's busy time could exceed the wall time).
 */
class LayerRunner {
  /** When the runtime last finished a run. */
  private lastEnd = 0;

  constructor(
    private readonly runtime: StageRuntime,
    private readonly input: StageInput,
    private readonly observer: StepObserver,
  ) {}

  async run(phase: Phase): Promise<{ out: StageOutput; timing: () => StageTiming }> {
    const { range } = this.runtime.info;
    const received = phase.kind === 'prefill' ? phase.entry.activations.byteLength : phase.entries.reduce((sum, e) => sum + e.activations.byteLength, 0);
    if (received > 0) this.observer.activations('received', received);
    const called = performance.now();
    const out = await (phase.kind === 'prefill' ? this.runtime.prefill(this.input.prefill(phase.entry)) : this.runtime.decode(this.input.decode(phase.entries)));
    const end = performance.now();
    // A threaded runtime times its own turns (a chunked prefill's turns are interleaved with decode steps).
    const computeMs = out.computeMs ?? end - Math.max(called, this.lastEnd);
    this.lastEnd = end;
    this.observer.forward(phase.kind, computeMs / 1000);
    return { out, timing: () => ({ layerStart: range.start, layerEnd: range.end, forwardMs: computeMs + (performance.now() - end) }) };
  }
}

class ForwardingStageStep implements ForwardingStep {
  readonly role = 'forward';

  constructor(
    private readonly runtime: StageRuntime,
    private readonly layers: LayerRunner,
    private readonly outputDtype: ActivationDtype,
    private readonly observer: StepObserver,
  ) {}

  async run(request: StepRequest): Promise<{ next: StepRequest; timing: StageTiming }> {
    const phase = phaseOf(request);
    const { out, timing } = await this.layers.run(phase);
    const hidden = out.hidden;
    if (!hidden) throw new ChatGlmError('stage_internal', `layers ${this.runtime.info.range.start}-${this.runtime.info.range.end - 1} returned no activations`);
    const H = this.runtime.info.hiddenSize;
    // Prefill: all n rows go on; decode: one row per entry, in the order given.
    const entries = phase.kind === 'prefill'
      ? [{ ...phase.entry, activations: encodeActivations(hidden, this.outputDtype) }]
      : phase.entries.map((e, r) => ({ ...e, activations: encodeActivations(hidden.subarray(r * H, (r + 1) * H), this.outputDtype) }));
    this.observer.activations('sent', entries.reduce((sum, e) => sum + e.activations.byteLength, 0));
    return { next: { stepId: request.stepId, entries }, timing: timing() };
  }

  async release(seqIds: readonly string[]): Promise<void> {
    for (const id of seqIds) await this.runtime.release(id);
  }
}

class LastStageStep implements SamplingStep {
  readonly role = 'sample';

  constructor(
    private readonly runtime: StageRuntime,
    private readonly layers: LayerRunner,
    private readonly sampler: SequenceSampler,
  ) {}

  async run(request: StepRequest): Promise<{ results: Sampled[]; timing: StageTiming }> {
    const phase = phaseOf(request);
    // A prefill tells the last stage how to choose the sequence's tokens; check it before any work.
    const sampling = phase.kind === 'prefill' ? phase.entry.sampling : undefined;
    if (phase.kind === 'prefill' && !sampling) throw new ChatGlmError('invalid_step', `the PREFILL of ${phase.entry.seqId} carries no sampling parameters`);
    const { out, timing } = await this.layers.run(phase);
    const logits = out.logits;
    if (!logits) throw new ChatGlmError('stage_internal', 'the last stage returned no logits');
    const V = this.runtime.info.vocabSize;
    const rowOf = (r: number) => logits.subarray(r * V, (r + 1) * V);
    let results: Sampled[];
    if (phase.kind === 'prefill' && sampling) {
      const e = phase.entry;
      results = [wireSampled(e.seqId, this.sampler.startAndSample(e.seqId, e.tokenIds, fromWireSampling(sampling), rowOf(0), e.sampleIndex))];
    } else if (phase.kind === 'decode') {
      // The input check guaranteed one token per DECODE entry.
      results = phase.entries.map((e, r) => wireSampled(e.seqId, this.sampler.appendAndSample(e.seqId, e.tokenIds[0] ?? raise(e), rowOf(r), e.sampleIndex)));
    } else results = [];
    return { results, timing: timing() };
  }

  async release(seqIds: readonly string[]): Promise<void> {
    for (const id of seqIds) {
      await this.runtime.release(id);
      this.sampler.release(id);
    }
  }
}

function wireSampled(seqId: string, s: { tokenId: number; logprob: number; topLogprobs?: readonly { tokenId: number; logprob: number }[] }): Sampled {
  return { seqId, tokenId: s.tokenId, logprob: s.logprob, topLogprobs: (s.topLogprobs ?? []).map((t) => ({ tokenId: t.tokenId, logprob: t.logprob })) };
}

/** For checks the phase and input parsing already made: reaching it is a bug. */
function raise(e: Entry): never {
  throw new ChatGlmError('invalid_step', `malformed entry for ${e.seqId}`);
}
