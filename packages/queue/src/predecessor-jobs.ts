// A head that starts under the pipeline id of one that died (the launcher and Kubernetes restart a
// head under its old id) takes back the jobs its predecessor held. Their BullMQ locks would keep
// them from every head until they lapse (--lock-duration-ms, 10 s by default): with a single
// pipeline, its streams stalled that long after the head's death (`pnpm bench recovery`).
//
// A pipeline id names one live head at a time, so a job whose request is running under this id, as
// a new head of that id starts, belongs to a dead process. It goes back to waiting with the dead
// holder's own lock token (moveToWait: no attempt used, no stall counted) and resumes from what was
// written, like a job handed back. Were one id ever given to two live heads, fencing keeps each
// reply whole: the older attempt's writes are refused once the newer one claims the request.
import type { Redis } from 'ioredis';
import type { GenerateQueue } from './generate-queue.ts';
import type { RequestStore } from './request-store.ts';

/** Moves the jobs a dead head of `pipelineId` held back to waiting; returns their ids. */
export async function releasePredecessorJobs(redis: Redis, queue: GenerateQueue, store: RequestStore, pipelineId: string): Promise<string[]> {
  const released: string[] = [];
  for (const job of await queue.getActive()) {
    if (!job?.id) continue;
    const state = await store.read(job.data.requestId);
    if (state?.status !== 'running' || state.servedBy !== pipelineId) continue;
    // BullMQ keeps a job's lock token at <job key>:lock.
    const token = await redis.get(`${queue.toKey(job.id)}:lock`);
    if (!token) continue; // lapsed already: BullMQ's stalled check moves it
    try {
      await job.moveToWait(token);
      released.push(job.id);
    } catch {
      // settled, moved or taken over meanwhile: nothing of ours to release
    }
  }
  return released;
}
