// `POST /v1/chat/completions`, OpenAI-compatible: non-stream JSON, or `stream: true` -> SSE chunks
// (role, content deltas as the pipeline streams them, finish_reason, usage, [DONE]). With
// `logprobs: true` each token's log-probability (and `top_logprobs` alternatives) comes along.
import type { TokenLogprobs } from '@chatglm/queue';
import { Router, type Response } from 'express';
import { awaitCompletion } from '../await-completion.ts';
import { clientOf } from '../auth/authenticate.ts';
import { abortOnClientClose, cancelRequest } from '../client-abort.ts';
import { toGatewayError } from '../error-handler.ts';
import { GatewayError } from '../errors.ts';
import { receivedAt } from '../http-metrics.ts';
import type { GatewayContext } from '../gateway-context.ts';
import { messagesToHistory } from '../messages-to-history.ts';
import { openAiLogprobs } from '../openai-logprobs.ts';
import { ReplyObserver } from '../reply-observer.ts';
import { newRequestId } from '../request-ids.ts';
import { SseWriter } from '../sse-writer.ts';
import { submitChat } from '../submission.ts';
import { chatCompletionSchema } from '../validation/openai-schemas.ts';
import { parseBody } from '../validation/parse-body.ts';

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

function usage(promptTokens: number, completionTokens: number): Usage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

export function chatCompletionRoutes(ctx: GatewayContext): Router {
  const router = Router();
  router.post('/v1/chat/completions', ctx.authenticate, async (req, res) => {
    const body = parseBody(chatCompletionSchema, req.body);
    if (body.model != null && body.model !== ctx.options.modelName) {
      throw new GatewayError('model_not_found', `model "${body.model}" is not served here; use "${ctx.options.modelName}" (see GET /v1/models) or omit model`);
    }
    const { history, query } = messagesToHistory(body.messages);
    const signal = abortOnClientClose(res);
    const submitted = await submitChat(ctx, {
      endpoint: 'openai',
      client: clientOf(res),
      id: newRequestId(),
      history,
      query,
      sampling: {
        maxNewTokens: body.max_tokens ?? body.max_completion_tokens,
        temperature: body.temperature,
        topP: body.top_p,
        stop: body.stop,
        seed: body.seed,
      },
      fieldNames: { maxNewTokens: body.max_tokens !== undefined ? 'max_tokens' : 'max_completion_tokens' },
      ...(body.logprobs && { logprobs: body.top_logprobs ?? 0 }),
    });
    const observer = new ReplyObserver(ctx.metrics, 'openai', receivedAt(res));
    const meta = { id: submitted.id, created: Math.floor(submitted.acceptedAt / 1000), model: ctx.options.modelName };
    if (body.stream) {
      await streamCompletion(ctx, res, signal, observer, meta, submitted.promptTokens, { includeUsage: body.stream_options.includeUsage, logprobs: body.logprobs });
      return;
    }
    const done = await awaitCompletion(ctx, submitted.id, signal, observer);
    if (!done) return;
    res.json({
      ...meta,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: done.text }, logprobs: body.logprobs ? openAiLogprobs(done.tokens, ctx.tokenizer) : null, finish_reason: done.finishReason }],
      usage: usage(submitted.promptTokens, done.completionTokens),
    });
  });
  return router;
}

async function streamCompletion(
  ctx: GatewayContext,
  res: Response,
  signal: AbortSignal,
  observer: ReplyObserver,
  meta: { id: string; created: number; model: string },
  promptTokens: number,
  options: { includeUsage: boolean; logprobs: boolean },
): Promise<void> {
  const sse = new SseWriter(res);
  const chunk = (delta: { role?: string; content?: string }, finishReason: string | null, tokens?: TokenLogprobs[]) => ({
    ...meta,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, logprobs: options.logprobs && tokens ? openAiLogprobs(tokens, ctx.tokenizer) : null, finish_reason: finishReason }],
  });
  sse.open();
  sse.data(chunk({ role: 'assistant', content: '' }, null));
  try {
    for await (const e of ctx.events.follow(meta.id, { signal, timeoutMs: ctx.options.requestTimeoutMs })) {
      if (e.type === 'idle') {
        sse.comment('keep-alive');
        continue;
      }
      if (e.type === 'delta') sse.data(chunk({ content: e.text }, null, e.tokens));
      else if (e.type === 'final') {
        sse.data(chunk({}, e.finishReason));
        if (options.includeUsage) sse.data({ ...meta, object: 'chat.completion.chunk', choices: [], usage: usage(promptTokens, e.completionTokens) });
        sse.done();
      } else {
        sse.data({ error: { code: e.code, message: `generation failed: ${e.message}`, retryable: e.retryable } });
        sse.end();
      }
      observer.event(e);
      if (e.type !== 'delta') return;
    }
    // The follower ends without a final event only when the client went away.
    cancelRequest(ctx, meta.id, 'client disconnected');
  } catch (err) {
    // Headers are sent: report the error in the stream (OpenAI's clients raise it), then end.
    const e = toGatewayError(err);
    ctx.metrics.errors.inc({ code: e.code });
    if (e.code === 'request_timeout') cancelRequest(ctx, meta.id, 'timeout');
    if (e.status >= 500) ctx.logger.error('stream failed', { id: meta.id, err });
    sse.data({ error: { code: e.code, message: e.message, retryable: e.retryable } });
    sse.end();
  }
}
