// The clients of `pnpm bench load`: a fixed set of requests (short prompts, each with a seed of its
// own), each asked once alone, not streamed, for its reference reply; then N client loops that ask
// them one after another as streams until a deadline. Sampling with a fixed seed is deterministic,
// also when requests share decode steps (test/cluster/serving.test.ts, "continuous batching"), so a
// streamed reply whose deltas do not add up to its reference lost or repeated text.
import { streamChat } from './streamed-tokens.ts';

/** The prompts the requests cycle through, each numbered, so that no two requests ask the same. */
const PROMPTS = ['你好', '问题', 'Hello', '请介绍一下你自己', 'Tell me a story', '今天天气怎么样', 'What is a pipeline?', '写一首诗'];
/** Characters of a mismatching text shown in its error. */
const SHOWN_CHARS = 60;

export interface LoadRequest {
  prompt: string;
  seed: number;
  maxTokens: number;
  temperature: number;
}

/** What the gateway answered to the request asked alone and not streamed. */
export interface ReferenceReply {
  text: string;
  /** Its generated tokens, as its logprobs list them (as a stream's chunks do: without the final <eop>). */
  tokens: number;
}

/** One streamed request of the load, as its client saw it (times are performance.now()). */
export interface RequestRecord {
  client: number;
  sentAt: number;
  endedAt: number;
  /** When the first non-empty content delta arrived. */
  firstTextAt: number | undefined;
  /** When each token arrived. */
  tokenAt: number[];
  /** Why the request counts as failed: an HTTP error, an error event, no [DONE], text unlike its reference. */
  error: string | undefined;
}

export function loadRequests(count: number, sampling: { maxTokens: number; temperature: number }): LoadRequest[] {
  return Array.from({ length: count }, (_, i) => ({ prompt: `${PROMPTS[i % PROMPTS.length]!} ${i}`, seed: 1000 + i, ...sampling }));
}

function body(r: LoadRequest): Record<string, unknown> {
  return { messages: [{ role: 'user', content: r.prompt }], seed: r.seed, max_tokens: r.maxTokens, temperature: r.temperature, logprobs: true };
}

/** Each request asked alone (one after another), not streamed. */
export async function referenceReplies(gatewayUrl: string, requests: LoadRequest[]): Promise<ReferenceReply[]> {
  const replies: ReferenceReply[] = [];
  for (const r of requests) {
    const res = await fetch(`${gatewayUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...body(r), stream: false }) });
    const text = await res.text();
    if (!res.ok) throw new Error(`the reference request for "${r.prompt}" got ${res.status}: ${text}`);
    const choice = (JSON.parse(text) as { choices: { message: { content: string }; logprobs: { content: unknown[] } }[] }).choices[0]!;
    replies.push({ text: choice.message.content, tokens: choice.logprobs.content.length });
  }
  return replies;
}

export interface ClientLoad {
  clients: number;
  /** performance.now() after which no client starts another request (those running finish). */
  until: number;
  requests: LoadRequest[];
  references: ReferenceReply[];
}

/** Runs the client loops; resolves with every request they made once the last one has ended. */
export async function runClients(gatewayUrl: string, load: ClientLoad): Promise<RequestRecord[]> {
  const records: RequestRecord[] = [];
  let next = 0;
  const loop = async (client: number) => {
    while (performance.now() < load.until) {
      const i = next++ % load.requests.length;
      const sentAt = performance.now();
      try {
        const s = await streamChat(gatewayUrl, body(load.requests[i]!));
        records.push({ client, sentAt: s.sentAt, endedAt: performance.now(), firstTextAt: s.firstTextAt, tokenAt: s.tokenAt, error: mismatch(s, load.references[i]!) });
      } catch (err) {
        records.push({ client, sentAt, endedAt: performance.now(), firstTextAt: undefined, tokenAt: [], error: err instanceof Error ? err.message : String(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: load.clients }, (_, c) => loop(c)));
  return records;
}

/** Why a streamed reply is not its reference, or undefined when it is. */
function mismatch(s: { done: boolean; text: string; tokenAt: number[] }, reference: ReferenceReply): string | undefined {
  if (!s.done) return `the stream ended without [DONE] after ${s.tokenAt.length} tokens`;
  if (s.text !== reference.text) {
    let at = 0;
    while (at < s.text.length && s.text[at] === reference.text[at]) at++;
    const show = (t: string) => JSON.stringify(t.slice(Math.max(0, at - 10), at + SHOWN_CHARS));
    return `the streamed text differs from the reference from character ${at}: ${show(s.text)} against ${show(reference.text)} (${s.text.length} and ${reference.text.length} characters)`;
  }
  if (s.tokenAt.length !== reference.tokens) return `${s.tokenAt.length} tokens streamed, the reference has ${reference.tokens}`;
  return undefined;
}
