// The original stream API: `POST /chat` starts a request under a caller-chosen request_id and
// returns at once; `POST /get_response` polls it. `response.response` is the full text so far,
// or, with `cursor` (code points already received), only the text after it plus the next cursor.
// `POST /chat/cancel` (an extension) stops a request, as a client leaving an SSE stream does.
import { Router } from 'express';
import { isTerminal, type RequestState } from '@chatglm/queue';
import { clientOf } from '../auth/authenticate.ts';
import { STREAM_API_CODES } from '../error-handler.ts';
import { invalidRequest, requestNotFound } from '../errors.ts';
import type { GatewayContext } from '../gateway-context.ts';
import { epochSeconds } from '../epoch-seconds.ts';
import { callerRequestKey } from '../request-ids.ts';
import { submitChat } from '../submission.ts';
import { cancelChatSchema, getResponseSchema, streamChatSchema } from '../validation/api-schemas.ts';
import { parseBody } from '../validation/parse-body.ts';

export function streamApiRoutes(ctx: GatewayContext): Router {
  const chatSchema = streamChatSchema(ctx.modelMaxLength);
  const router = Router();

  router.post('/chat', ctx.authenticate, async (req, res) => {
    const body = parseBody(chatSchema, req.body);
    await submitChat(ctx, {
      endpoint: 'stream_api',
      client: clientOf(res),
      id: callerRequestKey(body.request_id, clientOf(res)),
      displayId: body.request_id,
      history: body.history,
      query: body.query,
      sampling: { maxLength: body.max_length, topP: body.top_p, temperature: body.temperature, seed: body.seed },
      fieldNames: { maxLength: 'max_length' },
    });
    res.json({ code: STREAM_API_CODES.success, msg: 'start process' });
  });

  router.post('/get_response', ctx.authenticate, async (req, res) => {
    const body = parseBody(getResponseSchema, req.body);
    const state = await ctx.store.read(callerRequestKey(body.request_id, clientOf(res)));
    if (!state) throw requestNotFound(body.request_id);
    res.json({ code: STREAM_API_CODES.success, msg: 'success', response: pollResponse(state, body.cursor) });
  });

  router.post('/chat/cancel', ctx.authenticate, async (req, res) => {
    const body = parseBody(cancelChatSchema, req.body);
    const id = callerRequestKey(body.id, clientOf(res));
    const state = await ctx.store.read(id);
    if (!state) throw requestNotFound(body.id);
    // An ended request is not an error: the caller learns how it ended, and nothing is cancelled.
    if (isTerminal(state.status)) {
      res.json({ id: body.id, status: state.status });
      return;
    }
    ctx.logger.info('request cancelled', { id, reason: 'POST /chat/cancel' });
    await ctx.cancellations.cancel(id);
    // The head stops it at its next step (or when it takes the job); /get_response then reports it
    // finished with finish_reason "cancelled".
    res.json({ id: body.id, status: 'cancelling' });
  });

  return router;
}

function pollResponse(state: RequestState, cursor: number | undefined) {
  const common = {
    is_finished: isTerminal(state.status),
    is_handled: state.status !== 'queued',
    timestamp: epochSeconds(state.updatedAt),
    ...(state.finishReason && { finish_reason: state.finishReason }),
    ...(state.error && { error: state.error }),
  };
  if (cursor === undefined) return { ...common, response: state.text };
  // Code points, as Python's len() counts them; the text only ever grows, so a cursor past its
  // end is the caller's mistake.
  const chars = Array.from(state.text);
  if (cursor > chars.length) throw invalidRequest(`cursor ${cursor} is past the end of the text so far (${chars.length} characters); pass back the cursor of the previous reply`);
  return { ...common, response: chars.slice(cursor).join(''), cursor: chars.length };
}
