// What every route works with: the Redis contract objects, the tokenizer, the model's limit and
// the options. Built once per app by createGatewayApp.
import type { Logger } from '@chatglm/common';
import type { Admission, Cancellations, GenerateQueue, PipelineRegistry, RequestStore } from '@chatglm/queue';
import type { RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import type { RateLimiter } from './auth/rate-limiter.ts';
import type { StreamFollowers } from './stream-followers.ts';
import type { EventFollower } from './event-follower.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';
import type { GatewayOptions } from './gateway-options.ts';

/** The part of ChatGLMTokenizer the gateway uses. */
export interface PromptTokenizer {
  /** Prompt ids, ending with [gMASK] <sop>. */
  encode(text: string): number[];
  /** What one token contributes to the text, for logprobs. */
  tokenBytes(id: number): Uint8Array;
  /** `<eop>`, which ends a reply but is not part of its text. */
  readonly vocab: { readonly eopId: number };
}

export interface GatewayContext {
  options: GatewayOptions;
  /** The model's context in tokens (config.maxSequenceLength): prompt + reply must fit. */
  modelMaxLength: number;
  tokenizer: PromptTokenizer;
  redis: Redis;
  store: RequestStore;
  queue: GenerateQueue;
  registry: PipelineRegistry;
  /** The queue's and each API key's limits, checked and reserved atomically. */
  admission: Admission;
  cancellations: Cancellations;
  events: EventFollower;
  logger: Logger;
  metrics: GatewayMetrics;
  /** Every generation route's first handler: checks the API key (when keys are on). */
  authenticate: RequestHandler;
  rateLimiter: RateLimiter;
  /** Who follows which request's stream, on every replica (resumable streams). */
  followers: StreamFollowers;
  /** True once the gateway is stopping: readiness fails and new requests are refused with 503. */
  draining(): boolean;
  /** Epoch seconds when this replica started (the `created` of /v1/models). */
  startedAt: number;
}
