// One streamed chat completion as a client sees it: when it was sent, when each generated token
// arrived, and the text its content deltas add up to. Tokens are counted from each chunk's
// `logprobs` (one entry per token), since a chunk's text may hold several tokens or none (the
// detokenizer holds back unfinished characters).
import { sseEvents } from '../../test/support/sse-events.ts';

export interface StreamedTokens {
  sentAt: number;
  /** performance.now() at which each token's chunk arrived, in order. */
  tokenAt: number[];
  /** performance.now() at which the first non-empty content delta arrived (undefined: none did). */
  firstTextAt: number | undefined;
  /** The content deltas, concatenated. */
  text: string;
  finishReason: string | undefined;
  /** Whether the stream ended with `data: [DONE]` (a stream cut short does not). */
  done: boolean;
}

/** Throws when the gateway answers with an HTTP error or the stream carries an error event. */
export async function streamChat(gatewayUrl: string, body: Record<string, unknown>): Promise<StreamedTokens> {
  const sentAt = performance.now();
  const res = await fetch(`${gatewayUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: true, logprobs: true }),
  });
  if (!res.ok || !res.body) throw new Error(`the gateway answered ${res.status}: ${await res.text()}`);
  const out: StreamedTokens = { sentAt, tokenAt: [], firstTextAt: undefined, text: '', finishReason: undefined, done: false };
  for await (const { data } of sseEvents(res.body)) {
    const now = performance.now();
    if (data === '[DONE]') {
      out.done = true;
      continue;
    }
    const chunk = JSON.parse(data) as {
      error?: { message: string };
      choices?: { delta?: { content?: string }; logprobs?: { content?: unknown[] } | null; finish_reason?: string | null }[];
    };
    if (chunk.error) throw new Error(`the stream failed: ${chunk.error.message}`);
    const choice = chunk.choices?.[0];
    for (let i = 0; i < (choice?.logprobs?.content?.length ?? 0); i++) out.tokenAt.push(now);
    const content = choice?.delta?.content;
    if (content) {
      out.text += content;
      out.firstTextAt ??= now;
    }
    if (choice?.finish_reason) out.finishReason = choice.finish_reason;
  }
  return out;
}
