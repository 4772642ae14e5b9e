// The per-request hash and event stream (DESIGN.md §6). Gateways create requests and read them;
// pipeline heads write progress. Each write that changes the text also appends the same delta to
// the stream in one MULTI, so the hash's text is always the concatenation of the streamed deltas
// and a head resuming after a crash knows exactly which tokens were already shown.
import type { Redis } from 'ioredis';
import { RedisKeys } from './keys.ts';
import type { RequestEvent, RequestState, RequestStatus, StreamedEvent } from './request-state.ts';

/** How long a request's hash and events live after their last write. */
export const DEFAULT_REQUEST_TTL_SECONDS = 3600;

/** Progress of one running request after a step. */
export interface RequestProgress {
  id: string;
  /** New text to show (may be empty while text is held back). */
  delta: string;
  /** The whole text so far, including delta. */
  text: string;
  /** Every generated token id so far. */
  tokenIds: readonly number[];
}

export interface RequestOutcome extends RequestProgress {
  finishReason: string;
  promptTokens: number;
}

/** Epoch ms with sub-millisecond digits (`updatedAt` is served as float seconds, like time.time()). */
function preciseNow(): string {
  return (performance.timeOrigin + performance.now()).toFixed(3);
}

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
    await this.redis.multi().hset(key, { status: 'queued', text: '', tokenIds: '', promptTokens, completionTokens: 0, attempts: 0, updatedAt: preciseNow() }).expire(key, this.ttlSeconds).exec();
    return true;
  }

  /** Forgets a request whose job could not be enqueued. */
  async remove(id: string): Promise<void> {
    await this.redis.del(this.keys.request(id), this.keys.events(id));
  }

  async read(id: string): Promise<RequestState | undefined> {
    const h = await this.redis.hgetall(this.keys.request(id));
    if (!h.status) return undefined;
    return {
      id,
      status: h.status as RequestStatus,
      text: h.text ?? '',
      tokenIds: h.tokenIds ? h.tokenIds.split(',').map(Number) : [],
      ...(h.finishReason && { finishReason: h.finishReason }),
      ...(h.errorCode && { error: { code: h.errorCode, message: h.errorMessage ?? '' } }),
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
    const key = this.keys.request(outcome.id);
    m.hset(key, { status: 'finished', finishReason: outcome.finishReason, finishedAt: Date.now(), updatedAt: preciseNow() });
    this.event(m, outcome.id, { type: 'final', finishReason: outcome.finishReason, promptTokens: outcome.promptTokens, completionTokens: outcome.tokenIds.length });
    await m.exec();
  }

  async fail(id: string, code: string, message: string): Promise<void> {
    const m = this.redis.multi();
    m.hset(this.keys.request(id), { status: 'failed', errorCode: code, errorMessage: message, finishedAt: Date.now(), updatedAt: preciseNow() });
    this.event(m, id, { type: 'error', code, message });
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

  private writeProgress(m: ReturnType<Redis['multi']>, u: RequestProgress): void {
    const key = this.keys.request(u.id);
    if (u.delta) this.event(m, u.id, { type: 'delta', text: u.delta, completionTokens: u.tokenIds.length });
    m.hset(key, { text: u.text, tokenIds: u.tokenIds.join(','), completionTokens: u.tokenIds.length, updatedAt: preciseNow() });
    m.expire(key, this.ttlSeconds);
  }

  private event(m: ReturnType<Redis['multi']>, id: string, e: RequestEvent): void {
    const key = this.keys.events(id);
    m.xadd(key, '*', ...Object.entries(e).flatMap(([k, v]) => [k, String(v)]));
    m.expire(key, this.ttlSeconds);
  }
}

function parseEvent(fields: string[]): RequestEvent {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string;
  switch (f.type) {
    case 'delta':
      return { type: 'delta', text: f.text ?? '', completionTokens: Number(f.completionTokens ?? 0) };
    case 'final':
      return { type: 'final', finishReason: f.finishReason ?? 'stop', promptTokens: Number(f.promptTokens ?? 0), completionTokens: Number(f.completionTokens ?? 0) };
    default:
      return { type: 'error', code: f.code ?? 'internal', message: f.message ?? '' };
  }
}
