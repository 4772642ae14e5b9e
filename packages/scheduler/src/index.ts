// Continuous batching for a pipeline head: pure (no I/O), the single owner of request state.
//
//   import { Scheduler } from '@chatglm/scheduler';
//   const s = new Scheduler<Job>({ maxRunning: 8, maxTokensPerSequence: 2048, microBatches: 2, text: { vocab, decode, processResponse } });
//   s.submit({ id: 'r1', promptIds, params, context: job });   // context comes back with its steps and updates
//   for (const step of s.schedule()) send(step);            // prefills, then decode micro-batches
//   const updates = s.complete(step.id, sampledTokens);     // deltas to stream; `finish` when done
export { BatchSizeStats } from './batch-size-stats.ts';
export { Scheduler, kvPagesFor, type KvPageBudget, type SchedulerOptions } from './scheduler.ts';
export type { GenerationRequest, ScheduledDecode, SchedulerStats, SequenceUpdate, Step, StepFailure, StepResult } from './types.ts';
