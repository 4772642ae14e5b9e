// A streamed chat completion (OpenAI's SSE chunks) followed from the request's Redis event stream,
// and its resumption: every chunk carries an SSE id (event-ids.ts), and a client that lost the
// connection sends the last one back as Last-Event-ID, to this replica or any other, and gets the rest
// without gap or repetition. A stream whose client went away is cancelled after a grace period,
// unless someone follows it again by then (stream-followers.ts).
import type { StreamedEvent, TokenLogprobs } from '@chatglm/queue';
import type { Response } from 'express';
import { clientOf } from './auth/authenticate.ts';
import { abortOnClientClose, cancelRequest } from './client-abort.ts';
import { toGatewayError } from './error-handler.ts';
import { requestNotFound, invalidRequest } from './errors.ts';
import { STREAM_START, eventId, ownsCompletion, parseEventId } from './event-ids.ts';
import type { GatewayContext } from './gateway-context.ts';
import { receivedAt } from './http-metrics.ts';
import { openAiLogprobs } from './openai-logprobs.ts';
import { usage } from './openai-usage.ts';
import { ReplyObserver } from './reply-observer.ts';
import { SseWriter } from './sse-writer.ts';

export interface StreamOptions {
  meta: { id: string; created: number; model: string };
  promptTokens: number;
  includeUsage: boolean;
  logprobs: boolean;
  /** Continue after this stream position (a resumed stream: no role chunk again). Default: from the start. */
  after?: string;
}

export async function streamCompletion(ctx: GatewayContext, res: Response, signal: AbortSignal, observer: ReplyObserver, o: StreamOptions): Promise<void> {
  const { meta } = o;
  const sse = new SseWriter(res);
  const chunk = (delta: { role?: string; content?: string }, finishReason: string | null, tokens?: TokenLogprobs[]) => ({
    ...meta,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, logprobs: o.logprobs && tokens ? openAiLogprobs(tokens, ctx.tokenizer) : null, finish_reason: finishReason }],
  });
  // Registered beside the first read, not before it: a round trip before the stream opens would
  // add to every stream's time to first token. A registration Redis refuses only costs resumability.
  const attached = ctx.followers.attach(meta.id).catch((err: unknown) => {
    ctx.logger.warn('cannot register a stream follower', { id: meta.id, err });
    return async () => undefined;
  });
  sse.open();
  if (o.after === undefined) sse.data(chunk({ role: 'assistant', content: '' }, null), eventId(meta.id, STREAM_START));
  try {
    for await (const e of ctx.events.follow(meta.id, { signal, timeoutMs: ctx.options.requestTimeoutMs, ...(o.after !== undefined && { after: o.after }) })) {
      if (e.type === 'idle') {
        sse.comment('keep-alive');
        continue;
      }
      write(sse, e, chunk, meta, o);
      observer.event(e);
      if (e.type !== 'delta') return;
    }
    // The follower ends without a final event only when the client went away: the request is
    // cancelled unless the client (or another) comes back for it within the grace period.
    cancelUnlessResumed(ctx, meta.id);
  } catch (err) {
    // Headers are sent: report the error in the stream (OpenAI's clients raise it), then end.
    const e = toGatewayError(err);
    ctx.metrics.errors.inc({ code: e.code });
    if (e.code === 'request_timeout') cancelRequest(ctx, meta.id, 'timeout');
    if (e.status >= 500) ctx.logger.error('stream failed', { id: meta.id, err });
    sse.data({ error: { code: e.code, message: e.message, retryable: e.retryable } });
    sse.end();
  } finally {
    await (await attached)();
  }
}

function write(sse: SseWriter, e: StreamedEvent, chunk: (d: { content?: string }, f: string | null, t?: TokenLogprobs[]) => object, meta: StreamOptions['meta'], o: StreamOptions): void {
  const id = eventId(meta.id, e.id);
  if (e.type === 'delta') sse.data(chunk({ content: e.text }, null, e.tokens), id);
  else if (e.type === 'final') {
    sse.data(chunk({}, e.finishReason), id);
    if (o.includeUsage) sse.data({ ...meta, object: 'chat.completion.chunk', choices: [], usage: usage(o.promptTokens, e.completionTokens) }, id);
    sse.done();
  } else {
    sse.data({ error: { code: e.code, message: `generation failed: ${e.message}`, retryable: e.retryable } }, id);
    sse.end();
  }
}

/** Cancels `id` after the resume grace period, unless someone follows its stream by then. */
function cancelUnlessResumed(ctx: GatewayContext, id: string): void {
  const timer = setTimeout(() => {
    ctx.followers.anyone(id).then(
      (followed) => {
        if (!followed) cancelRequest(ctx, id, 'client disconnected and did not resume');
      },
      (err: unknown) => {
        ctx.logger.warn('cannot tell whether a stream is followed; cancelling it', { id, err });
        cancelRequest(ctx, id, 'client disconnected');
      },
    );
  }, ctx.options.resumeGraceMs);
  timer.unref();
}

/** A client continuing a stream it lost: Last-Event-ID names the request and the last event it got. */
export async function resumeStream(ctx: GatewayContext, res: Response, lastEventId: string, options: { includeUsage: boolean; logprobs: boolean }): Promise<void> {
  const at = parseEventId(lastEventId);
  if (!at) throw invalidRequest(`Last-Event-ID "${lastEventId.slice(0, 100)}" is not an event id of this API; send back the id of the last event received`);
  const state = ownsCompletion(at.requestId, clientOf(res)) ? await ctx.store.read(at.requestId) : undefined;
  if (!state) throw requestNotFound(at.requestId);
  const signal = abortOnClientClose(res);
  await streamCompletion(ctx, res, signal, new ReplyObserver(ctx.metrics, 'openai', receivedAt(res), true), {
    meta: { id: at.requestId, created: Math.floor(state.acceptedAt / 1000), model: ctx.options.modelName },
    promptTokens: state.promptTokens,
    ...options,
    after: at.after,
  });
}
