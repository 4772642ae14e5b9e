/**
 * How long a request's Redis records (its hash, text, token ids, events, cancellation mark and
 * finished job) live after their last write, in seconds: long enough for any reply to be read, short
 * enough that Redis does not fill up with old ones.
 */
export const DEFAULT_REQUEST_TTL_SECONDS = 3600;
