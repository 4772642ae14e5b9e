// Request ids. The gateway's own are `chatcmpl-` + 24 random base64url characters (144 bits).
// Ids that stream-API callers choose live in a namespace of their own, so a caller can neither
// collide with nor read the gateway's ids, and are escaped so that BullMQ (which refuses job ids
// that are integers or contain ":") takes every id the API allows.
import { randomBytes } from 'node:crypto';
import type { ApiClient } from './auth/api-keys.ts';

/** A new request id; with API keys on, it carries the key's tag (see ownsCompletion). */
export function newRequestId(client?: ApiClient): string {
  return `chatcmpl-${client ? `${client.tag}-` : ''}${randomBytes(18).toString('base64url')}`;
}

/**
 * The internal id (Redis keys, BullMQ job id) of a caller-chosen stream-API request_id. With API keys
 * on, each key's ids live in a namespace of their own (its tag), so one client can neither read nor
 * take another's request ids.
 */
export function callerRequestKey(requestId: string, client?: ApiClient): string {
  // "%" is not allowed in caller ids, so this escaping is one-to-one; tags hold no "-".
  return `caller-${client ? `${client.tag}-` : ''}${requestId.replaceAll(':', '%3A')}`;
}
