// Server-sent events as a client reads them: each block's `id:` (if any) and `data:` line, in order
// of arrival (the gateway writes one data line per event).

/** One server-sent event: its `id:` (if any) and its `data:`. */
export interface SseEvent {
  id?: string;
  data: string;
}

/** The events of an SSE body as they arrive (blocks without data are skipped). */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const bytes of body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const id = /^id: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (data !== undefined) yield { ...(id !== undefined && { id }), data };
    }
  }
}
