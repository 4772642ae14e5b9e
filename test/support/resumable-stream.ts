// A streaming chat completion as a careful client reads it: when the connection drops without
// `[DONE]` (its gateway died), or ends with a retryable error event of the gateway's own (one with
// no event id: Redis did not come back within the follower's grace, or the gateway is stopping), it
// reconnects with Last-Event-ID, to whichever gateway answers, until the reply is whole. It keeps
// when each piece of text arrived, to measure the longest stall.
import { sseEvents } from './sse-events.ts';

export interface ResumedStream {
  /** The request's id (from its chunks). */
  id: string;
  text: string;
  finishReason: string | undefined;
  /** Connections it took (1 when nothing dropped). */
  connections: number;
  /** performance.now() of each chunk that carried text. */
  textAt: number[];
}

/** Streams `body` from `baseUrl()` (asked again on each reconnection); throws on an error event or after `deadlineMs`. */
export async function streamWithResume(baseUrl: () => string, body: Record<string, unknown>, o: { deadlineMs?: number; onChunk?: (s: ResumedStream) => void } = {}): Promise<ResumedStream> {
  const out: ResumedStream = { id: '', text: '', finishReason: undefined, connections: 0, textAt: [] };
  const deadline = Date.now() + (o.deadlineMs ?? 120_000);
  let lastEventId: string | undefined;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`the stream did not finish in time (${out.connections} connections, ${out.text.length} characters)`);
    let res: Response;
    try {
      res = await fetch(`${baseUrl()}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(lastEventId !== undefined && { 'last-event-id': lastEventId }) },
        body: JSON.stringify({ ...body, stream: true }),
      });
    } catch {
      await new Promise((r) => setTimeout(r, 200)); // the gateway is restarting
      continue;
    }
    out.connections += 1;
    if (res.status === 503) {
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    if (!res.ok || !res.body) throw new Error(`the gateway answered ${res.status}: ${await res.text()}`);
    try {
      await readUntilDone(res.body, out, (id) => (lastEventId = id), o.onChunk);
      return out;
    } catch (err) {
      if (err instanceof RequestFailed) throw err;
      // The connection dropped or ended mid-stream: reconnect with the last event id.
    }
  }
}

/** Reads SSE events into `out` until `[DONE]`; throws ConnectionEnded when the connection ends first. */
async function readUntilDone(body: ReadableStream<Uint8Array>, out: ResumedStream, seen: (id: string) => void, onChunk?: (s: ResumedStream) => void): Promise<void> {
  for await (const { id, data } of sseEvents(body)) {
    if (data === '[DONE]') return;
    const chunk = JSON.parse(data) as { id?: string; error?: { code: string; message: string; retryable?: boolean }; choices?: { delta?: { content?: string }; finish_reason?: string | null }[] };
    if (chunk.error) {
      // An error of the request carries its event id and ends it; one of this connection's does not.
      if (id === undefined && chunk.error.retryable) throw new ConnectionEnded();
      throw new RequestFailed(`error event: ${chunk.error.code}: ${chunk.error.message}`);
    }
    if (chunk.id) out.id = chunk.id;
    const choice = chunk.choices?.[0];
    if (choice?.delta?.content) {
      out.text += choice.delta.content;
      out.textAt.push(performance.now());
    }
    if (choice?.finish_reason) out.finishReason = choice.finish_reason;
    if (id !== undefined) seen(id);
    onChunk?.(out);
  }
  throw new ConnectionEnded();
}

/** The connection ended before `[DONE]`, but the request goes on: reconnect with Last-Event-ID. */
class ConnectionEnded extends Error {}

/** The request itself failed (an error event with its id): no reconnection brings it back. */
class RequestFailed extends Error {}
