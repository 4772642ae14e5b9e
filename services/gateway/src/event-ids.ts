// SSE event ids of a streamed completion: `<request id>/<position in its Redis event stream>`. A client
// that lost the connection sends the last one back as Last-Event-ID and continues right after it.
import type { ApiClient } from './auth/api-keys.ts';

/** The position before a stream's first event. */
export const STREAM_START = '0';

export function eventId(requestId: string, position: string): string {
  return `${requestId}/${position}`;
}

/** The request and position a Last-Event-ID names; undefined when it is not one of ours. */
export function parseEventId(text: string): { requestId: string; after: string } | undefined {
  const m = /^(chatcmpl-[A-Za-z0-9_-]+)\/(0|\d+-\d+)$/.exec(text.trim());
  return m ? { requestId: m[1] as string, after: m[2] as string } : undefined;
}

/** Whether `client` may follow completion `requestId`: with API keys, its ids carry its tag. */
export function ownsCompletion(requestId: string, client: ApiClient | undefined): boolean {
  return client ? requestId.startsWith(`chatcmpl-${client.tag}-`) : true;
}
