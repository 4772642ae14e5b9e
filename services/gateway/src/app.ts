// The gateway as an express app, built from injected dependencies so tests (and main.ts) decide
// where Redis, the tokenizer and the model's limits come from. Stateless: any number of replicas
// can serve the same cluster, since everything a request needs lives in Redis.
import express, { type Express } from 'express';
import { createLogger, type Logger } from '@chatglm/common';
import type { GlmConfig } from '@chatglm/glm';
import { Admission, Cancellations, PipelineRegistry, RequestStore, createGenerateQueue, oldestQueuedJobAgeMs, queuedJobs } from '@chatglm/queue';
import type { Redis } from 'ioredis';
import { authenticate } from './auth/authenticate.ts';
import { RateLimiter } from './auth/rate-limiter.ts';
import { cors } from './cors.ts';
import { errorHandler, notFound } from './error-handler.ts';
import { EventFollower } from './event-follower.ts';
import type { GatewayContext, PromptTokenizer } from './gateway-context.ts';
import { DEFAULT_GATEWAY_OPTIONS, type GatewayOptions } from './gateway-options.ts';
import { GatewayMetrics } from './gateway-metrics.ts';
import { httpMetrics } from './http-metrics.ts';
import { requireJson } from './require-json.ts';
import { apiChatRoutes } from './routes/api-chat.ts';
import { chatCompletionRoutes } from './routes/chat-completions.ts';
import { healthRoutes } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { modelRoutes } from './routes/models.ts';
import { streamApiRoutes } from './routes/stream-api.ts';
import { StreamFollowers } from './stream-followers.ts';
import { webPageRoutes } from './routes/web-page.ts';

export interface GatewayDeps {
  /**
   * The shared command connection (create it with `connectGatewayRedis`, whose commands have a deadline). The app never closes it;
   * blocking reads use connections duplicated from it, which the app does close.
   */
  redis: Redis;
  tokenizer: PromptTokenizer;
  /** Only the context length is used: prompt + reply must fit in `maxSequenceLength` tokens. */
  config: Pick<GlmConfig, 'maxSequenceLength'>;
  options?: Partial<GatewayOptions>;
  logger?: Logger;
}

export interface GatewayApp {
  app: Express;
  context: GatewayContext;
  /** Stopping: /readyz answers 503 and new generation requests get 503 shutting_down; open ones go on. */
  startDraining(): void;
  /** Ends open event reads and closes the queue client; the shared Redis stays open. Idempotent. */
  close(): Promise<void>;
}

export function createGatewayApp(deps: GatewayDeps): GatewayApp {
  const options: GatewayOptions = { ...DEFAULT_GATEWAY_OPTIONS, ...deps.options };
  const logger = deps.logger ?? createLogger('gateway');
  const store = new RequestStore(deps.redis, options.prefix);
  const queue = createGenerateQueue(deps.redis, options.prefix);
  queue.on('error', (err) => logger.error('queue error', { err }));
  const registry = new PipelineRegistry(deps.redis, store.keys);
  const metrics = new GatewayMetrics({
    queued: () => queuedJobs(queue),
    oldestWaitSeconds: async () => (await oldestQueuedJobAgeMs(queue, Date.now())) / 1000,
    livePipelines: async () => (await registry.live()).length,
  });
  let draining = false;
  const context: GatewayContext = {
    options,
    modelMaxLength: deps.config.maxSequenceLength,
    tokenizer: deps.tokenizer,
    redis: deps.redis,
    store,
    queue,
    registry,
    admission: new Admission(deps.redis, store.keys, queue, store.ttlSeconds),
    cancellations: new Cancellations(deps.redis, store.keys),
    events: new EventFollower(deps.redis, store, options.pollSliceMs, logger),
    logger,
    metrics,
    authenticate: authenticate(options.apiKeys),
    rateLimiter: new RateLimiter(deps.redis, options.prefix, options.rateLimitPerMinute),
    draining: () => draining,
    followers: new StreamFollowers(deps.redis, store.keys, options.pollSliceMs),
    startedAt: Math.floor(Date.now() / 1000),
  };

  const app = express();
  app.disable('x-powered-by');
  app.use(httpMetrics(metrics));
  app.use(cors(options.corsOrigins));
  // Bodies declared as anything but JSON are refused before they are read (cross-site form posts).
  app.use(requireJson);
  app.use(express.json({ limit: options.bodyLimitBytes, type: () => true }));
  app.use(healthRoutes(context));
  app.use(metricsRoutes(context));
  app.use(modelRoutes(context));
  app.use(apiChatRoutes(context));
  app.use(streamApiRoutes(context));
  app.use(chatCompletionRoutes(context));
  app.use(webPageRoutes());
  app.use(notFound);
  app.use(errorHandler(logger, metrics));

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      context.events.close();
      await queue.close().catch((err: unknown) => logger.warn('queue close failed', { err }));
    })();
    return closing;
  };
  return { app, context, close, startDraining: () => void (draining = true) };
}
