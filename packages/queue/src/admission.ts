// Admission control as one Redis script, so that the check and the reservation cannot be split by
// another request: a burst on any number of gateway replicas admits no more than the limits allow.
// Two limits: the jobs waiting for a head (BullMQ's own lists, plus requests admitted but not yet
// enqueued), and, per caller, the requests not yet finished.
import type { Redis } from 'ioredis';
import type { GenerateQueue } from './generate-queue.ts';
import type { RedisKeys } from './keys.ts';
import { LuaScript } from './lua-script.ts';
import { DEFAULT_REQUEST_TTL_SECONDS } from './request-ttl.ts';

/**
 * How long an admitted request holds its place before it is on the queue, in ms. Enqueuing takes
 * milliseconds; the bound is for a gateway that dies in between, whose places come back by then.
 */
export const RESERVATION_TTL_MS = 30_000;

export type AdmissionVerdict =
  /** Admitted: release(id) once the job is on the queue, or the request is refused after all. */
  | { admitted: true; queued: number }
  /** `queued` jobs wait (or are about to), at least maxQueued. */
  | { admitted: false; reason: 'queue_full'; queued: number }
  /** The owner has `unfinished` requests, at least its limit. */
  | { admitted: false; reason: 'concurrency_limited'; unfinished: number };

export interface AdmissionRequest {
  /** The request id (the job id it will have). */
  id: string;
  /** Refuse while this many jobs wait or are about to. */
  maxQueued: number;
  /** Whose request it is (an API key's tag) and how many unfinished ones it may have (> 0); absent: no per-owner limit. */
  owner?: { name: string; maxUnfinished: number };
}

// KEYS: wait, paused, prioritized, delayed (BullMQ's, for jobs no head has taken), admitted,
// [the owner's unfinished set]. ARGV: id, maxQueued, reservation TTL ms, [maxUnfinished, prefix of
// a request's hash key, unfinished set TTL ms].
// Redis's clock, not the gateway's: replicas whose clocks differ must agree on what is stale.
// BullMQ 6 keeps a paused queue's jobs in `wait`; `paused` holds those of older versions.
// An owner's id is unfinished while admitted (its hash may not exist yet) or queued or running;
// ended, refused and expired ids are dropped here, so nobody has to remove them when a request ends.
const ADMIT = new LuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[3]))
local queued = redis.call('LLEN', KEYS[1]) + redis.call('LLEN', KEYS[2]) + redis.call('ZCARD', KEYS[3])
  + redis.call('ZCARD', KEYS[4]) + redis.call('ZCARD', KEYS[5])
if queued >= tonumber(ARGV[2]) then return {1, queued} end
if #KEYS >= 6 then
  local unfinished = 0
  for _, id in ipairs(redis.call('ZRANGE', KEYS[6], 0, -1)) do
    local status = redis.call('HGET', ARGV[5] .. id, 'status')
    if redis.call('ZSCORE', KEYS[5], id) or status == 'queued' or status == 'running' then
      unfinished = unfinished + 1
    else
      redis.call('ZREM', KEYS[6], id)
    end
  end
  if unfinished >= tonumber(ARGV[4]) then return {2, unfinished} end
  redis.call('ZADD', KEYS[6], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[6], ARGV[6])
end
redis.call('ZADD', KEYS[5], now, ARGV[1])
return {0, queued}
`);

/** BullMQ's lists and sets (its key names) of jobs no head has taken yet, in the script's KEYS order. */
const WAITING_JOBS = ['wait', 'paused', 'prioritized', 'delayed'] as const;

export class Admission {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly queue: GenerateQueue,
    private readonly ttlSeconds = DEFAULT_REQUEST_TTL_SECONDS,
  ) {}

  /** Checks the limits and, within them, reserves a place for `r.id`, in one round trip. */
  async admit(r: AdmissionRequest): Promise<AdmissionVerdict> {
    const keys = [...WAITING_JOBS.map((type) => this.queue.toKey(type)), this.keys.admitted()];
    const args: (string | number)[] = [r.id, r.maxQueued, RESERVATION_TTL_MS];
    if (r.owner) {
      keys.push(this.keys.unfinished(r.owner.name));
      args.push(r.owner.maxUnfinished, this.keys.request(''), this.ttlSeconds * 1000);
    }
    const [verdict, count] = (await ADMIT.run(this.redis, keys, args)) as [number, number];
    if (verdict === 1) return { admitted: false, reason: 'queue_full', queued: count };
    if (verdict === 2) return { admitted: false, reason: 'concurrency_limited', unfinished: count };
    return { admitted: true, queued: count };
  }

  /** Ends an admitted request's reservation: its job is on the queue now (and counted there), or never will be. */
  async release(id: string): Promise<void> {
    await this.redis.zrem(this.keys.admitted(), id);
  }
}
