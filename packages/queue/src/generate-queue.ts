// The BullMQ queue of generation jobs: one job per request, job id = request id.
import { Queue, type ConnectionOptions } from 'bullmq';
import type { GenerateJobData, GenerateJobResult } from './generate-job.ts';
import { DEFAULT_PREFIX, GENERATE_QUEUE } from './keys.ts';

/** A job whose head died is retried (resuming from the tokens already streamed) this many times in all. */
export const DEFAULT_JOB_ATTEMPTS = 3;

export type GenerateQueue = Queue<GenerateJobData, GenerateJobResult>;

export function createGenerateQueue(connection: ConnectionOptions, prefix = DEFAULT_PREFIX): GenerateQueue {
  return new Queue<GenerateJobData, GenerateJobResult>(GENERATE_QUEUE, { connection, prefix });
}

export async function enqueueGenerate(queue: GenerateQueue, data: GenerateJobData, options: { attempts?: number; ttlSeconds?: number } = {}): Promise<void> {
  const age = options.ttlSeconds ?? 3600;
  await queue.add(GENERATE_QUEUE, data, {
    jobId: data.requestId,
    attempts: options.attempts ?? DEFAULT_JOB_ATTEMPTS,
    backoff: { type: 'fixed', delay: 200 },
    removeOnComplete: { age },
    removeOnFail: { age },
  });
}

/** Jobs not yet taken by a head: what admission control compares with its limit. */
export async function queuedJobs(queue: GenerateQueue): Promise<number> {
  return queue.getJobCountByTypes('waiting', 'prioritized', 'delayed');
}
