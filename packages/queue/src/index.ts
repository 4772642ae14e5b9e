// The Redis contract between gateways and pipeline heads (docs/architecture.md, "Redis"): the BullMQ queue of
// generation jobs, each request's hash and event stream, cancellation, and pipeline heartbeats.
//
//   import { connectRedis, RequestStore, createGenerateQueue, enqueueGenerate } from '@chatglm/queue';
//   const redis = connectRedis(process.env.REDIS_URL);
//   const store = new RequestStore(redis);
//   if (!(await store.create(id, promptIds.length))) throw new Error('duplicate id');
//   await enqueueGenerate(createGenerateQueue(redis), { requestId: id, promptIds, params: samplingParamsToJson(params), acceptedAt: Date.now() });
//   for (const e of await store.readEvents(id, '0', 5000)) console.log(e);
export { Admission, RESERVATION_TTL_MS, type AdmissionRequest, type AdmissionVerdict } from './admission.ts';
export { Cancellations } from './cancellation.ts';
export type { GenerateJobData } from './generate-job.ts';
export { DEFAULT_JOB_ATTEMPTS, JOB_RETRY_BACKOFF_MS, createGenerateQueue, enqueueGenerate, hasFinishedJob, oldestQueuedJobAgeMs, queuedJobs, removeJob, type GenerateQueue } from './generate-queue.ts';
export { DEFAULT_PREFIX, GENERATE_QUEUE, RedisKeys } from './keys.ts';
export { HEARTBEAT_INTERVAL_MS, PipelineRegistry } from './pipeline-registry.ts';
export { releasePredecessorJobs } from './predecessor-jobs.ts';
export { DEFAULT_REDIS_URL, closeRedis, connectRedis } from './redis-connection.ts';
export { isTerminal, type RequestError, type RequestEvent, type RequestState, type RequestStatus, type StreamedEvent, type TokenLogprobs } from './request-state.ts';
export { RequestStore, type RequestClaim, type RequestOutcome, type RequestProgress } from './request-store.ts';
export { DEFAULT_REQUEST_TTL_SECONDS } from './request-ttl.ts';
