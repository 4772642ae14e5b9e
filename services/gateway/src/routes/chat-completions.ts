// `POST /v1/chat/completions`, OpenAI-compatible: non-stream JSON, or `stream: true` -> SSE chunks
// (role, content deltas as the pipeline streams them, finish_reason, usage, [DONE]). With
// `logprobs: true` each token's log-probability (and `top_logprobs` alternatives) comes along.
import { Router } from 'express';
import { awaitCompletion } from '../await-completion.ts';
import { clientOf } from '../auth/authenticate.ts';
import { abortOnClientClose } from '../client-abort.ts';
import { GatewayError } from '../errors.ts';
import { receivedAt } from '../http-metrics.ts';
import type { GatewayContext } from '../gateway-context.ts';
import { messagesToHistory } from '../messages-to-history.ts';
import { openAiLogprobs } from '../openai-logprobs.ts';
import { usage } from '../openai-usage.ts';
import { ReplyObserver } from '../reply-observer.ts';
import { newRequestId } from '../request-ids.ts';
import { resumeStream, streamCompletion } from '../stream-completion.ts';
import { submitChat } from '../submission.ts';
import { chatCompletionSchema } from '../validation/openai-schemas.ts';
import { parseBody } from '../validation/parse-body.ts';


export function chatCompletionRoutes(ctx: GatewayContext): Router {
  const router = Router();
  router.post('/v1/chat/completions', ctx.authenticate, async (req, res) => {
    const body = parseBody(chatCompletionSchema, req.body);
    if (body.model != null && body.model !== ctx.options.modelName) {
      throw new GatewayError('model_not_found', `model "${body.model}" is not served here; use "${ctx.options.modelName}" (see GET /v1/models) or omit model`);
    }
    const lastEventId = req.get('last-event-id');
    if (lastEventId !== undefined && body.stream) {
      // A client continuing a stream it lost: the request runs already; its messages are not read again.
      await resumeStream(ctx, res, lastEventId, { includeUsage: body.stream_options.includeUsage, logprobs: body.logprobs });
      return;
    }
    const { history, query } = messagesToHistory(body.messages);
    const signal = abortOnClientClose(res);
    const submitted = await submitChat(ctx, {
      endpoint: 'openai',
      client: clientOf(res),
      id: newRequestId(clientOf(res)),
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
      await streamCompletion(ctx, res, signal, observer, { meta, promptTokens: submitted.promptTokens, includeUsage: body.stream_options.includeUsage, logprobs: body.logprobs });
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
