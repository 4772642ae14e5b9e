// What a gateway replica is configured with; every option has its default and unit here.
import { DEFAULT_PREFIX } from '@chatglm/queue';
import type { ApiKeys } from './auth/api-keys.ts';

export interface GatewayOptions {
  /** Redis key prefix shared with the pipeline heads. Default "chatglm". */
  prefix: string;
  /** The model name served by /v1/models and expected in /v1/chat/completions. Default "chatglm-6b". */
  modelName: string;
  /** Admission limit: jobs waiting in the queue at which new requests get 429. Default 256. */
  maxQueued: number;
  /** How long the blocking endpoints (POST /, non-stream and SSE completions) wait, in ms. Default 600000. */
  requestTimeoutMs: number;
  /** Largest accepted request body, in bytes. Default 1 MiB. */
  bodyLimitBytes: number;
  /**
   * Longest single blocking Redis read while waiting for a request's events, in ms; between reads
   * the gateway checks that the request still exists and sends SSE keep-alive comments. Default 10000.
   */
  pollSliceMs: number;
  /** API keys a generation request must show (Authorization: Bearer); undefined: no authentication. Default undefined. */
  apiKeys: ApiKeys | undefined;
  /** Generation requests per API key and minute; 0: no limit. Only with API keys. Default 0. */
  rateLimitPerMinute: number;
  /**
   * Unfinished (queued or running) generation requests one API key may have at a time, counted across
   * replicas; 0: no limit. Only with API keys. Default 0.
   */
  maxConcurrentPerKey: number;
  /** Origins whose browser pages may call the API (CORS); empty: none but the gateway's own page. Default []. */
  corsOrigins: readonly string[];
  /**
   * On SIGTERM, how long open responses (streams, blocking calls) may run to their end, in ms; the
   * rest then get a retryable shutting_down error. Default 30000.
   */
  drainTimeoutMs: number;
  /**
   * How long a stream whose client went away may wait for the client to come back with
   * Last-Event-ID (to any replica) before its request is cancelled, in ms. Default 5000.
   */
  resumeGraceMs: number;
}

export const DEFAULT_GATEWAY_OPTIONS: GatewayOptions = Object.freeze({
  prefix: DEFAULT_PREFIX,
  modelName: 'chatglm-6b',
  maxQueued: 256,
  requestTimeoutMs: 600_000,
  bodyLimitBytes: 1024 * 1024,
  pollSliceMs: 10_000,
  apiKeys: undefined,
  rateLimitPerMinute: 0,
  maxConcurrentPerKey: 0,
  corsOrigins: Object.freeze([]) as readonly string[],
  drainTimeoutMs: 30_000,
  resumeGraceMs: 5_000,
});
