// The gateway's command line (see USAGE).
import { parseArgs } from 'node:util';
import { ChatGlmError } from '@chatglm/common';
import { DEFAULT_REDIS_URL } from '@chatglm/queue';
import { ApiKeys } from './auth/api-keys.ts';
import { DEFAULT_GATEWAY_OPTIONS, type GatewayOptions } from './gateway-options.ts';

export const USAGE = `usage: chatglm-gateway --model DIR [options]

The REST gateway of chatglm-cluster: the original api.py (POST /), its stream API (POST /chat,
POST /get_response) and an OpenAI-compatible API (/v1/chat/completions, /v1/models).

options:
  --model DIR               a ChatGLM-6B directory; only config.json and ice_text.model are read
  --port N                  port to listen on; 0 = any free port (default 8000)
  --host ADDR               address to bind (default 0.0.0.0)
  --redis URL               Redis of the cluster (default $REDIS_URL, else ${DEFAULT_REDIS_URL})
  --redis-prefix P          Redis key prefix shared with the pipeline heads (default "${DEFAULT_GATEWAY_OPTIONS.prefix}")
  --model-name NAME         model id of the OpenAI API (default "${DEFAULT_GATEWAY_OPTIONS.modelName}")
  --max-queued N            queued jobs at which requests get 429 (default ${DEFAULT_GATEWAY_OPTIONS.maxQueued})
  --request-timeout-ms MS   how long blocking and streaming requests wait (default ${DEFAULT_GATEWAY_OPTIONS.requestTimeoutMs})
  --api-keys FILE           API keys, one per line (or comma-separated in $CHATGLM_API_KEYS): generation
                            requests must send Authorization: Bearer <key> (default: no authentication)
  --rate-limit N            generation requests per API key and minute (default 0: no limit)
  --max-concurrent-per-key N
                            unfinished generation requests per API key at a time (default
                            $CHATGLM_MAX_CONCURRENT_PER_KEY, else 0: no limit)
  --cors-origins LIST       comma-separated origins whose browser pages may call the API (default: none)
  --drain-timeout-ms MS     on SIGTERM, how long open responses may run to their end (default ${DEFAULT_GATEWAY_OPTIONS.drainTimeoutMs})
  --resume-grace-ms MS      how long a stream whose client left waits for it to resume with Last-Event-ID
                            before the request is cancelled (default ${DEFAULT_GATEWAY_OPTIONS.resumeGraceMs})
  -h, --help                this text`;

export interface GatewayCommandLine {
  modelDir: string;
  port: number;
  host: string;
  redisUrl: string;
  options: GatewayOptions;
}

/** Parses argv; undefined means --help was asked for. Throws ChatGlmError invalid_argument. */
export function parseGatewayArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): GatewayCommandLine | undefined {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      redis: { type: 'string' },
      'redis-prefix': { type: 'string' },
      'model-name': { type: 'string' },
      'max-queued': { type: 'string' },
      'request-timeout-ms': { type: 'string' },
      'api-keys': { type: 'string' },
      'rate-limit': { type: 'string' },
      'max-concurrent-per-key': { type: 'string' },
      'cors-origins': { type: 'string' },
      'drain-timeout-ms': { type: 'string' },
      'resume-grace-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  if (!values.model) throw new ChatGlmError('invalid_argument', '--model DIR is required (a ChatGLM-6B directory with config.json and ice_text.model)');
  return {
    modelDir: values.model,
    port: integer('port', values.port, 0, 65535) ?? 8000,
    host: values.host ?? '0.0.0.0',
    redisUrl: values.redis ?? env.REDIS_URL ?? DEFAULT_REDIS_URL,
    options: {
      ...DEFAULT_GATEWAY_OPTIONS,
      prefix: nonEmpty('redis-prefix', values['redis-prefix']) ?? DEFAULT_GATEWAY_OPTIONS.prefix,
      modelName: nonEmpty('model-name', values['model-name']) ?? DEFAULT_GATEWAY_OPTIONS.modelName,
      maxQueued: integer('max-queued', values['max-queued'], 0) ?? DEFAULT_GATEWAY_OPTIONS.maxQueued,
      requestTimeoutMs: integer('request-timeout-ms', values['request-timeout-ms'], 1) ?? DEFAULT_GATEWAY_OPTIONS.requestTimeoutMs,
      apiKeys: ApiKeys.load(values['api-keys'], env),
      rateLimitPerMinute: integer('rate-limit', values['rate-limit'], 0) ?? DEFAULT_GATEWAY_OPTIONS.rateLimitPerMinute,
      maxConcurrentPerKey: integer('max-concurrent-per-key', values['max-concurrent-per-key'] ?? env.CHATGLM_MAX_CONCURRENT_PER_KEY, 0) ?? DEFAULT_GATEWAY_OPTIONS.maxConcurrentPerKey,
      corsOrigins: origins(values['cors-origins']),
      drainTimeoutMs: integer('drain-timeout-ms', values['drain-timeout-ms'], 0) ?? DEFAULT_GATEWAY_OPTIONS.drainTimeoutMs,
      resumeGraceMs: integer('resume-grace-ms', values['resume-grace-ms'], 0) ?? DEFAULT_GATEWAY_OPTIONS.resumeGraceMs,
    },
  };
}

function integer(name: string, v: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new ChatGlmError('invalid_argument', `--${name} must be an integer in [${min}, ${max}], got "${v}"`);
  return n;
}

/** `https://a.example,http://localhost:3000` -> the origins, each checked to be scheme://host[:port]. */
function origins(v: string | undefined): readonly string[] {
  if (v === undefined) return DEFAULT_GATEWAY_OPTIONS.corsOrigins;
  const list = v.split(',').map((o) => o.trim()).filter((o) => o !== '');
  for (const o of list) {
    if (!/^https?:\/\/[^/\s]+$/.test(o)) throw new ChatGlmError('invalid_argument', `--cors-origins: "${o}" is not an origin (scheme://host[:port], no path)`);
  }
  return list;
}

function nonEmpty(name: string, v: string | undefined): string | undefined {
  if (v === '') throw new ChatGlmError('invalid_argument', `--${name} must not be empty`);
  return v;
}
