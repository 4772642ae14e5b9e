// Structured logs: one JSON object per line on stderr, so a supervisor (the local launcher, a log
// collector) can read them. `msg` is a short stable phrase; details go in fields.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/** Level from `CHATGLM_LOG_LEVEL` (default info). */
export function createLogger(service: string, base: Record<string, unknown> = {}, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const min = ORDER[(process.env.CHATGLM_LOG_LEVEL as LogLevel) ?? 'info'] ?? ORDER.info;
  const log = (level: LogLevel) => (msg: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[level] < min) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, service, msg, ...base, ...fields }, errorReplacer)}\n`);
  };
  return {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: (fields) => createLogger(service, { ...base, ...fields }, write),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, ...('code' in value ? { code: (value as { code: unknown }).code } : {}) };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/**
 * The line a service prints on stdout once it serves, e.g. `CHATGLM_READY {"service":"gateway","port":8000}`:
 * the launcher and tests wait for it to learn the bound port.
 */
export const READY_MARKER = 'CHATGLM_READY';

export function announceReady(fields: Record<string, unknown>): void {
  process.stdout.write(`${READY_MARKER} ${JSON.stringify({ pid: process.pid, ...fields })}\n`);
}
