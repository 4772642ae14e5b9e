// Each request's records in Redis (docs/architecture.md, "Redis"): a hash of its status, counts and
// times; its text and token ids as strings that each step APPENDs to; and a stream of events
// (deltas, then a final or error event). Gateways create requests and read them; pipeline heads
// write progress. A step writes only what it changed (its delta, its new token ids, a few counters),
// so the bytes written per token stay constant however long the reply grows. The text and the
// delta event of a step go in one MULTI, so the text is always the concatenation of the streamed
// deltas, and a head resuming after a crash knows exactly which tokens were already shown.
import { errorCodeInfo, toErrorCode, type ErrorCode } from '@chatglm/common';
import type { FinishReason, SampledToken } from '@chatglm/generation';
import type { ChainableCommander, Redis } from 'ioredis';
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
      tokenIds: tokens ? tokens.split(',').filter(Boolean).map(Number) : [],
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

  /** A head takes the request: status running, one more attempt, and which pipeline serves it. */
  async start(id: string, pipelineId = ''): Promise<void> {
    const key = this.keys.request(id);
    await this.redis.multi().hset(key, { status: 'running', startedAt: Date.now(), servedBy: pipelineId, updatedAt: preciseNow() }).hincrby(key, 'attempts', 1).expire(key, this.ttlSeconds).exec();
  }

  /** Records one step of progress for several requests in one round trip. */
  async progress(updates: readonly RequestProgress[]): Promise<void> {
    if (updates.length === 0) return;
    const m = this.redis.multi();
    for (const u of updates) this.writeProgress(m, u);
    await m.exec();
  }

  /** The request finished (any finish reason, including "cancelled"). */
  async finish(outcome: RequestOutcome): Promise<void> {
    const m = this.redis.multi();
    this.writeProgress(m, outcome);
    m.hset(this.keys.request(outcome.id), { status: 'finished', finishReason: outcome.finishReason, finishedAt: Date.now() });
    this.event(m, outcome.id, { type: 'final', finishReason: outcome.finishReason, promptTokens: outcome.promptTokens, completionTokens: outcome.completionTokens });
    await m.exec();
  }

  /** The request failed for good; readers get the code, the message and whether to retry. */
  async fail(id: string, code: ErrorCode, message: string): Promise<void> {
    const error = requestError(code, message);
    const m = this.redis.multi();
    m.hset(this.keys.request(id), { status: 'failed', errorCode: code, errorMessage: message, finishedAt: Date.now(), updatedAt: preciseNow() });
    this.event(m, id, { type: 'error', ...error });
    m.expire(this.keys.request(id), this.ttlSeconds);
    await m.exec();
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

  /** Appends one step's changes: never rewrites what earlier steps wrote. */
  private writeProgress(m: ChainableCommander, u: RequestProgress): void {
    const key = this.keys.request(u.id);
    const tokens = u.withLogprobs && u.newTokens.length > 0 ? u.newTokens.map(tokenLogprobs) : undefined;
    if (u.delta || tokens) this.event(m, u.id, { type: 'delta', text: u.delta, completionTokens: u.completionTokens, ...(tokens && { tokens }) });
    if (u.delta) m.append(this.keys.text(u.id), u.delta).expire(this.keys.text(u.id), this.ttlSeconds);
    if (u.newTokens.length > 0) m.append(this.keys.tokens(u.id), u.newTokens.map((t) => `${t.tokenId},`).join('')).expire(this.keys.tokens(u.id), this.ttlSeconds);
    m.hset(key, { completionTokens: u.completionTokens, updatedAt: preciseNow() });
    m.expire(key, this.ttlSeconds);
  }

  private event(m: ChainableCommander, id: string, e: RequestEvent): void {
    const key = this.keys.events(id);
    const fields = Object.entries(e).flatMap(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
    m.xadd(key, '*', ...fields);
    m.expire(key, this.ttlSeconds);
  }
}

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
