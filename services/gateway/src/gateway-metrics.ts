// The gateway's Prometheus metrics (README, "Metrics and monitoring"): what clients see. Time to first token and
// inter-token latency are measured here, when the text leaves for the client, because only here
// do they include the queue, Redis and HTTP; the heads' and stages' metrics say where the time went.
import { FINISH_REASONS } from '@chatglm/generation';
import { Counter, Gauge, HTTP_SECONDS, Histogram, REQUEST_SECONDS, STEP_SECONDS, createProcessRegistry, type Registry } from '@chatglm/metrics';
import { withTimeout } from './with-timeout.ts';

/** Which API a request came through: a bounded label on every request metric. */
export const ENDPOINTS = ['api', 'stream_api', 'openai'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

/** Why admission refuses a request. */
export const REFUSAL_REASONS = ['queue_full', 'no_pipeline', 'rate_limited', 'concurrency_limited'] as const;

/** What the scrape-time gauges read from Redis (queue depth, ready pipelines). */
export interface QueueProbe {
  /** Jobs no head has taken yet. */
  queued(): Promise<number>;
  /** Seconds the oldest of them has waited (0 when none waits). */
  oldestWaitSeconds(): Promise<number>;
  /** Pipelines with a recent heartbeat. */
  livePipelines(): Promise<number>;
}

/** How long a scrape waits for Redis before reporting its figures as unknown. */
export const PROBE_TIMEOUT_MS = 1000;

export class GatewayMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'route' | 'method' | 'code'>;
  readonly httpDuration: Histogram<'route' | 'method' | 'code'>;
  readonly admitted: Counter<'endpoint'>;
  readonly refused: Counter<'endpoint' | 'reason'>;
  readonly timeToFirstToken: Histogram<'endpoint'>;
  readonly interTokenLatency: Histogram<'endpoint'>;
  readonly requestDuration: Histogram<'endpoint' | 'finish_reason'>;
  readonly promptTokens: Counter<'endpoint'>;
  readonly completionTokens: Counter<'endpoint'>;
  readonly finished: Counter<'endpoint' | 'finish_reason'>;
  readonly errors: Counter<'code'>;

  constructor(probe: QueueProbe) {
    const registers = [(this.registry = createProcessRegistry({ service: 'gateway' }))];
    this.httpRequests = new Counter({ name: 'chatglm_gateway_http_requests_total', help: 'HTTP requests answered, by route, method and status code', labelNames: ['route', 'method', 'code'], registers });
    this.httpDuration = new Histogram({ name: 'chatglm_gateway_http_request_duration_seconds', help: 'Time from a request arriving to its response ending (a whole reply for blocking and streaming routes)', labelNames: ['route', 'method', 'code'], buckets: HTTP_SECONDS, registers });
    this.admitted = new Counter({ name: 'chatglm_gateway_requests_admitted_total', help: 'Generation requests put on the queue', labelNames: ['endpoint'], registers });
    this.refused = new Counter({ name: 'chatglm_gateway_requests_refused_total', help: 'Generation requests refused at admission (queue_full, rate_limited and concurrency_limited: 429, no_pipeline: 503)', labelNames: ['endpoint', 'reason'], registers });
    this.timeToFirstToken = new Histogram({ name: 'chatglm_gateway_time_to_first_token_seconds', help: 'From a request arriving to its first text leaving for the client (requests the gateway streams or waits on)', labelNames: ['endpoint'], buckets: REQUEST_SECONDS, registers });
    this.interTokenLatency = new Histogram({ name: 'chatglm_gateway_inter_token_latency_seconds', help: 'Gap between successive text deltas sent to a client, divided among the tokens the later delta carries (one observation per token)', labelNames: ['endpoint'], buckets: STEP_SECONDS, registers });
    this.requestDuration = new Histogram({ name: 'chatglm_gateway_request_duration_seconds', help: 'From a request arriving to its final event reaching the client, by finish reason', labelNames: ['endpoint', 'finish_reason'], buckets: REQUEST_SECONDS, registers });
    this.promptTokens = new Counter({ name: 'chatglm_gateway_prompt_tokens_total', help: 'Prompt tokens of admitted requests', labelNames: ['endpoint'], registers });
    this.completionTokens = new Counter({ name: 'chatglm_gateway_completion_tokens_total', help: 'Tokens generated for requests the gateway followed to their end', labelNames: ['endpoint'], registers });
    this.finished = new Counter({ name: 'chatglm_gateway_finished_requests_total', help: 'Requests the gateway followed to their end, by finish reason (stop, length, cancelled, ...)', labelNames: ['endpoint', 'finish_reason'], registers });
    this.errors = new Counter({ name: 'chatglm_gateway_errors_total', help: 'Error answers sent to clients (as a status, or inside an open stream), by error code', labelNames: ['code'], registers });
    // Every endpoint's series are exported from the start (at 0), so that rates over them have data at once.
    for (const endpoint of ENDPOINTS) {
      for (const c of [this.admitted, this.promptTokens, this.completionTokens]) c.inc({ endpoint }, 0);
      for (const h of [this.timeToFirstToken, this.interTokenLatency]) h.zero({ endpoint });
      for (const reason of REFUSAL_REASONS) this.refused.inc({ endpoint, reason }, 0);
      for (const reason of FINISH_REASONS) {
        this.finished.inc({ endpoint, finish_reason: reason }, 0);
        this.requestDuration.zero({ endpoint, finish_reason: reason });
      }
    }
    // Read from Redis at scrape time. A Redis that does not answer must not fail (or hang) the whole
    // scrape: the queue's figures become NaN (unknown), and no pipeline is ready through this gateway.
    const read = (f: () => Promise<number>, unknown: number) => withTimeout(f(), PROBE_TIMEOUT_MS).catch(() => unknown);
    new Gauge({ name: 'chatglm_gateway_queue_depth', help: 'Generation jobs waiting for a head (read from BullMQ at scrape time; NaN when Redis does not answer)', registers, async collect() { this.set(await read(probe.queued, Number.NaN)); } });
    new Gauge({ name: 'chatglm_gateway_queue_oldest_wait_seconds', help: 'How long the oldest waiting job has waited (0 when none waits; NaN when Redis does not answer)', registers, async collect() { this.set(await read(probe.oldestWaitSeconds, Number.NaN)); } });
    new Gauge({ name: 'chatglm_gateway_ready_pipelines', help: 'Pipelines whose head sent a heartbeat recently (0 when Redis does not answer)', registers, async collect() { this.set(await read(probe.livePipelines, 0)); } });
  }
}
