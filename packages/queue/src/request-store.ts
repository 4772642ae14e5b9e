// Each request's records in Redis (docs/architecture.md, "Redis"): a hash of its status, counts and
// times; its text and token ids as strings that each step APPENDs to; and a stream of events
// (deltas, then a final or error event). Gateways create requests and read them; pipeline heads
// write progress. A step writes only what it changed (its delta, its new token ids, a few counters),
// so the bytes written per token stay constant however long the reply grows. The text and the
// delta event of a step go in one MULTI, so the text is always the concatenation of the streamed
// deltas, and a head resuming after a crash knows exactly which tokens were already shown.
// A head's writes are fenced by its attempt's token (fenced-writes.ts): an attempt that lost its
// job cannot write after the attempt that took it over.
import { errorCodeInfo, toErrorCode, type ErrorCode } from '@chatglm/common';
import type { FinishReason, SampledToken } from '@chatglm/generation';
import type { Redis } from 'ioredis';
import { CLAIM, FENCED_WRITES, type FencedWrite } from './fenced-writes.ts';
import { RedisKeys } from './keys.ts';
import type { RequestError, RequestEvent, RequestState, RequestStatus, StreamedEvent, TokenLogprobs } from './request-state.ts';
import { DEFAULT_REQUEST_TTL_SECONDS } from './request-ttl.ts';

/** What one step did to one running request. */
export interface RequestProgress {
  id: string;
  /** New text to show (may be empty while text is held back). */
  delta: string;
  /** The tokens this step generated (usually one; none when a step only released held-back text). */
  newTokens: readonly SampledToken[];
  /** Generated tokens so far, these included. */
  completionTokens: number;
  /** Stream each token's logprob (and alternatives) in the delta events: the client asked for them. */
  withLogprobs: boolean;
  /** The token of the attempt writing (see claim); the write is refused once another attempt claimed the request. */
  attempt?: string;
  /** The write's number within its attempt: one already applied is skipped (see FencedWrite.seq). */
  seq?: number;
}

/** What an attempt finds when it claims a request. */
export interface RequestClaim {
  /** Tokens earlier attempts generated and wrote: the reply resumes after them. */
  tokenIds: number[];
  /** The client cancelled the request (its cancel key is set): it was not claimed, and the caller ends it. */
  cancelled: boolean;
}

export interface RequestOutcome extends RequestProgress {
  finishReason: FinishReason;
  promptTokens: number;
}

/** Epoch ms with sub-millisecond digits (`updatedAt` is served as float seconds, like time.time()). */
function preciseNow(): string {
  return (performance.timeOrigin + performance.now()).toFixed(3);
}

const FINISH_REASONS: readonly FinishReason[] = ['stop', 'length', 'cancelled', 'error'];
const toFinishReason = (value: string | undefined): FinishReason => FINISH_REASONS.find((r) => r === value) ?? 'stop';

export class RequestStore {
  readonly keys: RedisKeys;

  constructor(
    private readonly redis: Redis,
    prefix?: string,
    readonly ttlSeconds = DEFAULT_REQUEST_TTL_SECONDS,
  ) {
    this.keys = new RedisKeys(prefix);
  }

  /** Registers a new request; false when the id is already taken (a duplicate request id). */
  async create(id: string, promptTokens: number, acceptedAt = Date.now()): Promise<boolean> {
    const key = this.keys.request(id);
    const created = await this.redis.hsetnx(key, 'acceptedAt', String(acceptedAt));
    if (!created) return false;
    await this.redis.multi().hset(key, { status: 'queued', promptTokens, completionTokens: 0, attempts: 0, updatedAt: preciseNow() }).expire(key, this.ttlSeconds).exec();
    return true;
  }

  /** Forgets a request whose job could not be enqueued. */
  async remove(id: string): Promise<void> {
    await this.redis.del(this.keys.request(id), this.keys.text(id), this.keys.tokens(id), this.keys.events(id));
  }

  async read(id: string): Promise<RequestState | undefined> {
    const replies = await this.redis.multi().hgetall(this.keys.request(id)).get(this.keys.text(id)).get(this.keys.tokens(id)).exec();
    const [hash, text, tokens] = (replies ?? []).map(([err, value]) => {
      if (err) throw err;
      return value;
    }) as [Record<string, string> | undefined, string | null, string | null];
    const h = hash ?? {};
    if (!h.status) return undefined;
    return {
      id,
      status: h.status as RequestStatus,
      text: text ?? '',
      tokenIds: parseTokenIds(tokens ?? ''),
      ...(h.finishReason && { finishReason: toFinishReason(h.finishReason) }),
      ...(h.errorCode && { error: requestError(toErrorCode(h.errorCode), h.errorMessage ?? '') }),
      promptTokens: Number(h.promptTokens ?? 0),
      completionTokens: Number(h.completionTokens ?? 0),
      acceptedAt: Number(h.acceptedAt ?? 0),
      ...(h.startedAt && { startedAt: Number(h.startedAt) }),
      ...(h.finishedAt && { finishedAt: Number(h.finishedAt) }),
      updatedAt: Number(h.updatedAt ?? h.acceptedAt ?? 0),
      attempts: Number(h.attempts ?? 0),
      ...(h.servedBy && { servedBy: h.servedBy }),
    };
  }

  /**
   * An attempt takes the request: status running, one more attempt, which pipeline serves it, and
   * `attempt` as the token its writes must carry from now on (an older attempt's writes are refused).
   * Undefined when the request already ended or its record is gone: there is nothing to run. A
   * request its client cancelled is not taken (`cancelled`), in the same round trip.
   */
  async claim(id: string, o: { pipelineId?: string; attempt?: string } = {}): Promise<RequestClaim | undefined> {
    const now = Date.now();
    const reply = (await CLAIM.run(this.redis, [this.keys.request(id), this.keys.tokens(id), this.keys.cancel(id)], [o.attempt ?? '', o.pipelineId ?? '', now, preciseNow(), this.ttlSeconds])) as [string, string] | null;
    if (reply === null) return undefined;
    return { tokenIds: parseTokenIds(reply[1]), cancelled: reply[0] === 'cancelled' };
  }

  /** Records one step of progress for several requests in one round trip. Returns the ids refused (fenced off). */
  async progress(updates: readonly RequestProgress[]): Promise<string[]> {
    return this.write(updates.map((u) => this.progressWrite(u)));
  }

  /** The request finished (any finish reason, including "cancelled"). False when refused (fenced off). */
  async finish(outcome: RequestOutcome): Promise<boolean> {
    const w = this.progressWrite(outcome);
    w.hash.push('status', 'finished', 'finishReason', outcome.finishReason, 'finishedAt', String(Date.now()));
    w.events.push(eventFields({ type: 'final', finishReason: outcome.finishReason, promptTokens: outcome.promptTokens, completionTokens: outcome.completionTokens }));
    return (await this.write([w])).length === 0;
  }

  /**
   * The request failed for good; readers get the code, the message and whether to retry. With an
   * owner's `attempt`, only while that attempt owns the request. False when refused (fenced off).
   */
  async fail(id: string, code: ErrorCode, message: string, owner: { attempt?: string; seq?: number } = {}): Promise<boolean> {
    const error = requestError(code, message);
    const hash = ['status', 'failed', 'errorCode', code, 'errorMessage', message, 'finishedAt', String(Date.now()), 'updatedAt', preciseNow()];
    return (await this.write([{ id, ...owner, events: [eventFields({ type: 'error', ...error })], text: '', tokens: '', hash }])).length === 0;
  }

  /**
   * Events after `afterId` ('0' = from the start). With `blockMs`, waits up to that long for the
   * first new event; a blocking read holds its connection, so give each waiting reader its own
   * (`redis.duplicate()`).
   */
  async readEvents(id: string, afterId = '0', blockMs?: number, client: Redis = this.redis): Promise<StreamedEvent[]> {
    const key = this.keys.events(id);
    const reply = (blockMs === undefined
      ? await client.xread('STREAMS', key, afterId)
      : await client.xread('BLOCK', blockMs, 'STREAMS', key, afterId)) as [string, [string, string[]][]][] | null;
    if (!reply) return [];
    const entries = reply[0]?.[1] ?? [];
    return entries.map(([entryId, fields]) => ({ ...parseEvent(fields), id: entryId }));
  }

  /** Applies writes in one script (one round trip); returns the ids of those refused. */
  private async write(writes: readonly FencedWrite[]): Promise<string[]> {
    if (writes.length === 0) return [];
    const keys = writes.flatMap((w) => [this.keys.request(w.id), this.keys.text(w.id), this.keys.tokens(w.id), this.keys.events(w.id)]);
    return (await FENCED_WRITES.run(this.redis, keys, [this.ttlSeconds, JSON.stringify(writes)])) as string[];
  }

  /** One step's changes: appends only, never rewrites what earlier steps wrote. */
  private progressWrite(u: RequestProgress): FencedWrite {
    const tokens = u.withLogprobs && u.newTokens.length > 0 ? u.newTokens.map(tokenLogprobs) : undefined;
    return {
      id: u.id,
      ...(u.attempt !== undefined && { attempt: u.attempt }),
      ...(u.seq !== undefined && { seq: u.seq }),
      events: u.delta || tokens ? [eventFields({ type: 'delta', text: u.delta, completionTokens: u.completionTokens, ...(tokens && { tokens }) })] : [],
      text: u.delta,
      tokens: u.newTokens.map((t) => `${t.tokenId},`).join(''),
      hash: ['completionTokens', String(u.completionTokens), 'updatedAt', preciseNow()],
    };
  }
}

/** An event as the stream's field list. */
function eventFields(e: RequestEvent): string[] {
  return Object.entries(e).flatMap(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
}

const parseTokenIds = (tokens: string): number[] => tokens.split(',').filter(Boolean).map(Number);

function requestError(code: ErrorCode, message: string): RequestError {
  return { code, message, retryable: errorCodeInfo(code).retryable };
}

function tokenLogprobs(t: SampledToken): TokenLogprobs {
  return { tokenId: t.tokenId, logprob: t.logprob, top: (t.topLogprobs ?? []).map((a) => ({ tokenId: a.tokenId, logprob: a.logprob })) };
}

function parseEvent(fields: string[]): RequestEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string;
  switch (f.type) {
    case 'delta':
      return { type: 'delta', text: f.text ?? '', completionTokens: Number(f.completionTokens ?? 0), ...(f.tokens && { tokens: JSON.parse(f.tokens) as TokenLogprobs[] }) };
    case 'final':
      return { type: 'final', finishReason: toFinishReason(f.finishReason), promptTokens: Number(f.promptTokens ?? 0), completionTokens: Number(f.completionTokens ?? 0) };
    default:
      return { type: 'error', ...requestError(toErrorCode(f.code), f.message ?? '') } satisfies RequestEvent;
  }
}
