/**
 * @chatglm/gateway: the REST gateway (docs/architecture.md, "Processes"). Stateless; requests go to the pipelines
 * through Redis (@chatglm/queue) and their text comes back the same way.
 *
 * ```ts
 * import { connectGatewayRedis, createGatewayApp } from '@chatglm/gateway';
 *
 * const { app, close } = createGatewayApp({ redis: connectGatewayRedis(url), tokenizer, config, options: { maxQueued: 64 } });
 * const server = app.listen(8000);
 * ```
 */
export { createGatewayApp, type GatewayApp, type GatewayDeps } from './app.ts';
export { REDIS_COMMAND_TIMEOUT_MS, connectGatewayRedis } from './gateway-redis.ts';
export { DEFAULT_GATEWAY_OPTIONS, type GatewayOptions } from './gateway-options.ts';
export type { GatewayContext, PromptTokenizer } from './gateway-context.ts';
export { GatewayError } from './errors.ts';
export { STREAM_API_CODES } from './error-handler.ts';
export { loadGatewayModel, type GatewayModel } from './model-files.ts';
export { USAGE, parseGatewayArgs, type GatewayCommandLine } from './cli-options.ts';
