// The Lua scripts behind every write a head makes to a request's records (RequestStore). Each
// attempt at a request claims it with a token of its own (a random one: BullMQ's lock token is
// reused across jobs); every later write names that token and is applied only while the request's
// hash still holds it. So an attempt that lost its job (its lock expired while Redis or the head was
// paused, and another attempt took the job over) can never write again: its text cannot be appended
// after the new attempt's, and the new attempt resumes from exactly what was written before it
// claimed (docs/architecture.md, "Fencing"). A write without a token (the gateway's, a job failed by
// the queue) is unconditional.

import { LuaScript } from './lua-script.ts';

/** One request's share of a write: what to append and set, applied only if `attempt` still owns it. */
export interface FencedWrite {
  id: string;
  /** The claiming attempt's token; absent: write whoever owns the request. */
  attempt?: string;
  /**
   * The write's number within its attempt (1, 2, ...): a write whose number was already applied is
   * skipped, so one sent again after Redis died before its reply (ioredis resends unanswered
   * commands on reconnecting) does not append its text twice. Absent: not numbered.
   */
  seq?: number;
  /** Events to add to the stream, each as its flattened field list. */
  events: string[][];
  /** Appended to the text. */
  text: string;
  /** Appended to the token ids ("id," each). */
  tokens: string;
  /** Fields to set on the hash (flattened). */
  hash: string[];
}

/**
 * KEYS: per write, its request hash, text, token ids and event stream (4 keys each, in order).
 * ARGV[1]: the TTL in seconds; ARGV[2]: the writes as JSON. Returns the ids of the writes refused.
 */
export const FENCED_WRITES = new LuaScript(`
local ttl = ARGV[1]
local writes = cjson.decode(ARGV[2])
local refused = {}
for i, w in ipairs(writes) do
  local base = (i - 1) * 4
  local request, text, tokens, events = KEYS[base + 1], KEYS[base + 2], KEYS[base + 3], KEYS[base + 4]
  if w.attempt ~= nil and redis.call('HGET', request, 'attempt') ~= w.attempt then
    refused[#refused + 1] = w.id
  elseif w.seq ~= nil and w.seq <= tonumber(redis.call('HGET', request, 'seq') or '0') then
    -- applied already: this is the same write sent again
  else
    if w.seq ~= nil then redis.call('HSET', request, 'seq', w.seq) end
    for _, fields in ipairs(w.events) do
      redis.call('XADD', events, '*', unpack(fields))
      redis.call('EXPIRE', events, ttl)
    end
    if w.text ~= '' then
      redis.call('APPEND', text, w.text)
      redis.call('EXPIRE', text, ttl)
    end
    if w.tokens ~= '' then
      redis.call('APPEND', tokens, w.tokens)
      redis.call('EXPIRE', tokens, ttl)
    end
    if #w.hash > 0 then redis.call('HSET', request, unpack(w.hash)) end
    redis.call('EXPIRE', request, ttl)
  end
end
return refused
`);

/**
 * KEYS: the request hash, its token ids and its cancel key. ARGV: attempt token, pipeline id, now
 * (ms), now with a fraction (updatedAt), TTL. Marks the request running under the attempt (one more
 * attempt counted, its writes numbered from 1) and returns {'claimed', the token ids written so
 * far}, read in the same script so that nothing an older attempt writes can fall between the two;
 * returns {'cancelled', token ids} without claiming when the client cancelled it, and false when the
 * request has ended or its record is gone. One round trip: a job's start adds to the time to first token.
 */
export const CLAIM = new LuaScript(`
local status = redis.call('HGET', KEYS[1], 'status')
if not status or status == 'finished' or status == 'failed' then return false end
local tokens = redis.call('GET', KEYS[2]) or ''
if redis.call('EXISTS', KEYS[3]) == 1 then return {'cancelled', tokens} end
redis.call('HSET', KEYS[1], 'status', 'running', 'attempt', ARGV[1], 'seq', 0, 'servedBy', ARGV[2], 'startedAt', ARGV[3], 'updatedAt', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'attempts', 1)
redis.call('EXPIRE', KEYS[1], ARGV[5])
return {'claimed', tokens}
`);
