// Shared building blocks for every package and service.
//
//   import { ChatGlmError, errorCodeInfo } from '@chatglm/common';
//   throw new ChatGlmError('kv_capacity', 'all 8 KV slots are in use');   // retryable, HTTP 503: see error-codes.ts
//   await closeAll([() => server.close(), () => redis.quit()]);          // every cleanup runs, even if one throws
export { ChatGlmError } from './errors.ts';
export { ERROR_CODES, errorCodeInfo, isErrorCode, toErrorCode, type ErrorCode, type ErrorCodeInfo, type GrpcStatusName } from './error-codes.ts';
export { closeAll } from './close-all.ts';
export { seededRandom } from './seeded-random.ts';
export { READY_MARKER, announceReady, createLogger, type LogLevel, type Logger } from './logger.ts';
export { freePort, portIsFree } from './ports.ts';
export { cacheRoot } from './cache-dir.ts';
export { maskUrlCredentials, sameDigest, secretDigest } from './secrets.ts';
export {
  bfloat16ToFloat32,
  float16BitsToNumber,
  float16ToFloat32,
  float32BitsToFloat16Bits,
  float32ToFloat16,
  numberToFloat16Bits,
  roundToFloat16,
} from './float16.ts';
