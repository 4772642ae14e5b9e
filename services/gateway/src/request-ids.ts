// Request ids. The gateway's own are `chatcmpl-` + 24 random base64url characters (144 bits).
// Ids that stream-API callers choose live in a namespace of their own, so a caller can neither
// collide with nor read the gateway's ids, and are escaped so that BullMQ (which refuses job ids
// that are integers or contain ":") takes every id the API allows.
import { randomBytes } from 'node:crypto';

export function newRequestId(): string {
  return `chatcmpl-${randomBytes(18).toString('base64url')}`;
}

/** The internal id (Redis keys, BullMQ job id) of a caller-chosen stream-API request_id. */
export function callerRequestKey(requestId: string): string {
  // "%" is not allowed in caller ids, so this escaping is one-to-one.
  return `caller-${requestId.replaceAll(':', '%3A')}`;
}
