// Shared building blocks for every package and service.
//
//   import { ChatGlmError } from '@chatglm/common';
//   throw new ChatGlmError('context_overflow', 'prompt of 3000 tokens exceeds the 2048-token cache', true);
export { ChatGlmError } from './errors.ts';
export { seededRandom } from './seeded-random.ts';
export { READY_MARKER, announceReady, createLogger, type LogLevel, type Logger } from './logger.ts';
export { freePort, portIsFree } from './ports.ts';
export { cacheRoot } from './cache-dir.ts';
