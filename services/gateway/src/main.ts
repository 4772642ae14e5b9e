// The gateway process: `tsx services/gateway/src/main.ts --model DIR [--port 8000] ...`.
// Prints CHATGLM_READY {"service":"gateway","port":N} once it listens; SIGTERM/SIGINT stop
// accepting, let in-flight responses finish for a moment, close Redis and exit 0.
import type { AddressInfo } from 'node:net';
import { ChatGlmError, announceReady, createLogger, maskUrlCredentials } from '@chatglm/common';
import { closeRedis } from '@chatglm/queue';
import { createGatewayApp } from './app.ts';
import { connectGatewayRedis } from './gateway-redis.ts';
import { USAGE, parseGatewayArgs } from './cli-options.ts';
import { loadGatewayModel } from './model-files.ts';

/** After the drain, how long the shutting_down error events get to reach their clients before the connections are cut. */
const FAREWELL_MS = 200;

const logger = createLogger('gateway');

async function main(): Promise<void> {
  const cli = parseGatewayArgs(process.argv.slice(2));
  if (!cli) {
    console.log(USAGE);
    return;
  }
  const model = await loadGatewayModel(cli.modelDir);
  const redis = connectGatewayRedis(cli.redisUrl);
  redis.on('error', (err: Error) => logger.warn('redis connection error', { err }));
  const gateway = createGatewayApp({ redis, tokenizer: model.tokenizer, config: model.config, options: cli.options, logger });

  // A handler's stray rejection must never take the process (and every other request) down.
  process.on('unhandledRejection', (err) => logger.error('unhandled rejection', { err }));

  const server = gateway.app.listen(cli.port, cli.host);
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  logger.info('listening', { host: cli.host, port, apiKeys: cli.options.apiKeys ? cli.options.apiKeys.size : 'off', redis: maskUrlCredentials(cli.redisUrl), prefix: cli.options.prefix, modelMaxLength: model.config.maxSequenceLength });
  announceReady({ service: 'gateway', port });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) process.exit(0); // a second signal: do not wait
    stopping = true;
    logger.info('stopping: draining open responses', { signal, drainTimeoutMs: cli.options.drainTimeoutMs });
    // Drain: readiness fails (a load balancer stops sending), new requests get a retryable 503,
    // open responses run to their end for up to the drain timeout.
    gateway.startDraining();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const idle = setInterval(() => server.closeIdleConnections(), 100);
    const drained = await Promise.race([closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), cli.options.drainTimeoutMs))]);
    clearInterval(idle);
    // What is still open gets a shutting_down error event (streams) or answer, then the connections close.
    await gateway.close();
    if (!drained) {
      await new Promise((r) => setTimeout(r, FAREWELL_MS));
      server.closeAllConnections();
      await closed;
    }
    await closeRedis(redis);
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ChatGlmError) {
    logger.error('cannot start', { code: err.code, message: err.message });
    if (err.code === 'invalid_argument') console.error(`${err.message}\n\n${USAGE}`);
  } else logger.error('cannot start', { err });
  process.exit(err instanceof ChatGlmError && err.code === 'invalid_argument' ? 2 : 1);
});
