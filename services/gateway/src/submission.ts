// The path every generating endpoint shares: render the chat prompt, tokenize it, check that it
// fits the model, admit the request, register it in Redis and put its job on the queue.
import { GenerationParamsError, randomSeed, resolveSamplingParams, samplingParamsToJson, type SamplingParams } from '@chatglm/generation';
import { enqueueGenerate, hasFinishedJob, removeJob, type AdmissionRequest, type AdmissionVerdict } from '@chatglm/queue';
import { buildChatPrompt, type ChatTurn } from '@chatglm/tokenizer';
import { GatewayError, concurrencyLimited, contextLengthExceeded, duplicateRequestId, invalidRequest, noPipeline, queueFull } from './errors.ts';
import type { GatewayContext } from './gateway-context.ts';
import type { Endpoint } from './gateway-metrics.ts';
import type { ApiClient } from './auth/api-keys.ts';

/**
 * No piece of ChatGLM's vocabulary covers more than 80 characters (`<|blank_80|>`); with NFKC
 * folding that can merge two characters into one, a prompt longer than this many characters per
 * token of context cannot fit, so it is refused before paying for tokenization.
 */
export const MAX_CHARS_PER_TOKEN = 256;

export interface ChatSubmission {
  /** The API it came through (the metrics' label). */
  endpoint: Endpoint;
  /** Whose API key sent it (its rate limit); undefined with API keys off. */
  client: ApiClient | undefined;
  /** Internal request id: Redis keys and the BullMQ job id. */
  id: string;
  /** The id as the caller knows it, for error messages. Default `id`. */
  displayId?: string;
  history: readonly ChatTurn[];
  query: string;
  /** Overrides of DEFAULT_SAMPLING. maxLength defaults to the model's context, seed to a random one. */
  sampling: Partial<SamplingParams>;
  /** What the caller calls maxLength and maxNewTokens, for error messages. */
  fieldNames?: { maxLength?: string; maxNewTokens?: string };
  /** Report each token's logprob with this many alternatives (0..20); undefined: no logprobs. */
  logprobs?: number;
}

export interface SubmittedRequest {
  id: string;
  promptTokens: number;
  params: SamplingParams;
  acceptedAt: number;
}

export async function submitChat(ctx: GatewayContext, s: ChatSubmission): Promise<SubmittedRequest> {
  if (ctx.draining()) throw new GatewayError('shutting_down', 'this gateway is stopping; retry (another replica takes the request)');
  // Admission comes first, so that a refused request costs no tokenizing on this event loop, and
  // in one round trip's time (each round trip to Redis adds to the time to first token). The
  // limits are checked and a place reserved in one script: reading the queue's length and
  // enqueuing later let a burst pass the check before any of it was counted.
  const admission = ctx.admission.admit(admissionRequest(ctx, s));
  try {
    const [, verdict, live, finishedJob] = await Promise.all([admitRate(ctx, s), admission, ctx.registry.live(), hasFinishedJob(ctx.queue, s.id)]);
    if (!verdict.admitted) {
      ctx.metrics.refused.inc({ endpoint: s.endpoint, reason: verdict.reason });
      throw verdict.reason === 'queue_full' ? queueFull(verdict.queued, ctx.options.maxQueued) : concurrencyLimited(ctx.options.maxConcurrentPerKey);
    }
    if (live.length === 0) {
      ctx.metrics.refused.inc({ endpoint: s.endpoint, reason: 'no_pipeline' });
      throw noPipeline();
    }
    return await enqueueChat(ctx, s, finishedJob, verdict.queued);
  } finally {
    endReservation(ctx, s.id, admission);
  }
}

/** The limits that apply to `s`: the queue's, and its API key's concurrency when both are on. */
function admissionRequest(ctx: GatewayContext, s: ChatSubmission): AdmissionRequest {
  const maxUnfinished = ctx.options.maxConcurrentPerKey;
  return { id: s.id, maxQueued: ctx.options.maxQueued, ...(s.client && maxUnfinished > 0 && { owner: { name: s.client.tag, maxUnfinished } }) };
}

/**
 * Ends the place admission reserved, once it is reserved: the job is on the queue by now (counted
 * there), or never will be. Not awaited, so the reply does not wait for it; a place left behind
 * holds only until RESERVATION_TTL_MS.
 */
function endReservation(ctx: GatewayContext, id: string, admission: Promise<AdmissionVerdict>): void {
  admission
    .then((v) => (v.admitted ? ctx.admission.release(id) : undefined), () => undefined)
    .catch((err: unknown) => ctx.logger.warn('admission place not released', { id, err }));
}

/** Renders, tokenizes and checks the prompt, registers the request and puts its job on the queue. */
async function enqueueChat(ctx: GatewayContext, s: ChatSubmission, finishedJob: boolean, queued: number): Promise<SubmittedRequest> {
  const limit = ctx.modelMaxLength;
  const prompt = buildChatPrompt(s.history, s.query);
  if (prompt.length > limit * MAX_CHARS_PER_TOKEN) {
    throw contextLengthExceeded(`the prompt (history + query) has ${prompt.length} characters, far more than the model's context of ${limit} tokens holds; shorten it`);
  }
  const promptIds = ctx.tokenizer.encode(prompt);
  const params = resolveParams({ maxLength: limit, ...s.sampling, seed: s.sampling.seed ?? randomSeed() });
  checkLength(promptIds.length, params, limit, s.fieldNames ?? {});

  const acceptedAt = Date.now();
  if (!(await ctx.store.create(s.id, promptIds.length, acceptedAt))) throw duplicateRequestId(s.displayId ?? s.id);
  try {
    // The id's earlier request is over and its record gone, but BullMQ still keeps its job, which
    // would swallow this one.
    if (finishedJob) await removeJob(ctx.queue, s.id);
    await enqueueGenerate(ctx.queue, { requestId: s.id, promptIds, params: samplingParamsToJson(params), acceptedAt, ...(s.logprobs !== undefined && { logprobs: s.logprobs }) }, { ttlSeconds: ctx.store.ttlSeconds });
  } catch (err) {
    await ctx.store.remove(s.id).catch(() => undefined);
    throw err;
  }
  ctx.metrics.admitted.inc({ endpoint: s.endpoint });
  ctx.metrics.promptTokens.inc({ endpoint: s.endpoint }, promptIds.length);
  ctx.logger.debug('request accepted', { id: s.id, promptTokens: promptIds.length, queued });
  return { id: s.id, promptTokens: promptIds.length, params, acceptedAt };
}

/** The client's rate limit; a refusal is counted among the admission refusals. */
async function admitRate(ctx: GatewayContext, s: ChatSubmission): Promise<void> {
  try {
    await ctx.rateLimiter.admit(s.client);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'rate_limited') ctx.metrics.refused.inc({ endpoint: s.endpoint, reason: 'rate_limited' });
    throw err;
  }
}

function resolveParams(p: Partial<SamplingParams>): SamplingParams {
  try {
    return resolveSamplingParams(p);
  } catch (err) {
    // The schemas check every field first; this is the last line of defence.
    if (err instanceof GenerationParamsError) throw invalidRequest(err.message);
    throw err;
  }
}

function checkLength(promptTokens: number, params: SamplingParams, limit: number, names: { maxLength?: string; maxNewTokens?: string }): void {
  const maxLengthName = names.maxLength ?? 'the total length';
  if (params.maxLength > limit) {
    throw contextLengthExceeded(`${maxLengthName} ${params.maxLength} exceeds the model's context of ${limit} tokens`);
  }
  if (promptTokens >= params.maxLength) {
    throw contextLengthExceeded(
      params.maxLength === limit && !names.maxLength
        ? `the prompt is ${promptTokens} tokens, but the model's context is ${limit} tokens (prompt + reply); shorten the prompt or the history`
        : `the prompt is ${promptTokens} tokens, which leaves no room for a reply within ${maxLengthName} ${params.maxLength} (prompt + reply); shorten the prompt or the history, or raise ${maxLengthName}`,
    );
  }
  if (params.maxNewTokens !== undefined && promptTokens + params.maxNewTokens > limit) {
    throw contextLengthExceeded(
      `the prompt is ${promptTokens} tokens and ${names.maxNewTokens ?? 'maxNewTokens'} is ${params.maxNewTokens}: ${promptTokens + params.maxNewTokens} tokens exceed the model's context of ${limit}; lower ${names.maxNewTokens ?? 'maxNewTokens'} or shorten the prompt`,
    );
  }
}
