// `POST /`: the original api.py. Blocks until the reply is complete, then answers
// `{response, history: [...history, [prompt, response]], status: 200, time}`.
import { Router } from 'express';
import { awaitCompletion } from '../await-completion.ts';
import { clientOf } from '../auth/authenticate.ts';
import { abortOnClientClose } from '../client-abort.ts';
import type { GatewayContext } from '../gateway-context.ts';
import { receivedAt } from '../http-metrics.ts';
import { formatLocalTime } from '../local-time.ts';
import { ReplyObserver } from '../reply-observer.ts';
import { newRequestId } from '../request-ids.ts';
import { submitChat } from '../submission.ts';
import { legacyChatSchema } from '../validation/api-schemas.ts';
import { parseBody } from '../validation/parse-body.ts';

export function apiChatRoutes(ctx: GatewayContext): Router {
  const schema = legacyChatSchema(ctx.modelMaxLength);
  const router = Router();
  router.post('/', ctx.authenticate, async (req, res) => {
    const body = parseBody(schema, req.body);
    const signal = abortOnClientClose(res);
    const { id } = await submitChat(ctx, {
      endpoint: 'api',
      client: clientOf(res),
      id: newRequestId(clientOf(res)),
      history: body.history,
      query: body.prompt,
      sampling: { maxLength: body.max_length, topP: body.top_p, temperature: body.temperature, seed: body.seed },
      fieldNames: { maxLength: 'max_length' },
    });
    const done = await awaitCompletion(ctx, id, signal, new ReplyObserver(ctx.metrics, 'api', receivedAt(res)));
    if (!done) return;
    res.json({
      response: done.text,
      history: [...body.history, [body.prompt, done.text]],
      status: 200,
      time: formatLocalTime(),
    });
  });
  return router;
}
