// A Lua script run by its SHA1 (EVALSHA): its source crosses the network once per Redis server
// start instead of on every call (the fenced write runs once per decode step of every head, and its
// source is three times the size of a step's data). A server that does not know the script
// (NOSCRIPT: its first use there, or Redis restarted) is sent the source once with EVAL, which
// caches it. A NOSCRIPT reply means the script did not run, so sending it again cannot apply a
// write twice.
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

export class LuaScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(redis: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
