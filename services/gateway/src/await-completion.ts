// For the blocking endpoints (POST /, non-stream completions): wait for a request's final event.
import type { FinishReason } from '@chatglm/generation';
import type { TokenLogprobs } from '@chatglm/queue';
import type { GatewayContext } from './gateway-context.ts';
import { GatewayError, generationFailed } from './errors.ts';
import { cancelRequest } from './client-abort.ts';
import type { ReplyObserver } from './reply-observer.ts';

export interface CompletedRequest {
  text: string;
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
  /** Every generated token with its logprob, when the request asked for logprobs (else empty). */
  tokens: TokenLogprobs[];
}

/**
 * The finished request, or undefined when `signal` aborted first (the client left; the request
 * is cancelled). A timeout cancels the request and throws request_timeout; a pipeline's error
 * event throws its code.
 */
export async function awaitCompletion(ctx: GatewayContext, id: string, signal: AbortSignal, observer: ReplyObserver): Promise<CompletedRequest | undefined> {
  let text = '';
  const tokens: TokenLogprobs[] = [];
  try {
    for await (const e of ctx.events.follow(id, { signal, timeoutMs: ctx.options.requestTimeoutMs })) {
      if (e.type === 'delta') {
        text += e.text;
        if (e.tokens) tokens.push(...e.tokens);
        observer.event(e);
      } else if (e.type === 'final') {
        observer.event(e);
        return { text, finishReason: e.finishReason, promptTokens: e.promptTokens, completionTokens: e.completionTokens, tokens };
      } else if (e.type === 'error') throw generationFailed(e.code, e.message);
    }
  } catch (err) {
    if (err instanceof GatewayError && err.code === 'request_timeout') cancelRequest(ctx, id, 'timeout');
    throw err;
  }
  cancelRequest(ctx, id, 'client disconnected');
  return undefined;
}
