// The BullMQ queue of generation jobs: one job per request, job id = request id. A job returns
// nothing: the request's outcome lives in its Redis record (RequestStore), which every reader uses.
import { Queue, type ConnectionOptions } from 'bullmq';
import type { GenerateJobData } from './generate-job.ts';
import { DEFAULT_PREFIX, GENERATE_QUEUE } from './keys.ts';
import { DEFAULT_REQUEST_TTL_SECONDS } from './request-ttl.ts';

/** A job whose head died is retried (resuming from the tokens already streamed) this many times in all. */
export const DEFAULT_JOB_ATTEMPTS = 3;
/** Pause before a failed attempt runs again, in ms: long enough for a broken pipeline to be noticed. */
export const JOB_RETRY_BACKOFF_MS = 200;

export type GenerateQueue = Queue<GenerateJobData, void>;

export function createGenerateQueue(connection: ConnectionOptions, prefix = DEFAULT_PREFIX): GenerateQueue {
  return new Queue<GenerateJobData, void>(GENERATE_QUEUE, { connection, prefix });
}

export async function enqueueGenerate(queue: GenerateQueue, data: GenerateJobData, options: { attempts?: number; ttlSeconds?: number } = {}): Promise<void> {
  const age = options.ttlSeconds ?? DEFAULT_REQUEST_TTL_SECONDS;
  await queue.add(GENERATE_QUEUE, data, {
    jobId: data.requestId,
    attempts: options.attempts ?? DEFAULT_JOB_ATTEMPTS,
    backoff: { type: 'fixed', delay: JOB_RETRY_BACKOFF_MS },
    removeOnComplete: { age },
    removeOnFail: { age },
  });
}

/**
 * Whether BullMQ still keeps a finished job of `id`. It keeps one for the request TTL and silently
 * ignores a new job with the same id meanwhile, so a request id reused after its record expired must
 * have that job removed first (removeJob), or it would never run.
 */
export async function hasFinishedJob(queue: GenerateQueue, id: string): Promise<boolean> {
  const state = await queue.getJobState(id);
  return state === 'completed' || state === 'failed';
}

export async function removeJob(queue: GenerateQueue, id: string): Promise<void> {
  await queue.remove(id);
}

/** Jobs not yet taken by a head: what admission control compares with its limit. */
export async function queuedJobs(queue: GenerateQueue): Promise<number> {
  return queue.getJobCountByTypes('waiting', 'prioritized', 'delayed');
}

/** How long the oldest job no head has taken yet has waited, in ms (0 when none waits). */
export async function oldestQueuedJobAgeMs(queue: GenerateQueue, now: number): Promise<number> {
  const [oldest] = await queue.getJobs(['waiting'], 0, 0, true);
  return oldest ? Math.max(0, now - oldest.timestamp) : 0;
}
