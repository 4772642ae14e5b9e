// The gateway process: `tsx services/gateway/src/main.ts --model DIR [--port 8000] ...`.
// Prints CHATGLM_READY {"service":"gateway","port":N} once it listens; SIGTERM/SIGINT stop
// accepting, let in-flight responses finish for a moment, close Redis and exit 0.
import type { AddressInfo } from 'node:net';
import { ChatGlmError, announceReady, createLogger } from '@chatglm/common';
import { closeRedis } from '@chatglm/queue';
import { createGatewayApp } from './app.ts';
import { connectGatewayRedis } from './gateway-redis.ts';
import { USAGE, parseGatewayArgs } from './cli-options.ts';
import { loadGatewayModel } from './model-files.ts';

/** How long a stopping gateway lets in-flight responses finish before closing their connections. */
export const SHUTDOWN_GRACE_MS = 5000;

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
  logger.info('listening', { host: cli.host, port, apiKeys: cli.options.apiKeys ? cli.options.apiKeys.size : 'off', redis: cli.redisUrl.replace(/\/\/[^@]*@/, '//***@'), prefix: cli.options.prefix, modelMaxLength: model.config.maxSequenceLength });
  announceReady({ service: 'gateway', port });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) process.exit(0); // a second signal: do not wait
    stopping = true;
    logger.info('stopping', { signal });
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const grace = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
    await closed;
    clearTimeout(grace);
    await gateway.close();
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
