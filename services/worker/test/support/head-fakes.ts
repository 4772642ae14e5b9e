// Fakes for unit tests of the pipeline head's parts: no Redis, no gRPC, no model, no processes.
import { createLogger, type Logger } from '@chatglm/common';
import type { Sampled, StageTiming, StepRequest } from '@chatglm/protocol';
import type { RequestOutcome, RequestProgress } from '@chatglm/queue';
import type { StepFailure } from '@chatglm/scheduler';
import type { Downstream } from '../../src/head/downstream.ts';
import type { JobHandle } from '../../src/head/job-handle.ts';
import type { RequestSink } from '../../src/head/request-writer.ts';
import type { SamplingStep, ForwardingStep } from '../../src/stage-step.ts';

/** A logger that keeps its lines (for assertions), printing nothing. */
export function quietLogger(lines: string[] = []): Logger {
  return createLogger('test', {}, (line) => void lines.push(line));
}

export const EOP = 99;
/** Token i reads as the letter 'a' + i % 26; EOP ends a reply. */
export const TEXT = {
  vocab: { vocabSize: 100, eopId: EOP, forcedTokenId: 0 },
  decode: (ids: readonly number[]) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join(''),
  processResponse: (t: string) => t,
};
/** Prompt markers of the fake vocabulary: [MASK] 90, [gMASK] 91, <sop> 92. */
export const MARKERS = { maskTokenId: 90, gmaskTokenId: 91, bosTokenId: 92 };
/** A prompt of `n` text tokens, then [gMASK] <sop>. */
export const prompt = (n: number) => [...Array.from({ length: n }, (_, i) => i), 91, 92];

/** Records every write in order; `failNext` makes the next write of that kind reject. */
export class FakeSink implements RequestSink {
  readonly writes: ({ kind: 'progress'; updates: RequestProgress[] } | { kind: 'finish'; outcome: RequestOutcome } | { kind: 'fail'; id: string; code: string; message: string })[] = [];
  /** The owner (attempt, write number) each written failure carried, in order. */
  readonly failOwners: { attempt?: string; seq?: number }[] = [];
  failNext: 'progress' | 'finish' | 'fail' | undefined;
  /** Every write fails while this is set (Redis down). */
  down = false;
  /** Writes of these requests are refused, as Redis refuses an attempt another one has fenced off. */
  readonly refused = new Set<string>();
  /** Each write takes this long, so that ordering is really tested. */
  delayMs = 1;

  async progress(updates: readonly RequestProgress[]): Promise<string[]> {
    await this.write('progress');
    const kept = updates.filter((u) => !this.refused.has(u.id));
    if (kept.length > 0) this.writes.push({ kind: 'progress', updates: kept });
    return updates.filter((u) => this.refused.has(u.id)).map((u) => u.id);
  }

  async finish(outcome: RequestOutcome): Promise<boolean> {
    await this.write('finish');
    if (this.refused.has(outcome.id)) return false;
    this.writes.push({ kind: 'finish', outcome });
    return true;
  }

  async fail(id: string, code: string, message: string, owner: { attempt?: string; seq?: number } = {}): Promise<boolean> {
    await this.write('fail');
    if (this.refused.has(id)) return false;
    this.writes.push({ kind: 'fail', id, code, message });
    this.failOwners.push(owner);
    return true;
  }

  /** The text a request's writes add up to. */
  textOf(id: string): string {
    return this.writes
      .flatMap((w) => (w.kind === 'progress' ? w.updates : w.kind === 'finish' ? [w.outcome] : []))
      .filter((u) => u.id === id)
      .map((u) => u.delta)
      .join('');
  }

  private async write(kind: 'progress' | 'finish' | 'fail'): Promise<void> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failNext === kind || this.down) {
      this.failNext = undefined;
      throw new Error(`${kind} write failed (fake)`);
    }
  }
}

let attempts = 0;

/** A job handle that records how it was settled. */
export class FakeJob implements JobHandle {
  settled: { how: 'done' | 'abandon' | 'handBack' } | { how: 'retry' | 'fail'; failure: StepFailure } | undefined;
  readonly settledOnce: Promise<void>;
  private resolve!: () => void;

  constructor(
    readonly attemptsBefore = 0,
    readonly maxAttempts = 3,
    readonly attempt = `attempt-${++attempts}`,
  ) {
    this.settledOnce = new Promise((r) => (this.resolve = r));
  }

  done(): void {
    this.settle({ how: 'done' });
  }

  retry(failure: StepFailure): void {
    this.settle({ how: 'retry', failure });
  }

  fail(failure: StepFailure): void {
    this.settle({ how: 'fail', failure });
  }

  abandon(): void {
    this.settle({ how: 'abandon' });
  }

  handBack(): void {
    this.settle({ how: 'handBack' });
  }

  private settle(s: NonNullable<FakeJob['settled']>): void {
    if (this.settled) throw new Error(`job settled twice: ${JSON.stringify(this.settled)} then ${JSON.stringify(s)}`);
    this.settled = s;
    this.resolve();
  }
}

const TIMING: StageTiming = { layerStart: 0, layerEnd: 4, forwardMs: 1 };

/** The last stage, faked: `next(seqId, sampleIndex)` picks each token; steps and releases are recorded. */
export class FakeSamplingStep implements SamplingStep {
  readonly role = 'sample';
  readonly steps: StepRequest[] = [];
  readonly released: string[] = [];
  /** Make steps fail with this error (a thrown ChatGlmError-like object). */
  failWith: Error | undefined;

  constructor(private readonly next: (seqId: string, sampleIndex: number) => number = () => 1) {}

  async run(request: StepRequest): Promise<{ results: Sampled[]; timing: StageTiming }> {
    this.steps.push(request);
    await new Promise((r) => setImmediate(r));
    if (this.failWith) throw this.failWith;
    return { results: request.entries.map((e) => ({ seqId: e.seqId, tokenId: this.next(e.seqId, e.sampleIndex), logprob: -0.5, topLogprobs: [] })), timing: TIMING };
  }

  async release(seqIds: readonly string[]): Promise<void> {
    this.released.push(...seqIds);
  }
}

/** A stage before the last, faked: hands every step on unchanged. */
export class FakeForwardingStep implements ForwardingStep {
  readonly role = 'forward';
  readonly released: string[] = [];
  failWith: Error | undefined;

  async run(request: StepRequest): Promise<{ next: StepRequest; timing: StageTiming }> {
    await new Promise((r) => setImmediate(r));
    if (this.failWith) throw this.failWith;
    return { next: request, timing: TIMING };
  }

  async release(seqIds: readonly string[]): Promise<void> {
    this.released.push(...seqIds);
  }
}

/** The Step stream to stage 1, faked: records what was sent. */
export class FakeDownstream implements Downstream {
  connected = true;
  readonly sent: StepRequest[] = [];
  readonly released: string[][] = [];

  sendStep(request: StepRequest): void {
    if (!this.connected) throw new Error('the fake stream is down');
    this.sent.push(request);
  }

  sendRelease(seqIds: readonly string[]): void {
    if (!this.connected) throw new Error('the fake stream is down');
    this.released.push([...seqIds]);
  }

  readonly abandoned: Error[] = [];

  abandonStream(reason: Error): void {
    this.abandoned.push(reason);
    this.connected = false;
  }
}

/** Resolves once `check` holds (polled every ms), or rejects after `ms`. */
export async function until(check: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}
